package ipam

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// The benchmarks measure one op as n services placed into an empty
// allocator, and report the cost per allocation as ns/alloc so that the
// figures for different n can be compared: it must stay flat as n grows.

func BenchmarkAllocate(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			benchmarkAllocations(b, []Pool{pool("big", "10.0.0.0/12")}, requests(n, IPv4, nil))
		})
	}
}

func BenchmarkAllocateIPv6(b *testing.B) {
	b.Run("n=100000", func(b *testing.B) {
		benchmarkAllocations(b, []Pool{pool("big", "fd00::/64")}, requests(100000, IPv6, nil))
	})
}

// BenchmarkAllocateShared places services four to a sharing key, each with
// its own port, so four services share every address.
func BenchmarkAllocateShared(b *testing.B) {
	b.Run("n=10000", func(b *testing.B) {
		reqs := requests(10000, IPv4, func(i int, r *Request) {
			r.SharingKey = fmt.Sprintf("key-%d", i/4)
			r.Ports = []Port{{Protocol: "TCP", Number: uint16(5432 + i%4)}}
		})
		benchmarkAllocations(b, []Pool{pool("big", "10.0.0.0/12")}, reqs)
	})
}

// BenchmarkRebuild rebuilds the state of n existing assignments, as the
// controller does on start.
func BenchmarkRebuild(b *testing.B) {
	b.Run("n=10000", func(b *testing.B) {
		const n = 10000
		pools := []Pool{pool("big", "10.0.0.0/12")}
		reqs := requests(n, IPv4, nil)
		claims := make([]Claim, n)
		ip := netip.MustParseAddr("10.0.0.0")
		for i := range claims {
			claims[i] = Claim{Request: reqs[i], IPs: []netip.Addr{ip}, Created: time.Unix(int64(i), 0)}
			ip = ip.Next().Next() // every other address: one run per claim
		}
		iterations := 0
		for b.Loop() {
			a, err := New(pools)
			if err != nil {
				b.Fatal(err)
			}
			for _, err := range a.RestoreAll(claims) {
				if err != nil {
					b.Fatal(err)
				}
			}
			iterations++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(iterations*n), "ns/alloc")
	})
}

// requests returns n single-stack requests, adjusted by customize.
func requests(n int, f Family, customize func(int, *Request)) []Request {
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Service: fmt.Sprintf("ns/svc-%d", i), Families: []Family{f}}
		if customize != nil {
			customize(i, &reqs[i])
		}
	}
	return reqs
}

func benchmarkAllocations(b *testing.B, pools []Pool, reqs []Request) {
	iterations := 0
	for b.Loop() {
		a, err := New(pools)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range reqs {
			if _, err := a.Assign(r); err != nil {
				b.Fatal(err)
			}
		}
		iterations++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(iterations*len(reqs)), "ns/alloc")
}
