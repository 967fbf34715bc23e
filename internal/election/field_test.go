package election

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

// TestFieldFollowsElect checks Field against Elector.Elect, the rule, on
// random clusters: members and not, excluded, selected or not, with and
// without known subnets, preferences equal or not, services of either
// traffic policy with one or two IPs and endpoints here and there. Owners
// must name the same owners, Elect the same results with rejections.
func TestFieldFollowsElect(t *testing.T) {
	subnets := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("10.1.1.0/24"),
		netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/64")}
	ips := []netip.Addr{netip.MustParseAddr("10.1.0.7"), netip.MustParseAddr("10.1.1.9"), netip.MustParseAddr("10.1.2.3"),
		netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("fd00::5"), netip.MustParseAddr("fd01::5")}
	for seed := range uint64(400) {
		r := rand.New(rand.NewPCG(seed, 13))
		nodes := make([]Node, 1+r.IntN(12))
		for j := range nodes {
			n := Node{Name: fmt.Sprintf("node-%d", j), Member: r.IntN(5) > 0, ExcludedByLabel: r.IntN(8) == 0,
				Selected: r.IntN(6) > 0, SubnetsKnown: r.IntN(4) > 0}
			if seed%3 == 0 {
				n.Preference = r.IntN(3) * 10
			}
			if n.SubnetsKnown {
				for _, p := range subnets {
					if r.IntN(3) == 0 {
						n.Subnets = append(n.Subnets, p)
					}
				}
			}
			nodes[j] = n
		}
		e := NewElector()
		field := e.NewField(nodes)
		for range 20 {
			svc := Service{IPs: []netip.Addr{ips[r.IntN(len(ips))]}, LocalTrafficPolicy: r.IntN(2) == 0,
				SharedIPWithServiceSelectors: r.IntN(20) == 0}
			if r.IntN(3) == 0 {
				svc.IPs = append(svc.IPs, ips[r.IntN(len(ips))])
			}
			ep := Endpoints{Nodes: map[string]bool{}, Any: r.IntN(6) > 0}
			withEndpoints := make([]Node, len(nodes))
			for j, n := range nodes {
				if r.IntN(3) == 0 {
					ep.Nodes[n.Name] = true
				}
				n.Endpoint = ep.has(svc, n.Name)
				withEndpoints[j] = n
			}
			want := NewElector().Elect(svc, withEndpoints)
			if got := field.Elect(svc, ep); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, %+v: Field.Elect\n%+v\nwant\n%+v", seed, svc, got, want)
			}
			owners, _ := field.Owners(svc, ep)
			for i := range want {
				if owners[i].IP != want[i].IP || owners[i].Owner != want[i].Owner || owners[i].AnyInterface != want[i].AnyInterface || owners[i].Rejected != nil {
					t.Fatalf("seed %d, %+v: Owners %+v, want %+v", seed, svc, owners[i], want[i])
				}
			}
		}
	}
}

// TestFieldShortcut checks when Owners takes the shortcut: with equal
// preferences, and not with unequal ones.
func TestFieldShortcut(t *testing.T) {
	nodes := []Node{eligibleNode("a"), eligibleNode("b")}
	svc := Service{IPs: []netip.Addr{v4}}
	if _, first := NewElector().NewField(nodes).Owners(svc, Endpoints{Any: true}); first == "" {
		t.Error("equal preferences: the full election ran")
	}
	nodes[1].Preference = 50
	if _, first := NewElector().NewField(nodes).Owners(svc, Endpoints{Any: true}); first != "" {
		t.Errorf("unequal preferences: first %q, want the full election", first)
	}
}
