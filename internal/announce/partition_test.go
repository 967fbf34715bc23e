package announce

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/ironlb/ironlb/internal/election"
)

// planOf returns the addresses node announces, with members as its view
// of the cluster and answering as what it answers before the plan.
func planOf(s Snapshot, node string, members map[string]bool, answering map[netip.Addr]bool, elector *election.Elector) Plan {
	s.Self = node
	s.Members = members
	s.Answering = answering
	s.Quorum = election.Quorum{Seen: len(members), Running: len(s.Nodes)}
	return Compute(&s, elector)
}

func ips(anns []L2Announcement) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, a := range anns {
		out[a.IP] = true
	}
	return out
}

// TestPartitionMakesNoSecondAnswerer cuts each node in turn off from the
// other two (port 7946 blocked): it sees only itself and elects itself for
// every address, but without quorum it keeps only what it answered, so every
// other address keeps exactly one answerer; the two others, with quorum,
// take over what the cut-off node answered.
func TestPartitionMakesNoSecondAnswerer(t *testing.T) {
	s := Snapshot{Config: buildConfig(t, l2Config), Nodes: threeNodes()}
	for i := range 12 {
		s.Services = append(s.Services, Service{Key: fmt.Sprintf("default/svc%d", i),
			IPs: []netip.Addr{netip.AddrFrom4([4]byte{172, 30, 0, byte(200 + i)})}, HasReadyEndpoint: true})
	}
	elector := election.NewElector()
	before := map[string]map[netip.Addr]bool{}
	for name := range s.Nodes {
		before[name] = ips(planOf(s, name, allMembers(), nil, elector).L2)
	}
	for cut := range s.Nodes {
		t.Run(cut, func(t *testing.T) {
			if len(before[cut]) == 0 || len(before[cut]) == len(s.Services) {
				t.Fatalf("%s owns %d of %d addresses before the partition; the test needs a share", cut, len(before[cut]), len(s.Services))
			}
			alone := planOf(s, cut, map[string]bool{cut: true}, before[cut], elector)
			if got := ips(alone.L2); !maps.Equal(got, before[cut]) {
				t.Errorf("cut-off %s announces %v, want only what it answered: %v", cut, slices.SortedFunc(maps.Keys(got), netip.Addr.Compare), slices.SortedFunc(maps.Keys(before[cut]), netip.Addr.Compare))
			}
			if len(alone.L2WithoutQuorum) != len(s.Services)-len(before[cut]) {
				t.Errorf("cut-off %s holds back %d addresses, want the %d it did not answer", cut, len(alone.L2WithoutQuorum), len(s.Services)-len(before[cut]))
			}
			answerers := map[netip.Addr]int{}
			for ip := range ips(alone.L2) {
				answerers[ip]++
			}
			majority := allMembers()
			delete(majority, cut)
			for name := range majority {
				plan := planOf(s, name, majority, before[name], elector)
				if len(plan.L2WithoutQuorum) != 0 {
					t.Errorf("%s, with two of three, holds back %v", name, plan.L2WithoutQuorum)
				}
				for ip := range ips(plan.L2) {
					answerers[ip]++
				}
			}
			for _, svc := range s.Services {
				ip := svc.IPs[0]
				want := 1
				if before[cut][ip] {
					want = 2 // the cut-off owner keeps it, the majority takes it over: see docs/layer2.md
				}
				if answerers[ip] != want {
					t.Errorf("%s answered by %d nodes, want %d", ip, answerers[ip], want)
				}
			}
		})
	}
}

// TestCutOffOwnerYieldsToTheMajoritysClaim: after the majority took over a
// cut-off node's addresses and wrote their ServiceL2Status objects, the
// cut-off node (no quorum) gives those addresses up, so each has exactly one
// answerer again; addresses nobody else claims it keeps.
func TestCutOffOwnerYieldsToTheMajoritysClaim(t *testing.T) {
	s := Snapshot{Config: buildConfig(t, l2Config), Nodes: threeNodes()}
	for i := range 12 {
		s.Services = append(s.Services, Service{Key: fmt.Sprintf("default/svc%d", i),
			IPs: []netip.Addr{netip.AddrFrom4([4]byte{172, 30, 0, byte(200 + i)})}, HasReadyEndpoint: true})
	}
	elector := election.NewElector()
	for cut := range s.Nodes {
		t.Run(cut, func(t *testing.T) {
			owned := ips(planOf(s, cut, allMembers(), nil, elector).L2)
			majority := allMembers()
			delete(majority, cut)
			claimed := map[string]bool{}
			answerers := map[netip.Addr]int{}
			for name := range majority {
				for _, a := range planOf(s, name, majority, nil, elector).L2 {
					claimed[a.Service] = true
					answerers[a.IP]++
				}
			}
			// One Service of the cut-off node's the majority has not written
			// yet: it keeps answering that one.
			var unwritten string
			for _, svc := range s.Services {
				if owned[svc.IPs[0]] {
					unwritten = svc.Key
					delete(claimed, svc.Key)
					answerers[svc.IPs[0]]--
					break
				}
			}
			cutOff := s
			cutOff.ClaimedElsewhere = claimed
			alone := planOf(cutOff, cut, map[string]bool{cut: true}, owned, elector)
			for _, a := range alone.L2 {
				if a.Service != unwritten {
					t.Errorf("cut-off %s still answers %s (%s), which the majority claims", cut, a.IP, a.Service)
				}
				answerers[a.IP]++
			}
			for _, svc := range s.Services {
				if n := answerers[svc.IPs[0]]; n != 1 {
					t.Errorf("%s (%s) answered by %d nodes, want 1", svc.IPs[0], svc.Key, n)
				}
			}
		})
	}
}
