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

// eligibleNode returns a node that passes every filter for ips.
func eligibleNode(name string, ips ...netip.Addr) Node {
	return Node{Name: name, Member: true, LocalEndpoint: true, Selected: ips, Reaches: ips}
}

func TestElectFilters(t *testing.T) {
	tests := []struct {
		name   string
		local  bool
		node   func(Node) Node
		reason Reason
	}{
		{"eligible", false, func(n Node) Node { return n }, Eligible},
		{"not a member", false, func(n Node) Node { n.Member = false; return n }, NotMember},
		{"excluded by label", false, func(n Node) Node { n.ExcludedByLabel = true; return n }, ExcludedByLabel},
		{"not selected", false, func(n Node) Node { n.Selected = nil; return n }, NotSelected},
		{"selected for another IP", false, func(n Node) Node { n.Selected = []netip.Addr{v6}; return n }, NotSelected},
		{"no interface", false, func(n Node) Node { n.Reaches = nil; return n }, NoInterface},
		{"no local endpoint, cluster policy", false, func(n Node) Node { n.LocalEndpoint = false; return n }, Eligible},
		{"no local endpoint, local policy", true, func(n Node) Node { n.LocalEndpoint = false; return n }, NoLocalEndpoints},
		{"local endpoint, local policy", true, func(n Node) Node { return n }, Eligible},
		{"first reason wins", true, func(n Node) Node { n.Member = false; n.Reaches = nil; n.LocalEndpoint = false; return n }, NotMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := Service{IPs: []netip.Addr{v4}, LocalTrafficPolicy: tt.local}
			nodes := []Node{tt.node(eligibleNode("a", v4))}
			got := NewElector().Elect(svc, nodes)
			if len(got) != 1 {
				t.Fatalf("got %d results, want 1", len(got))
			}
			if tt.reason == Eligible {
				if got[0].Owner != "a" || len(got[0].Rejected) != 0 {
					t.Fatalf("got owner %q rejected %v, want owner a and no rejection", got[0].Owner, got[0].Rejected)
				}
				return
			}
			want := []Rejection{{Node: "a", Reason: tt.reason}}
			if got[0].Owner != "" || !slices.Equal(got[0].Rejected, want) {
				t.Fatalf("got owner %q rejected %v, want no owner and %v", got[0].Owner, got[0].Rejected, want)
			}
		})
	}
}

func TestElectSkipsIneligibleToNextRanked(t *testing.T) {
	e := NewElector()
	svc := Service{IPs: []netip.Addr{v4}}
	nodes := []Node{eligibleNode("a", v4), eligibleNode("b", v4), eligibleNode("c", v4)}
	first := e.Elect(svc, nodes)[0].Owner
	for i := range nodes {
		if nodes[i].Name == first {
			nodes[i].Reaches = nil
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
	if got := e.Elect(Service{}, []Node{eligibleNode("a", v4)}); got != nil {
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
		nodes[i] = Node{Name: fmt.Sprintf("node-%d", i), Member: true}
	}
	for i := 0; i < 500; i++ {
		ip4 := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		ip6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8)})
		for j := range nodes {
			nodes[j].Selected = []netip.Addr{ip4, ip6}
			nodes[j].Reaches = []netip.Addr{ip4, ip6}
		}
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
	nodes := []Node{eligibleNode("a", v4, v6), eligibleNode("b", v4, v6), eligibleNode("c", v4, v6)}
	e := NewElector()
	owner := e.Elect(Service{IPs: []netip.Addr{v4, v6}}, nodes)[0].Owner
	// The owner loses its IPv6 interface: IPv4 stays, IPv6 moves.
	for i := range nodes {
		if nodes[i].Name == owner {
			nodes[i].Reaches = []netip.Addr{v4}
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
		nodes[i] = Node{Name: fmt.Sprintf("node-%d", i), Member: true}
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
		nodes[i] = Node{Name: fmt.Sprintf("worker-%x", r.Uint64()), Member: true}
	}
	return nodes
}

// ownersOf elects every service, with every node selected for and reaching
// the service's IPs, and returns the owner of each service's first IP.
func ownersOf(e *Elector, svcs []Service, nodes []Node) []string {
	owners := make([]string, len(svcs))
	for i, s := range svcs {
		for j := range nodes {
			nodes[j].Selected, nodes[j].Reaches = s.IPs, s.IPs
		}
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
