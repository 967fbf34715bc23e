package announce

import (
	"net/netip"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/bgpspec"
	"github.com/ironlb/ironlb/internal/election"
)

const bgpConfig = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: routed, namespace: metallb-system}
spec: {addresses: [172.32.0.0/24, "fd00:32::/64"]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: bird, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ibgp, namespace: metallb-system}
spec: {myASN: 65000, peerASN: 65000, peerAddress: 172.30.0.253, nodeSelectors: [{matchLabels: {rack: a}}]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
spec: {ipAddressPools: [routed], localPref: 200, communities: ["65535:65282"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: aggregate, namespace: metallb-system}
spec: {ipAddressPools: [routed], aggregationLength: 24, aggregationLengthV6: 64, peers: [bird], communities: ["large:1:2:3"]}
`

func TestBGPPlan(t *testing.T) {
	cfg := buildConfig(t, bgpConfig)
	nodes := threeNodes()
	node1 := nodes["node1"]
	node1.Labels = labels.Set{"rack": "a"}
	node1.Addresses = []netip.Addr{netip.MustParseAddr("172.30.0.11"), netip.MustParseAddr("fd00:30::11")}
	nodes["node1"] = node1
	svc := Service{Key: "default/api", IPs: []netip.Addr{netip.MustParseAddr("172.32.0.5")},
		EndpointNodes: map[string]bool{"node3": true}, HasReadyEndpoint: true}
	s := Snapshot{Config: cfg, Self: "node1", Nodes: nodes, Members: allMembers(), Services: []Service{svc}}

	plan := Compute(&s, election.NewElector()).BGP
	var peers []string
	for _, p := range plan.Peers {
		peers = append(peers, p.Name)
	}
	if !slices.Equal(peers, []string{"bird", "ibgp"}) {
		t.Fatalf("peers = %v, want bird and ibgp", peers)
	}
	if plan.Peers[0].NextHopIPv6.String() != "fd00:30::11" {
		t.Errorf("IPv6 next hop = %s, want the node's IPv6 address", plan.Peers[0].NextHopIPv6)
	}
	attrs := bgpspec.Attributes{LocalPref: 200, Communities: []uint32{65535<<16 | 65282}}
	want := bgpspec.Routes{
		"bird": {
			netip.MustParsePrefix("172.32.0.0/24"): {LargeCommunities: []bgpspec.LargeCommunity{{GlobalAdmin: 1, LocalData1: 2, LocalData2: 3}}},
			netip.MustParsePrefix("172.32.0.5/32"): attrs,
		},
		"ibgp": {netip.MustParsePrefix("172.32.0.5/32"): attrs},
	}
	if !reflect.DeepEqual(plan.Routes, want) {
		t.Fatalf("routes =\n %+v\nwant\n %+v", plan.Routes, want)
	}
	if got := plan.Services["default/api"]; !slices.Equal(got.Peers, []string{"bird", "ibgp"}) || !slices.Equal(got.IPs, svc.IPs) {
		t.Errorf("advertised service = %+v, want its IP to bird and ibgp", got)
	}

	// node2 is not in rack a: only the eBGP peer.
	s.Self = "node2"
	plan = Compute(&s, election.NewElector()).BGP
	if len(plan.Peers) != 1 || plan.Peers[0].Name != "bird" {
		t.Fatalf("node2 peers = %+v, want only bird", plan.Peers)
	}

	// ETP Cluster: every node advertises, as long as some endpoint is ready.
	s.Services[0].HasReadyEndpoint = false
	if plan = Compute(&s, election.NewElector()).BGP; len(plan.Routes) != 0 || len(plan.Services) != 0 {
		t.Errorf("a Service without ready endpoints is advertised: %+v", plan.Routes)
	}
	s.Services[0].HasReadyEndpoint = true

	// ETP Local: only nodes with an endpoint advertise.
	s.Services[0].LocalTrafficPolicy = true
	s.Services[0].EndpointNodes = map[string]bool{"node1": true}
	if plan = Compute(&s, election.NewElector()).BGP; len(plan.Routes) != 0 {
		t.Errorf("node2 without endpoints advertises %+v", plan.Routes)
	}
	s.Self = "node1"
	if plan = Compute(&s, election.NewElector()).BGP; len(plan.Routes["bird"]) != 2 || len(plan.Routes["ibgp"]) != 1 {
		t.Errorf("node1 with an endpoint advertises %+v, want 2 routes to bird and 1 to ibgp", plan.Routes)
	}

	// Excluded nodes keep no session.
	node1.Labels[ExcludeLabel] = "true"
	if plan = Compute(&s, election.NewElector()).BGP; len(plan.Peers)+len(plan.Routes) != 0 {
		t.Errorf("excluded node plans %+v", plan)
	}
}

func TestBGPPeersOfOneEndpoint(t *testing.T) {
	cfg := buildConfig(t, `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254, nodeSelectors: [{matchLabels: {rack: a}}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-b, namespace: metallb-system}
spec: {myASN: 64513, peerASN: 64500, peerAddress: 172.30.0.254, nodeSelectors: [{matchLabels: {rack: b}}]}
`)
	tests := []struct {
		name     string
		labels   labels.Set
		wantPeer string // the session kept, "" for none
	}{
		{"rack a", labels.Set{"rack": "a"}, "rack-a"},
		{"rack b", labels.Set{"rack": "b"}, "rack-b"},
		{"neither", labels.Set{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := threeNodes()
			node1 := nodes["node1"]
			node1.Labels = tt.labels
			nodes["node1"] = node1
			plan := Compute(&Snapshot{Config: cfg, Self: "node1", Nodes: nodes, Members: allMembers()}, election.NewElector()).BGP
			var kept string
			if len(plan.Peers) == 1 {
				kept = plan.Peers[0].Name
			}
			if kept != tt.wantPeer || len(plan.Peers) > 1 || len(plan.Problems) != 0 {
				t.Errorf("peers %+v, problems %v; want %q only", plan.Peers, plan.Problems, tt.wantPeer)
			}
		})
	}
	// A node both racks select (a mislabelled node): one session, the
	// first by name, and the conflict said.
	nodes := threeNodes()
	node1 := nodes["node1"]
	node1.Labels = labels.Set{"rack": "a"}
	nodes["node1"] = node1
	both := buildConfig(t, `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254, nodeSelectors: [{matchLabels: {rack: a}}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: zone-1, namespace: metallb-system}
spec: {myASN: 64513, peerASN: 64500, peerAddress: 172.30.0.254, nodeSelectors: [{matchExpressions: [{key: rack, operator: Exists}]}]}
`)
	plan := Compute(&Snapshot{Config: both, Self: "node1", Nodes: nodes, Members: allMembers()}, election.NewElector()).BGP
	want := PeerProblem{Peer: "zone-1", Refused: true, Reason: "BGPPeers rack-a and zone-1 both select node node1 for peer 172.30.0.254: one session per address or interface, zone-1 is left out"}
	if len(plan.Peers) != 1 || plan.Peers[0].Name != "rack-a" || !slices.Equal(plan.Problems, []PeerProblem{want}) {
		t.Errorf("peers %+v, problems %+v; want rack-a and %+v", plan.Peers, plan.Problems, want)
	}
}

func TestNodeSessions(t *testing.T) {
	peer := func(name, spec string) string {
		return "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: " + name + ", namespace: metallb-system}\nspec: " + spec + "\n---\n"
	}
	v4, v6 := netip.MustParseAddr("172.30.0.11"), netip.MustParseAddr("fd00:30::11")
	ipv6Only := netip.MustParseAddr("64.37.239.133") // CRC-32 of "node1", little-endian
	tests := []struct {
		name         string
		docs         string
		addresses    []netip.Addr
		wantRouterID netip.Addr
		wantPeers    []string
		wantDual     []string // peers kept with dualStackAddressFamily
		wantProblems []PeerProblem
	}{
		{
			name: "router ID from the node's IPv4 InternalIP",
			docs: peer("a", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254}"), addresses: []netip.Addr{v6, v4},
			wantRouterID: v4, wantPeers: []string{"a"},
		},
		{
			name: "IPv6-only node: router ID derived from the node's name",
			docs: peer("a", "{myASN: 64512, peerASN: 64500, peerAddress: \"fd00:30::254\"}"), addresses: []netip.Addr{v6},
			wantRouterID: ipv6Only, wantPeers: []string{"a"},
		},
		{
			name: "router ID of the first peer that sets one",
			docs: peer("a", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254}") +
				peer("b", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.253, routerID: 10.9.9.9}") +
				peer("c", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.252, routerID: 10.9.9.9}"),
			addresses: []netip.Addr{v4}, wantRouterID: netip.MustParseAddr("10.9.9.9"), wantPeers: []string{"a", "b", "c"},
		},
		{
			name: "a peer with another router ID is left out, the others kept",
			docs: peer("a", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254, routerID: 10.9.9.9}") +
				peer("b", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.253, routerID: 10.8.8.8}"),
			addresses: []netip.Addr{v4}, wantRouterID: netip.MustParseAddr("10.9.9.9"), wantPeers: []string{"a"},
			wantProblems: []PeerProblem{{Peer: "b", Refused: true,
				Reason: "routerID 10.8.8.8 differs from 10.9.9.9, the router ID of node node1 (set by the first of its BGPPeers by name): one router ID per node, b is left out"}},
		},
		{
			name: "dual stack on a node with both families",
			docs: peer("a", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254, dualStackAddressFamily: true}"), addresses: []netip.Addr{v4, v6},
			wantRouterID: v4, wantPeers: []string{"a"}, wantDual: []string{"a"},
		},
		{
			name: "dual stack on a node without IPv6: the IPv4 session is kept",
			docs: peer("a", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254, dualStackAddressFamily: true}") +
				peer("b", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.253}"),
			addresses: []netip.Addr{v4}, wantRouterID: v4, wantPeers: []string{"a", "b"},
			wantProblems: []PeerProblem{{Peer: "a",
				Reason: "dualStackAddressFamily: node node1 has no IPv6 InternalIP to use as next hop; the session carries IPv4 prefixes only"}},
		},
		{
			name: "peers of one address on other ports",
			docs: peer("a", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254}") +
				peer("b", "{myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254, peerPort: 1179}"),
			addresses: []netip.Addr{v4}, wantRouterID: v4, wantPeers: []string{"a"},
			wantProblems: []PeerProblem{{Peer: "b", Refused: true,
				Reason: "BGPPeers a and b both select node node1 for peer 172.30.0.254: one session per address or interface, b is left out"}},
		},
		{
			name: "unnumbered peers: one per interface",
			docs: peer("a", "{myASN: 64512, peerASN: 64500, interface: eth1, nodeSelectors: [{matchLabels: {rack: a}}]}") +
				peer("b", "{myASN: 64512, peerASN: 64500, interface: eth1, nodeSelectors: [{matchExpressions: [{key: rack, operator: DoesNotExist}]}]}") +
				peer("c", "{myASN: 64512, peerASN: 64500, interface: eth2}"),
			addresses: []netip.Addr{v4}, wantRouterID: v4, wantPeers: []string{"b", "c"},
		},
		{
			name: "unnumbered peers of one interface on a node both select",
			docs: peer("a", "{myASN: 64512, peerASN: 64500, interface: eth1, nodeSelectors: [{matchExpressions: [{key: zone, operator: DoesNotExist}]}]}") +
				peer("b", "{myASN: 64512, peerASN: 64501, interface: eth1, nodeSelectors: [{matchExpressions: [{key: rack, operator: DoesNotExist}]}]}"),
			addresses: []netip.Addr{v4}, wantRouterID: v4, wantPeers: []string{"a"},
			wantProblems: []PeerProblem{{Peer: "b", Refused: true,
				Reason: "BGPPeers a and b both select node node1 for peer interface eth1: one session per address or interface, b is left out"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := buildConfig(t, tt.docs)
			node := Node{Name: "node1", Addresses: tt.addresses}
			plan := nodeSessions(cfg, node)
			var names, dual []string
			for _, p := range plan.Peers {
				names = append(names, p.Name)
				if p.Interface != cfg.Peers[p.Name].Interface || p.Address != cfg.Peers[p.Name].Address {
					t.Errorf("session %s: interface %q, address %s; want the BGPPeer's", p.Name, p.Interface, p.Address)
				}
				if p.DualStackAddressFamily {
					dual = append(dual, p.Name)
				}
			}
			if plan.RouterID != tt.wantRouterID || !slices.Equal(names, tt.wantPeers) || !slices.Equal(dual, tt.wantDual) {
				t.Errorf("router ID %s, peers %v, dual stack %v; want %s, %v, %v", plan.RouterID, names, dual, tt.wantRouterID, tt.wantPeers, tt.wantDual)
			}
			if !slices.Equal(plan.Problems, tt.wantProblems) {
				t.Errorf("problems =\n%+v\nwant\n%+v", plan.Problems, tt.wantProblems)
			}
		})
	}
}

// TestPlannerHasNoBGPShell checks that the planner stays pure: it must not
// pull in GoBGP or gRPC (it speaks package bgpspec, not package bgp).
func TestPlannerHasNoBGPShell(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "gobgp") || strings.HasPrefix(dep, "google.golang.org/grpc") || dep == "github.com/ironlb/ironlb/internal/bgp" {
			t.Errorf("internal/announce depends on %s", dep)
		}
	}
}
