package election

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestElectSpreadsFewContiguousServices: a handful of services with
// contiguous IPs spread over three nodes at least as well as at random, on
// every cluster. Six IPs miss one of three nodes with probability 0.26 at
// random; before the slots were visited in a shuffled order, the lab's
// node1…node3 missed one in 48 % of the runs of six IPs in 172.30.0.0/24, and
// the worst of these clusters in 97 %.
func TestElectSpreadsFewContiguousServices(t *testing.T) {
	const run, clusters = 6, 100
	r := rand.New(rand.NewPCG(5, 6))
	worst, total := 0.0, 0.0
	for c := range clusters {
		names := []string{"node1", "node2", "node3"}
		prefix := [3]byte{172, 30, 0}
		if c > 0 {
			for i := range names {
				names[i] = fmt.Sprintf("worker-%x", r.Uint64())
			}
			prefix = [3]byte{10, byte(r.IntN(256)), byte(r.IntN(256))}
		}
		missed := runsMissingANode(names, prefix, run)
		worst, total = max(worst, missed), total+missed
	}
	if mean := total / clusters; mean > 0.30 || worst > 0.5 {
		t.Errorf("runs of %d contiguous IPs missing one of 3 nodes: mean %.2f, worst cluster %.2f; want ≤ 0.30 and ≤ 0.5 (random: 0.26)", run, mean, worst)
	}
}

// runsMissingANode elects the 256 IPs of a /24 over nodes and returns the
// share of runs of run consecutive IPs in which some node owns none.
func runsMissingANode(names []string, prefix [3]byte, run int) float64 {
	e := NewElector()
	owners := make([]string, 256)
	for i := range owners {
		ip := netip.AddrFrom4([4]byte{prefix[0], prefix[1], prefix[2], byte(i)})
		nodes := make([]Node, len(names))
		for j, name := range names {
			nodes[j] = eligibleNode(name)
		}
		owners[i] = e.Elect(Service{IPs: []netip.Addr{ip}}, nodes)[0].Owner
	}
	missing := 0
	for start := 0; start+run <= len(owners); start++ {
		seen := map[string]bool{}
		for _, o := range owners[start : start+run] {
			seen[o] = true
		}
		if len(seen) < len(names) {
			missing++
		}
	}
	return float64(missing) / float64(len(owners)-run+1)
}

func TestPermutation(t *testing.T) {
	for _, size := range tableSizes {
		order := slotOrder(size)
		seen := make([]bool, size)
		for _, slot := range order {
			if seen[slot] {
				t.Fatalf("size %d: slot %d visited twice", size, slot)
			}
			seen[slot] = true
		}
		if uint64(len(order)) != size {
			t.Fatalf("size %d: %d slots", size, len(order))
		}
	}
	// Fixed forever: speakers of different versions must rank alike.
	if got := slotOrder(1031)[:4]; fmt.Sprint(got) != fmt.Sprint(permutation(1031)[:4]) {
		t.Fatalf("permutation is not deterministic")
	}
}
