package announce

import (
	"fmt"
	"maps"
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/election"
)

// scaleConfigs are the configurations of the scale fixture: every Service
// announced in layer 2 from every node, or advertised over BGP to an IPv4
// and an IPv6 peer.
var scaleConfigs = map[string]string{
	"layer2": `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [10.200.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan]}
`,
	"bgp": benchConfig,
}

// scaleFixture is a cluster of nodes, all members with an interface on
// the layer 2 subnet, and services with one address each, in order from
// the first address of the mode's pool; every tenth Service has
// externalTrafficPolicy: Local. Each Service has endpoints on three nodes.
func scaleFixture(tb testing.TB, mode string, nodes, services int) *Snapshot {
	s := &Snapshot{Config: buildConfig(tb, scaleConfigs[mode]), Self: nodeName(0), Nodes: make(map[string]Node, nodes),
		Members: make(map[string]bool, nodes)}
	for i := range nodes {
		name := nodeName(i)
		s.Nodes[name] = Node{Name: name, Labels: labels.Set{"kubernetes.io/hostname": name},
			Addresses:  []netip.Addr{netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}), netip.MustParseAddr(fmt.Sprintf("fd00:100::%x", i+1))},
			Interfaces: []Interface{{Name: "eth0", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.200.0.0/16")}}}}
		s.Members[name] = true
	}
	ip := netip.MustParseAddr("10.200.0.0")
	if mode == "bgp" {
		ip = netip.MustParseAddr("198.18.0.0")
	}
	for i := range services {
		s.Services = append(s.Services, scaleService(i, ip, nodes, 0))
		ip = ip.Next()
	}
	return s
}

func nodeName(i int) string { return fmt.Sprintf("node-%04d", i) }

// scaleService is the fixture's Service i at ip, its endpoints on three
// nodes counted from shift.
func scaleService(i int, ip netip.Addr, nodes, shift int) Service {
	svc := Service{Key: scaleKey(i), IPs: []netip.Addr{ip}, LocalTrafficPolicy: i%10 == 0,
		EndpointNodes: map[string]bool{}, HasReadyEndpoint: true}
	for k := range 3 {
		svc.EndpointNodes[nodeName((i*7+k+shift)%nodes)] = true
	}
	return svc
}

// owners returns the layer 2 owner of every address the Planner elected.
func (p *Planner) owners() map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, sp := range p.services {
		for _, r := range sp.results {
			out[r.IP] = r.Owner
		}
	}
	return out
}

// TestPlannerServiceChangePlansOnlyIt checks that a Service's change plans
// that Service alone, and a membership change no Service.
func TestPlannerServiceChangePlansOnlyIt(t *testing.T) {
	for _, mode := range []string{"layer2", "bgp"} {
		s := scaleFixture(t, mode, 10, 200)
		p := NewPlanner(s, election.NewElector())
		if got := p.Counters(); got != (PlanCounters{FullPlans: 1, ServicesPlanned: 200}) {
			t.Fatalf("%s: a new Planner counted %+v, want one full plan of 200 Services", mode, got)
		}
		changed := scaleService(17, s.Services[17].IPs[0], 10, 1)
		p.UpdateService(changed)
		p.DeleteService(s.Services[18].Key)
		if got := p.Counters(); got != (PlanCounters{FullPlans: 1, ServicesPlanned: 201}) {
			t.Errorf("%s: after one Service changed and one was deleted, %+v: want one more Service planned", mode, got)
		}
	}
}

// TestPlannerMemberLeave checks that when a node leaves, the addresses that
// move are exactly the ones it owned, and that the Services elected again
// are those it owned and those this node owns; and that when it comes back
// it gets exactly its addresses back.
func TestPlannerMemberLeave(t *testing.T) {
	for _, nodes := range []int{3, 10, 100} {
		s := scaleFixture(t, "layer2", nodes, 2000)
		p := NewPlanner(s, election.NewElector())
		before := p.owners()
		leaving := nodeName(nodes - 1)
		want := len(p.byOwner[leaving]) + len(p.byOwner[s.Self])
		members := memberMap(s.Members, leaving)
		p.SetMembers(members, election.Quorum{})
		if got := p.Counters().ServicesElected; got != want {
			t.Errorf("%d nodes: %d Services elected again, want %d (the leaving node's and this node's)", nodes, got, want)
		}
		checkMoved(t, before, p.owners(), leaving)

		// It comes back: it takes back exactly what it had, and only the
		// Services owned by another node than the one ranked first, and
		// this node's, are elected again.
		affected := maps.Clone(p.unsettled)
		maps.Copy(affected, p.byOwner[s.Self])
		elected := p.Counters().ServicesElected
		p.SetMembers(s.Members, election.Quorum{})
		if got := p.Counters().ServicesElected - elected; got != len(affected) {
			t.Errorf("%d nodes: %d Services elected again on a join, want %d", nodes, got, len(affected))
		}
		if after := p.owners(); !maps.Equal(after, before) {
			t.Errorf("%d nodes: after the node came back the owners differ from before it left", nodes)
		}
	}
}

