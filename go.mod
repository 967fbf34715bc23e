module github.com/ironlb/ironlb

go 1.26
