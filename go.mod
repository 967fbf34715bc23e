module github.com/ironlb/ironlb

go 1.26

require (
	github.com/google/btree v1.1.3
	go4.org/netipx v0.0.0-20231129151722-fdeea329fbba
)
