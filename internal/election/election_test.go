package election

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

var (
	v4 = netip.MustParseAddr("192.0.2.10")
	v6 = netip.MustParseAddr("2001:db8::10")
)

// eligibleNode returns a node that passes every filter; its interfaces
// are unknown, so it reaches every IP.
func eligibleNode(name string) Node {
	return Node{Name: name, Member: true, Selected: true, Endpoint: true}
}

// on gives n known interfaces with the subnets.
func on(n Node, subnets ...string) Node {
	n.SubnetsKnown = true
	n.Subnets = nil
	for _, s := range subnets {
		n.Subnets = append(n.Subnets, netip.MustParsePrefix(s))
	}
	return n
}

func TestElectFilters(t *testing.T) {
	tests := []struct {
		name   string
		svc    Service
		node   func(Node) Node
		reason Reason
	}{
		{"eligible", Service{}, func(n Node) Node { return n }, Eligible},
		{"not a member", Service{}, func(n Node) Node { n.Member = false; return n }, NotMember},
		{"excluded by label", Service{}, func(n Node) Node { n.ExcludedByLabel = true; return n }, ExcludedByLabel},
		{"not selected", Service{}, func(n Node) Node { n.Selected = false; return n }, NotSelected},
		{"no interface in the IP's subnet", Service{}, func(n Node) Node { return on(n, "198.51.100.0/24") }, NoInterface},
		{"interface in the IP's subnet", Service{}, func(n Node) Node { return on(n, "192.0.2.0/24") }, Eligible},
		{"no usable endpoint, cluster policy", Service{}, func(n Node) Node { n.Endpoint = false; return n }, NoEndpoints},
		{"no local endpoint, local policy", Service{LocalTrafficPolicy: true}, func(n Node) Node { n.Endpoint = false; return n }, NoLocalEndpoints},
		{"local endpoint, local policy", Service{LocalTrafficPolicy: true}, func(n Node) Node { return n }, Eligible},
		{"shared IP with service selectors", Service{SharedIPWithServiceSelectors: true}, func(n Node) Node { return n }, SharedIPWithServiceSelectors},
		{"first reason wins", Service{LocalTrafficPolicy: true}, func(n Node) Node { n.Member = false; n.Endpoint = false; return on(n) }, NotMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc
			svc.IPs = []netip.Addr{v4}
			// "b" reaches v4 and is not a member: it keeps the interface
			// rule in force without competing.
			b := on(eligibleNode("b"), "192.0.2.0/24")
			b.Member = false
			got := NewElector().Elect(svc, []Node{tt.node(eligibleNode("a")), b})
			if len(got) != 1 {
				t.Fatalf("got %d results, want 1", len(got))
			}
			var reasonA Reason
			for _, r := range got[0].Rejected {
				if r.Node == "a" {
					reasonA = r.Reason
				}
			}
			if tt.reason == Eligible {
				if got[0].Owner != "a" || reasonA != Eligible {
					t.Fatalf("got owner %q rejected %v, want owner a", got[0].Owner, got[0].Rejected)
				}
				return
			}
			if got[0].Owner != "" || reasonA != tt.reason {
				t.Fatalf("got owner %q rejected %v, want no owner and a rejected for %v", got[0].Owner, got[0].Rejected, tt.reason)
			}
		})
	}
}

func TestElectSkipsIneligibleToNextRanked(t *testing.T) {
	e := NewElector()
	svc := Service{IPs: []netip.Addr{v4}}
	nodes := []Node{on(eligibleNode("a"), "192.0.2.0/24"), on(eligibleNode("b"), "192.0.2.0/24"), on(eligibleNode("c"), "192.0.2.0/24")}
	first := e.Elect(svc, nodes)[0].Owner
	for i := range nodes {
		if nodes[i].Name == first {
			nodes[i] = on(nodes[i], "198.51.100.0/24")
		}
	}
	got := e.Elect(svc, nodes)[0]
	if got.Owner == "" || got.Owner == first {
		t.Fatalf("owner %q after %q lost its interface, want another node", got.Owner, first)
	}
	if want := []Rejection{{Node: first, Reason: NoInterface}}; !slices.Equal(got.Rejected, want) {
		t.Fatalf("rejected %v, want %v", got.Rejected, want)
	}
}

func TestElectNoIPsNoNodes(t *testing.T) {
	e := NewElector()
	if got := e.Elect(Service{}, []Node{eligibleNode("a")}); got != nil {
		t.Fatalf("service without IPs: got %v, want nil", got)
	}
	got := e.Elect(Service{IPs: []netip.Addr{v4}}, nil)
	if len(got) != 1 || got[0].Owner != "" || got[0].IP != v4 {
		t.Fatalf("no nodes: got %+v, want one result without owner", got)
	}
}

func TestElectDualStackLandsOnOneNode(t *testing.T) {
	e := NewElector()
	nodes := make([]Node, 7)
	for i := range nodes {
		nodes[i] = Node{Name: fmt.Sprintf("node-%d", i), Member: true, Selected: true, Endpoint: true}
	}
	for i := 0; i < 500; i++ {
		ip4 := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		ip6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8)})
		// Either order of the IPs must give the same owner for both.
		for _, ips := range [][]netip.Addr{{ip4, ip6}, {ip6, ip4}} {
			res := e.Elect(Service{IPs: ips}, nodes)
			if res[0].Owner == "" || res[0].Owner != res[1].Owner {
				t.Fatalf("service %v: owners %q and %q, want one node", ips, res[0].Owner, res[1].Owner)
			}
		}
	}
}

