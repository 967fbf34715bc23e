package announce

import (
	"net/netip"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/config/configtest"
	"github.com/ironlb/ironlb/internal/election"
)

func buildConfig(t testing.TB, docs string) *config.Config {
	return configtest.Build(t, docs)
}

const l2Config = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [172.30.0.200-172.30.0.250, "fd00:30::200-fd00:30::250"]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: unannounced, namespace: metallb-system}
spec: {addresses: [10.99.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan]}
`

var lanPrefixes = []netip.Prefix{netip.MustParsePrefix("172.30.0.0/24"), netip.MustParsePrefix("fd00:30::/64")}

func threeNodes() map[string]Node {
	nodes := map[string]Node{}
	for _, name := range []string{"node1", "node2", "node3"} {
		nodes[name] = Node{Name: name, Labels: labels.Set{"kubernetes.io/hostname": name},
			Interfaces: []Interface{{Name: "eth0", Prefixes: lanPrefixes}}}
	}
	return nodes
}

func allMembers() map[string]bool {
	return map[string]bool{"node1": true, "node2": true, "node3": true}
}

var web = Service{Key: "default/web", IPs: []netip.Addr{netip.MustParseAddr("172.30.0.200")}, HasReadyEndpoint: true}

// owners computes the plan of every node and returns, per IP, the nodes that
// announce it.
func owners(s Snapshot) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	elector := election.NewElector()
	for name := range s.Nodes {
		s.Self = name
		for _, a := range Compute(&s, elector).L2 {
			out[a.IP] = append(out[a.IP], name)
		}
	}
	for ip := range out {
		slices.Sort(out[ip])
	}
	return out
}

func TestLayer2Ownership(t *testing.T) {
	cfg := buildConfig(t, l2Config)
	dual := Service{Key: "default/dual", IPs: []netip.Addr{netip.MustParseAddr("172.30.0.201"), netip.MustParseAddr("fd00:30::201")}, HasReadyEndpoint: true}
	cases := []struct {
		name    string
		mutate  func(*Snapshot)
		allowed []string // nodes that may own web's IP; nil: nobody
	}{
		{"every node eligible", nil, []string{"node1", "node2", "node3"}},
		{"only live members", func(s *Snapshot) { s.Members = map[string]bool{"node2": true} }, []string{"node2"}},
		{"exclude label", func(s *Snapshot) {
			for _, n := range []string{"node1", "node3"} {
				node := s.Nodes[n]
				node.Labels = labels.Set{ExcludeLabel: ""}
				s.Nodes[n] = node
			}
		}, []string{"node2"}},
		{"ETP Local follows endpoints", func(s *Snapshot) {
			s.Services[0].LocalTrafficPolicy = true
			s.Services[0].EndpointNodes = map[string]bool{"node3": true}
		}, []string{"node3"}},
		{"ETP Local without endpoints", func(s *Snapshot) { s.Services[0].LocalTrafficPolicy = true }, nil},
		{"no usable endpoint", func(s *Snapshot) { s.Services[0].HasReadyEndpoint = false }, nil},
		{"interface-aware", func(s *Snapshot) {
			for _, n := range []string{"node1", "node2"} {
				node := s.Nodes[n]
				node.Interfaces = []Interface{{Name: "eth0", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}}}
				s.Nodes[n] = node
			}
		}, []string{"node3"}},
		{"pool outside every subnet: any interface, as MetalLB", func(s *Snapshot) {
			for name, node := range s.Nodes {
				node.Interfaces = []Interface{{Name: "eth0", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}}}
				s.Nodes[name] = node
			}
		}, []string{"node1", "node2", "node3"}},
		{"unknown interfaces reach everything", func(s *Snapshot) {
			for name, node := range s.Nodes {
				node.Interfaces = nil
				s.Nodes[name] = node
			}
		}, []string{"node1", "node2", "node3"}},
		{"IP of a pool without L2Advertisement", func(s *Snapshot) {
			s.Services[0].IPs = []netip.Addr{netip.MustParseAddr("10.99.0.1")}
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := Snapshot{Config: cfg, Nodes: threeNodes(), Members: allMembers(), Services: []Service{web}}
			if tc.mutate != nil {
				tc.mutate(&s)
			}
			got := owners(s)
			ip := s.Services[0].IPs[0]
			if tc.allowed == nil {
				if len(got[ip]) != 0 {
					t.Fatalf("%s announced by %v, want nobody", ip, got[ip])
				}
				return
			}
			if len(got[ip]) != 1 {
				t.Fatalf("%s announced by %v, want exactly one node", ip, got[ip])
			}
			if !slices.Contains(tc.allowed, got[ip][0]) {
				t.Fatalf("%s announced by %s, want one of %v", ip, got[ip][0], tc.allowed)
			}
		})
	}
	t.Run("dual-stack on one node", func(t *testing.T) {
		got := owners(Snapshot{Config: cfg, Nodes: threeNodes(), Members: allMembers(), Services: []Service{dual}})
		v4, v6 := got[dual.IPs[0]], got[dual.IPs[1]]
		if len(v4) != 1 || !slices.Equal(v4, v6) {
			t.Fatalf("IPv4 owners %v, IPv6 owners %v: want the same single node", v4, v6)
		}
	})
}

func TestLayer2SelectorsAndPreferences(t *testing.T) {
	cfg := buildConfig(t, l2Config+`---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: edge, namespace: metallb-system}
