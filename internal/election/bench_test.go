package election

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkElectBalance elects 1,000 single-IP services over 10 speakers and
// reports:
//   - max-min-ratio: IPs owned by the busiest node / by the idlest node;
//   - moved-fraction: share of all IPs that change owner when one node leaves;
//   - moved-others-fraction: share of IPs not owned by the leaving node that
//     change owner (0 means a membership change moves only what it must).
//
// The time per op is one election of all 1,000 services.
func BenchmarkElectBalance(b *testing.B) {
	cases := []struct {
		name string
		svcs func() []Service
	}{
		{"contiguous", func() []Service { return contiguousServices(1000) }},
		{"scattered", func() []Service { return scatteredServices(rand.New(rand.NewPCG(7, 8)), 1000) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			svcs := c.svcs()
			nodes := make([]Node, 10)
			for i := range nodes {
				nodes[i] = Node{Name: fmt.Sprintf("node-%d", i), Member: true}
			}
			e := NewElector()
			var before []string
			for b.Loop() {
				before = ownersOf(e, svcs, nodes)
			}
			ratio, _ := balance(before, nodes)

			leaving := nodes[3].Name
			nodes[3].Member = false
			after := ownersOf(e, svcs, nodes)
			moved, movedOthers := 0, 0
			for i := range before {
				if before[i] != after[i] {
					moved++
					if before[i] != leaving {
						movedOthers++
					}
				}
			}
			b.ReportMetric(ratio, "max-min-ratio")
			b.ReportMetric(float64(moved)/float64(len(svcs)), "moved-fraction")
			b.ReportMetric(float64(movedOthers)/float64(len(svcs)), "moved-others-fraction")
		})
	}
}