func TestElectDualStackSplitsOnlyWhenForced(t *testing.T) {
	both := []string{"192.0.2.0/24", "2001:db8::/64"}
	nodes := []Node{on(eligibleNode("a"), both...), on(eligibleNode("b"), both...), on(eligibleNode("c"), both...)}
	e := NewElector()
	owner := e.Elect(Service{IPs: []netip.Addr{v4, v6}}, nodes)[0].Owner
	// The owner loses its IPv6 interface: IPv4 stays, IPv6 moves.
	for i := range nodes {
		if nodes[i].Name == owner {
			nodes[i] = on(nodes[i], "192.0.2.0/24")
		}
	}
	res := e.Elect(Service{IPs: []netip.Addr{v4, v6}}, nodes)
	if res[0].Owner != owner {
		t.Fatalf("IPv4 owner %q, want it to stay on %q", res[0].Owner, owner)
	}
	if res[1].Owner == "" || res[1].Owner == owner {
		t.Fatalf("IPv6 owner %q, want a node other than %q", res[1].Owner, owner)
	}
}

func TestElectIgnoresNodeOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	nodes := randomNodes(r, 12)
	svcs := contiguousServices(200)
	e := NewElector()
	want := ownersOf(e, svcs, nodes)
	for trial := 0; trial < 5; trial++ {
		shuffled := slices.Clone(nodes)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := ownersOf(NewElector(), svcs, shuffled); !slices.Equal(got, want) {
			t.Fatalf("owners changed with node order")
		}
	}
}

// TestMembershipChangeMovesOnlyItsIPs is the property that keeps failover
// local: for random clusters and facts, a node leaving moves exactly the IPs
// it owned, a node joining takes IPs only for itself, and an endpoint change
// moves only the IPs of that service's old owner.
func TestMembershipChangeMovesOnlyItsIPs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 50; trial++ {
		nodes := randomNodes(r, 2+r.IntN(15))
		svcs := contiguousServices(300)
		if trial%2 == 1 {
			svcs = scatteredServices(r, 300)
		}
		e := NewElector()
		before := ownersOf(e, svcs, nodes)

		leaving := r.IntN(len(nodes))
		nodes[leaving].Member = false
		after := ownersOf(e, svcs, nodes)
		for i := range before {
			if before[i] != nodes[leaving].Name && after[i] != before[i] {
				t.Fatalf("trial %d: IP %d moved %q → %q when %q left", trial, i, before[i], after[i], nodes[leaving].Name)
			}
			if before[i] == nodes[leaving].Name && after[i] == before[i] {
				t.Fatalf("trial %d: IP %d stayed on %q after it left", trial, i, before[i])
			}
		}

		// Joining back restores exactly the previous assignment.
		nodes[leaving].Member = true
		if again := ownersOf(e, svcs, nodes); !slices.Equal(again, before) {
			t.Fatalf("trial %d: assignment differs after %q rejoined", trial, nodes[leaving].Name)
		}
	}
}

func TestElectBalancesContiguousPool(t *testing.T) {
	nodes := make([]Node, 10)
	for i := range nodes {
		nodes[i] = eligibleNode(fmt.Sprintf("node-%d", i))
	}
	svcs := contiguousServices(1000)
	ratio, _ := balance(ownersOf(NewElector(), svcs, nodes), nodes)
	if ratio > 1.3 {
		t.Fatalf("max/min owned per node = %.2f, want ≤ 1.3", ratio)
	}
}

func TestReasonString(t *testing.T) {
	if got := NoLocalEndpoints.String(); got != "NoLocalEndpoints" {
		t.Fatalf("got %q", got)
	}
	if got := Reason(42).String(); got != "Reason(42)" {
		t.Fatalf("got %q", got)
	}
}

// contiguousServices returns n single-IP services with consecutive IPv4s,
// as a pool hands them out.
func contiguousServices(n int) []Service {
	svcs := make([]Service, n)
	for i := range svcs {
		svcs[i] = Service{IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)})}}
	}
	return svcs
}

// scatteredServices returns n single-IP services with random IPv4s.
func scatteredServices(r *rand.Rand, n int) []Service {
	svcs := make([]Service, n)
	for i := range svcs {
		svcs[i] = Service{IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})}}
	}
	return svcs
}

// randomNodes returns member nodes with random names.
func randomNodes(r *rand.Rand, n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = eligibleNode(fmt.Sprintf("worker-%x", r.Uint64()))
	}
	return nodes
}

// ownersOf elects every service and returns the owner of each service's
// first IP.
func ownersOf(e *Elector, svcs []Service, nodes []Node) []string {
	owners := make([]string, len(svcs))
	for i, s := range svcs {
		owners[i] = e.Elect(s, nodes)[0].Owner
	}
	return owners
}

// balance returns max/min IPs owned per member node and the owned counts.
func balance(owners []string, nodes []Node) (float64, map[string]int) {
	counts := map[string]int{}
	for _, o := range owners {
		counts[o]++
	}
	lo, hi := len(owners), 0
	for _, n := range nodes {
		if !n.Member {
			continue
		}
		lo, hi = min(lo, counts[n.Name]), max(hi, counts[n.Name])
	}
	if lo == 0 {
		return float64(hi), counts
	}
	return float64(hi) / float64(lo), counts
}