spec: {addresses: [172.30.0.10-172.30.0.20]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: edge, namespace: metallb-system}
spec:
  ipAddressPools: [edge]
  nodeSelectors: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node1, node2]}]}]
  serviceSelectors: [{matchLabels: {exposed: "yes"}}]
  interfaces: [eth0]
  preferredNodeSelectors: [{weight: 50, preference: {matchLabels: {kubernetes.io/hostname: node2}}}]
`)
	svc := Service{Key: "default/edge", IPs: []netip.Addr{netip.MustParseAddr("172.30.0.10")}, Labels: labels.Set{"exposed": "yes"}, HasReadyEndpoint: true}
	s := Snapshot{Config: cfg, Nodes: threeNodes(), Members: allMembers(), Services: []Service{svc}}
	if got := owners(s)[svc.IPs[0]]; !slices.Equal(got, []string{"node2"}) {
		t.Fatalf("owners = %v, want the preferred node2", got)
	}
	s.Members = map[string]bool{"node1": true, "node3": true}
	if got := owners(s)[svc.IPs[0]]; !slices.Equal(got, []string{"node1"}) {
		t.Fatalf("owners with node2 gone = %v, want node1 (selected, preferred ones gone)", got)
	}
	s.Self = "node1"
	plan := Compute(&s, election.NewElector())
	if len(plan.L2) != 1 || !slices.Equal(plan.L2[0].Interfaces, []string{"eth0"}) {
		t.Fatalf("plan = %+v, want the address on eth0 only", plan.L2)
	}
	s.Services[0].Labels = nil
	if got := owners(s); len(got) != 0 {
		t.Fatalf("owners of an unselected service = %v, want none", got)
	}
}

// TestLayer2ReportsWhy: the plan carries, with each owned address, whether
// MetalLB's any-interface rule applied and why the other nodes lost, and
// lists the addresses nobody may own with every node's reason.
func TestLayer2ReportsWhy(t *testing.T) {
	cfg := buildConfig(t, l2Config)
	nodes := threeNodes()
	outside := []Interface{{Name: "eth0", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}}}
	for _, name := range []string{"node1", "node2"} {
		node := nodes[name]
		node.Interfaces = outside
		nodes[name] = node
	}
	idle := Service{Key: "default/idle", IPs: []netip.Addr{netip.MustParseAddr("172.30.0.201")}}
	s := Snapshot{Config: cfg, Self: "node3", Nodes: nodes, Members: allMembers(), Services: []Service{web, idle}}
	plan := Compute(&s, election.NewElector())
	if len(plan.L2Unowned) != 0 {
		t.Fatalf("node3 lists unowned addresses %+v; only node1, the lowest-named member, reports them", plan.L2Unowned)
	}
	s.Self = "node1"
	unowned := Compute(&s, election.NewElector()).L2Unowned
	s.Self = "node3"
	wantRejected := []election.Rejection{{Node: "node1", Reason: election.NoInterface}, {Node: "node2", Reason: election.NoInterface}}
	if len(plan.L2) != 1 || plan.L2[0].AnyInterface || !slices.Equal(plan.L2[0].Rejected, wantRejected) {
		t.Fatalf("owned = %+v, want web on node3 under the interface rule, node1 and node2 rejected NoInterface", plan.L2)
	}
	wantUnowned := []election.Rejection{{Node: "node1", Reason: election.NoInterface}, {Node: "node2", Reason: election.NoInterface},
		{Node: "node3", Reason: election.NoEndpoints}}
	if len(unowned) != 1 || unowned[0].Service != "default/idle" || !slices.Equal(unowned[0].Rejected, wantUnowned) {
		t.Fatalf("unowned = %+v, want default/idle with %v", unowned, wantUnowned)
	}

	node3 := nodes["node3"]
	node3.Interfaces = outside
	nodes["node3"] = node3
	plan = Compute(&s, election.NewElector())
	if got := owners(s)[web.IPs[0]]; len(got) != 1 {
		t.Fatalf("pool outside every subnet: owners %v, want one", got)
	}
	for _, a := range plan.L2 {
		if !a.AnyInterface || len(a.Rejected) != 0 {
			t.Fatalf("pool outside every subnet: %+v, want AnyInterface and no rejection", a)
		}
	}
}

// TestLayer2SharedIPWithServiceSelectors: services sharing an IP, matched
// by L2Advertisements with different node selectors, would elect two
// owners; like MetalLB, such services are announced by nobody and every
// node is reported SharedIPWithServiceSelectors. Without service selectors
// the shared IP has one owner.
func TestLayer2SharedIPWithServiceSelectors(t *testing.T) {
	cfg := buildConfig(t, l2Config+`---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: shared, namespace: metallb-system}