// memberMap returns members without gone.
func memberMap(members map[string]bool, gone string) map[string]bool {
	out := make(map[string]bool, len(members))
	for name := range members {
		if name != gone {
			out[name] = true
		}
	}
	return out
}

// checkMoved fails unless the addresses whose owner changed are exactly
// those gone owned.
func checkMoved(tb testing.TB, before, after map[netip.Addr]string, gone string) {
	tb.Helper()
	moved, owned := 0, 0
	for ip, owner := range before {
		if owner == gone {
			owned++
		}
		if after[ip] != owner {
			moved++
			if owner != gone {
				tb.Fatalf("%s moved from %s to %s: only %s's addresses may move", ip, owner, after[ip], gone)
			}
		}
	}
	if moved != owned || owned == 0 {
		tb.Fatalf("%d addresses moved; %s owned %d", moved, gone, owned)
	}
}

// scaleSizes are the cluster sizes of the benchmarks.
var scaleSizes = []struct{ nodes, services int }{{10, 10000}, {100, 10000}, {1000, 10000}}

// changedService returns the index of the fixture's Service that
// BenchmarkPlanEvent changes: in layer 2, the first one this node owns, whose
// change builds the node's layer 2 lists again (the costlier case).
func changedService(p *Planner, mode string) int {
	if mode == "layer2" {
		for i := range len(p.services) {
			if p.services[scaleKey(i)].results[0].Owner == p.snap.Self {
				return i
			}
		}
	}
	return 1234
}

func scaleKey(i int) string { return fmt.Sprintf("default/svc-%05d", i) }

// BenchmarkPlanFull is one plan of every Service, as at a speaker's start
// or after a Node or configuration change.
func BenchmarkPlanFull(b *testing.B) {
	for _, size := range scaleSizes {
		for _, mode := range []string{"layer2", "bgp"} {
			b.Run(fmt.Sprintf("nodes=%d/services=%d/%s", size.nodes, size.services, mode), func(b *testing.B) {
				s := scaleFixture(b, mode, size.nodes, size.services)
				want := 0
				for i := range s.Services {
					if mode == "bgp" && s.Services[i].HasUsableEndpoint(s.Self) {
						want++
					}
				}
				elector := election.NewElector()
				b.ReportAllocs()
				for b.Loop() {
					if plan := NewPlanner(s, elector).Plan(); len(plan.BGP.Services) != want {
						b.Fatalf("%d services advertised, want %d", len(plan.BGP.Services), want)
					}
				}
			})
		}
	}
}

// BenchmarkPlanEvent is what one event costs a speaker's Planner, its new
// plan included: a Service's endpoints moving, back and forth between two
// sets of three nodes (service-change), a member
// leaving (member-leave; the addresses that move are checked to be exactly
// its own). A Node's heartbeat is benchmarked in package speaker, where it
// is filtered out before any plan.
func BenchmarkPlanEvent(b *testing.B) {
	for _, size := range scaleSizes {
		for _, mode := range []string{"layer2", "bgp"} {
			b.Run(fmt.Sprintf("service-change/nodes=%d/services=%d/%s", size.nodes, size.services, mode), func(b *testing.B) {
				s := scaleFixture(b, mode, size.nodes, size.services)
				p := NewPlanner(s, election.NewElector())
				i := changedService(p, mode)
				versions := []Service{s.Services[i], scaleService(i, s.Services[i].IPs[0], size.nodes, 1)}
				// The first change after the first plan sets up the second
				// set of BGP maps (see Planner.Plan): once per Planner.
				p.Plan()
				p.UpdateService(versions[1])
				p.Plan()
				i = 1
				b.ReportAllocs()
				for b.Loop() {
					i++
					p.UpdateService(versions[i%2])
					p.Plan()
				}
				if got := p.Counters(); got.FullPlans != 1 || got.ServicesElected != 0 {
					b.Fatalf("counters %+v: a Service change planned more than the Service", got)
				}
			})
		}
		b.Run(fmt.Sprintf("member-leave/nodes=%d/services=%d/layer2", size.nodes, size.services), func(b *testing.B) {
			s := scaleFixture(b, "layer2", size.nodes, size.services)
			p := NewPlanner(s, election.NewElector())
			leaving := nodeName(size.nodes / 2)
			all, without := s.Members, memberMap(s.Members, leaving)
			before := p.owners()
			p.SetMembers(without, election.Quorum{})
			checkMoved(b, before, p.owners(), leaving)
			p.SetMembers(all, election.Quorum{})
			b.ReportAllocs()
			for b.Loop() {
				p.SetMembers(without, election.Quorum{})
				p.Plan()
				b.StopTimer()
				p.SetMembers(all, election.Quorum{})
				b.StartTimer()
			}
		})
	}
}
