package announce

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/election"
)

// plannerConfig has layer 2 pools announced on selected nodes and
// interfaces, with service selectors and preferences, and a BGP pool sent to
// two peers, one of them aggregated.
const plannerConfig = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [172.30.0.0/24, "fd00:30::/120"]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: edge, namespace: metallb-system}
spec: {addresses: [172.31.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan-b, namespace: metallb-system}
spec: {ipAddressPools: [lan], nodeSelectors: [{matchLabels: {rack: b}}], interfaces: [eth1], serviceSelectors: [{matchLabels: {exposed: "yes"}}]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: edge, namespace: metallb-system}
spec:
  ipAddressPools: [edge]
  nodeSelectors: [{matchLabels: {rack: a}}]
  preferredNodeSelectors: [{weight: 50, preference: {matchLabels: {fast: "yes"}}}]
---
` + bgpConfig

// TestPlannerEqualsCompute applies random sequences of events (Services
// added, changed and deleted, members leaving and joining, the quorum and
// the answered addresses changing) to a Planner and checks after each one
// that its plan is the plan of the resulting snapshot computed afresh, and
// that the plan it handed out at the step before is unchanged (the speaker
// diffs the two; see Plan).
func TestPlannerEqualsCompute(t *testing.T) {
	cfg := buildConfig(t, plannerConfig)
	for seed := range uint64(60) {
		r := rand.New(rand.NewPCG(seed, 21))
		nodes, members := randomCluster(r, 2+r.IntN(6))
		s := Snapshot{Config: cfg, Self: fmt.Sprintf("node-%d", r.IntN(len(nodes))), Nodes: nodes, Members: members}
		services := map[string]Service{}
		for range r.IntN(30) {
			svc := randomService(r, nodes)
			services[svc.Key] = svc
		}
		s.Services = sortedServices(services)
		elector := election.NewElector()
		p := NewPlanner(&s, elector)
		var before, wantBefore Plan
		for step := range 60 {
			event := applyRandomEvent(r, p, &s, services)
			s.Services = sortedServices(services)
			want := Compute(&s, election.NewElector())
			got := p.Plan()
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, step %d, after %s:\nincremental %+v\nfull        %+v", seed, step, event, got, want)
			}
			if !reflect.DeepEqual(before, wantBefore) {
				t.Fatalf("seed %d, step %d, after %s: the plan handed out before changed", seed, step, event)
			}
			before, wantBefore = got, want
		}
	}
}

// applyRandomEvent changes s and services at random, tells p, and says what
// it did.
func applyRandomEvent(r *rand.Rand, p *Planner, s *Snapshot, services map[string]Service) string {
	keys := slices.Sorted(maps.Keys(services))
	switch n := r.IntN(10); {
	case n < 4 || len(keys) == 0:
		svc := randomService(r, s.Nodes)
		if len(keys) > 0 && r.IntN(2) == 0 {
			svc.Key = keys[r.IntN(len(keys))]
		}
		services[svc.Key] = svc
		p.UpdateService(svc)
		return "service " + svc.Key + " updated"
	case n < 5:
		key := keys[r.IntN(len(keys))]
		delete(services, key)
		p.DeleteService(key)
		return "service " + key + " deleted"
	case n < 8:
		members := maps.Clone(s.Members)
		for range 1 + r.IntN(2) {
			name := fmt.Sprintf("node-%d", r.IntN(len(s.Nodes)))
			members[name] = !members[name]
			if !members[name] {
				delete(members, name)
			}
		}
		s.Members = members
		s.Quorum = election.Quorum{Seen: len(members), Running: r.IntN(len(s.Nodes) + 1)}
		p.SetMembers(members, s.Quorum)
		return fmt.Sprintf("members %v", slices.Sorted(maps.Keys(members)))
	default:
		s.Quorum = election.Quorum{Seen: len(s.Members), Running: r.IntN(2 * len(s.Nodes))}
		s.Answering, s.ClaimedElsewhere = map[netip.Addr]bool{}, map[string]bool{}
		for _, a := range p.Plan().L2 {
			s.Answering[a.IP] = r.IntN(2) == 0
			s.ClaimedElsewhere[a.Service] = r.IntN(3) == 0
		}
		p.SetQuorum(s.Quorum, s.Answering, s.ClaimedElsewhere)
		return fmt.Sprintf("quorum %+v", s.Quorum)
	}
}

// randomCluster returns nodes in racks a and b, some fast, some excluded,
// with eth0 on the lan, eth1 on the edge, or interfaces unknown; most are
// members.
func randomCluster(r *rand.Rand, n int) (map[string]Node, map[string]bool) {
	nodes, members := map[string]Node{}, map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("node-%d", i)
		node := Node{Name: name, Labels: labels.Set{"kubernetes.io/hostname": name, "rack": []string{"a", "b"}[r.IntN(2)]},
			Addresses: []netip.Addr{netip.AddrFrom4([4]byte{172, 30, 0, byte(10 + i)})}}
		if r.IntN(3) == 0 {
			node.Labels["fast"] = "yes"
		}
		if r.IntN(8) == 0 {
			node.Labels[ExcludeLabel] = ""
		}
		if r.IntN(4) > 0 {
			node.Interfaces = []Interface{{Name: "eth0", Prefixes: []netip.Prefix{netip.MustParsePrefix("172.30.0.0/24"), netip.MustParsePrefix("fd00:30::/64")}}}
			if r.IntN(2) == 0 {
				node.Interfaces = append(node.Interfaces, Interface{Name: "eth1", Prefixes: []netip.Prefix{netip.MustParsePrefix("172.31.0.0/24")}})
			}
		}
		nodes[name] = node
		members[name] = r.IntN(5) > 0
		if !members[name] {
			delete(members, name)
		}
	}
	return nodes, members
}

// randomService returns a Service of one of the pools, or of none, with
// endpoints on random nodes.
func randomService(r *rand.Rand, nodes map[string]Node) Service {
	svc := Service{Key: fmt.Sprintf("default/svc-%d", r.IntN(40)), LocalTrafficPolicy: r.IntN(2) == 0,
		AllowsSharedIP: r.IntN(6) == 0, Labels: labels.Set{}, EndpointNodes: map[string]bool{}}
	host := byte(r.IntN(8))
	switch r.IntN(5) {
	case 0:
		svc.IPs = []netip.Addr{netip.AddrFrom4([4]byte{172, 30, 0, host})}
	case 1:
		svc.IPs = []netip.Addr{netip.AddrFrom4([4]byte{172, 30, 0, host}), netip.AddrFrom16([16]byte{0: 0xfd, 3: 0x30, 15: host})}
	case 2:
		svc.IPs = []netip.Addr{netip.AddrFrom4([4]byte{172, 31, 0, host})}
	case 3:
		svc.IPs = []netip.Addr{netip.AddrFrom4([4]byte{172, 32, 0, host})}
	default:
		svc.IPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 99, 0, host})}
	}
	if r.IntN(2) == 0 {
		svc.Labels["exposed"] = "yes"
	}
	for name := range nodes {
		if r.IntN(3) == 0 {
			svc.EndpointNodes[name] = true
		}
	}
	svc.HasReadyEndpoint = len(svc.EndpointNodes) > 0 || r.IntN(4) == 0
	return svc
}

func sortedServices(services map[string]Service) []Service {
	out := slices.Collect(maps.Values(services))
	slices.SortFunc(out, func(a, b Service) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// TestNodeEqualCoversEveryField changes each field of Node in turn, and of
// Interface inside it: Equal must see every change, so a field added to
// Node for the plan cannot be missed by the speaker's Node filter.
func TestNodeEqualCoversEveryField(t *testing.T) {
	base := Node{Interfaces: []Interface{{}}}
	check := func(what string, changed Node) {
		if base.Equal(changed) || changed.Equal(base) {
			t.Errorf("Node.Equal misses a change of %s", what)
		}
	}
	typ := reflect.TypeFor[Node]()
	for i := range typ.NumField() {
		changed := base
		changed.Interfaces = slices.Clone(base.Interfaces)
		setNonZero(reflect.ValueOf(&changed).Elem().Field(i))
		check(typ.Field(i).Name, changed)
	}
	ifaceType := reflect.TypeFor[Interface]()
	for i := range ifaceType.NumField() {
		changed := base
		changed.Interfaces = []Interface{{}}
		setNonZero(reflect.ValueOf(&changed.Interfaces[0]).Elem().Field(i))
		check("Interfaces."+ifaceType.Field(i).Name, changed)
	}
	check("Interfaces from none to unknown", Node{Interfaces: nil})
	if !base.Equal(Node{Interfaces: []Interface{{}}}) {
		t.Error("equal Nodes are not Equal")
	}
}

// setNonZero gives v a value unlike the one it has: a string, a map with
// one entry, a slice with one more element.
func setNonZero(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		m.SetMapIndex(reflect.Zero(v.Type().Key()), reflect.Zero(v.Type().Elem()))
		v.Set(m)
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	default:
		panic("setNonZero: add a case for " + v.Kind().String())
	}
}