spec: {addresses: [172.30.0.100/32]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: for-a, namespace: metallb-system}
spec:
  ipAddressPools: [shared]
  serviceSelectors: [{matchLabels: {app: a}}]
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: for-b, namespace: metallb-system}
spec:
  ipAddressPools: [shared]
  serviceSelectors: [{matchLabels: {app: b}}]
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node2}}]
`)
	ip := netip.MustParseAddr("172.30.0.100")
	a := Service{Key: "default/a", IPs: []netip.Addr{ip}, Labels: labels.Set{"app": "a"}, AllowsSharedIP: true, HasReadyEndpoint: true}
	b := Service{Key: "default/b", IPs: []netip.Addr{ip}, Labels: labels.Set{"app": "b"}, AllowsSharedIP: true, HasReadyEndpoint: true}
	s := Snapshot{Config: cfg, Nodes: threeNodes(), Members: allMembers(), Services: []Service{a, b}}
	if got := owners(s)[ip]; len(got) != 0 {
		t.Fatalf("shared IP with service selectors announced by %v, want nobody", got)
	}
	s.Self = "node1"
	unowned := Compute(&s, election.NewElector()).L2Unowned
	if len(unowned) != 2 {
		t.Fatalf("unowned = %+v, want both services", unowned)
	}
	for _, u := range unowned {
		for _, r := range u.Rejected {
			if r.Reason != election.SharedIPWithServiceSelectors {
				t.Fatalf("%s: %s rejected for %v, want SharedIPWithServiceSelectors", u.Service, r.Node, r.Reason)
			}
		}
	}

	// The same services on a pool whose advertisement has no service
	// selectors: one owner.
	shared := Service{Key: "default/c", IPs: []netip.Addr{netip.MustParseAddr("172.30.0.210")}, AllowsSharedIP: true, HasReadyEndpoint: true}
	other := shared
	other.Key = "default/d"
	s.Services = []Service{shared, other}
	if got := owners(s)[shared.IPs[0]]; len(got) != 2 || got[0] != got[1] {
		t.Fatalf("shared IP without service selectors announced by %v, want both services on one node", got)
	}
}
