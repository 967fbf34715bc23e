package election

import (
	"net/netip"
	"slices"
	"testing"
)

// TestElectFallsBackToAnyInterface: a pool outside every node's subnets is
// announced as MetalLB does (on any interface of a selected node), and the
// result says so; an IP some selected node reaches keeps the
// interface-aware rule.
func TestElectFallsBackToAnyInterface(t *testing.T) {
	nodes := []Node{on(eligibleNode("a"), "10.0.0.0/24"), on(eligibleNode("b"), "10.0.1.0/24")}
	outside := netip.MustParseAddr("203.0.113.7")
	res := NewElector().Elect(Service{IPs: []netip.Addr{outside}}, nodes)[0]
	if res.Owner == "" || !res.AnyInterface || len(res.Rejected) != 0 {
		t.Fatalf("IP outside every subnet: got %+v, want an owner, AnyInterface and no rejection", res)
	}

	inside := netip.MustParseAddr("10.0.1.9")
	res = NewElector().Elect(Service{IPs: []netip.Addr{inside}}, nodes)[0]
	want := []Rejection{{Node: "a", Reason: NoInterface}}
	if res.Owner != "b" || res.AnyInterface || !slices.Equal(res.Rejected, want) {
		t.Fatalf("IP in b's subnet: got %+v, want owner b, interface rule, a rejected NoInterface", res)
	}

	// A node whose interfaces are unknown (no speaker ever ran there) does
	// not keep the others from the fallback.
	ghost := eligibleNode("ghost")
	ghost.Member = false
	res = NewElector().Elect(Service{IPs: []netip.Addr{outside}}, append(slices.Clone(nodes), ghost))[0]
	if res.Owner == "" || !res.AnyInterface {
		t.Fatalf("IP outside every known subnet, with a speakerless node: got %+v, want an owner under the any-interface rule", res)
	}

	// Only a dead node reaches the IP: the interface rule stays (no owner)
	// rather than switching with liveness.
	nodes = append(nodes, on(eligibleNode("c"), "203.0.113.0/24"))
	nodes[2].Member = false
	res = NewElector().Elect(Service{IPs: []netip.Addr{outside}}, nodes)[0]
	if res.Owner != "" || res.AnyInterface {
		t.Fatalf("IP reached only by a dead node: got %+v, want no owner under the interface rule", res)
	}
}

// TestElectPreferenceRounds: only the eligible nodes of the highest
// preference may own the IPs; the others are reported NotPreferred, and a
// preferred node that is not eligible does not block the others.
func TestElectPreferenceRounds(t *testing.T) {
	a, b, c := eligibleNode("a"), eligibleNode("b"), eligibleNode("c")
	a.Preference, b.Preference = 10, 10
	svc := Service{IPs: []netip.Addr{v4, v6}}
	for _, res := range NewElector().Elect(svc, []Node{a, b, c}) {
		if res.Owner != "a" && res.Owner != "b" {
			t.Fatalf("%s: owner %q, want a preferred node", res.IP, res.Owner)
		}
		if want := []Rejection{{Node: "c", Reason: NotPreferred}}; !slices.Equal(res.Rejected, want) {
			t.Fatalf("%s: rejected %v, want %v", res.IP, res.Rejected, want)
		}
	}
	a.Member, b.Member = false, false
	res := NewElector().Elect(svc, []Node{a, b, c})[0]
	if res.Owner != "c" {
		t.Fatalf("preferred nodes dead: owner %q, want c", res.Owner)
	}
}

// TestElectDepartedNodeKeepsItsSubnets: with a departed node's last-known
// subnets kept, its death moves only the IPs it owned; read as "reaches
// everything" (unknown interfaces), it would also move IPs of a subnet it
// never had.
func TestElectDepartedNodeKeepsItsSubnets(t *testing.T) {
	nodes := []Node{
		on(eligibleNode("a"), "10.0.0.0/24"), on(eligibleNode("b"), "10.0.0.0/24"),
		on(eligibleNode("c"), "10.0.0.0/24"), on(eligibleNode("far"), "10.9.0.0/24"),
	}
	svcs := make([]Service, 100)
	for i := range svcs {
		svcs[i] = Service{IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})}}
	}
	e := NewElector()
	before := ownersOf(e, svcs, nodes)
	nodes[3].Member = false
	if after := ownersOf(e, svcs, nodes); !slices.Equal(after, before) {
		t.Fatalf("a node on another subnet left and IPs moved")
	}
	nodes[3].SubnetsKnown, nodes[3].Subnets = false, nil
	moved := 0
	for i, o := range ownersOf(e, svcs, nodes) {
		if o != before[i] {
			moved++
		}
	}
	if moved == 0 {
		t.Fatalf("unknown subnets moved nothing: the test no longer shows why last-known subnets matter")
	}
	t.Logf("with unknown subnets, %d of %d IPs move", moved, len(svcs))
}

func TestExplain(t *testing.T) {
	rejected := []Rejection{{"a", NotMember}, {"b", NoInterface}, {"c", NotMember}, {"d", NotMember}, {"e", NotMember}}
	if got, want := Explain(rejected, 3), "NotMember: a, c, d (+1 more); NoInterface: b"; got != want {
		t.Fatalf("Explain = %q, want %q", got, want)
	}
	if got := Explain(nil, 3); got != "" {
		t.Fatalf("Explain(nil) = %q, want empty", got)
	}
}
