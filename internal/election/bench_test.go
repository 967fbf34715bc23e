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
//     change owner (0 means a membership change moves only what it must);
//   - label-moved-others-fraction: the same when the node is instead
//     labelled exclude-from-external-load-balancers, a configuration change
//     that rebuilds the balancing table.
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
				nodes[i] = eligibleNode(fmt.Sprintf("node-%d", i))
			}
			e := NewElector()
			var before []string
			for b.Loop() {
				before = ownersOf(e, svcs, nodes)
			}
			ratio, _ := balance(before, nodes)

			nodes[3].Member = false
			moved, movedOthers := movement(before, ownersOf(e, svcs, nodes), nodes[3].Name)
			nodes[3].Member, nodes[3].ExcludedByLabel = true, true
			_, labelMovedOthers := movement(before, ownersOf(e, svcs, nodes), nodes[3].Name)
			total := float64(len(svcs))
			b.ReportMetric(ratio, "max-min-ratio")
			b.ReportMetric(float64(moved)/total, "moved-fraction")
			b.ReportMetric(float64(movedOthers)/total, "moved-others-fraction")
			b.ReportMetric(float64(labelMovedOthers)/total, "label-moved-others-fraction")
		})
	}
}

// movement counts the IPs whose owner changed, and among them those that
// were not owned by the node that went away.
func movement(before, after []string, gone string) (moved, movedOthers int) {
	for i := range before {
		if before[i] != after[i] {
			moved++
			if before[i] != gone {
				movedOthers++
			}
		}
	}
	return moved, movedOthers
}
