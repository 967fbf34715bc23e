package announce

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/ironlb/ironlb/internal/election"
)

// benchConfig advertises a /16 to two peers, like a cluster with an IPv4
// and an IPv6 session per node.
const benchConfig = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: routed, namespace: metallb-system}
spec: {addresses: [198.18.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [172.30.0.200-172.30.0.250]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-v4, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-v6, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: "fd00:30::254", dualStackAddressFamily: true}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: routed, namespace: metallb-system}
spec: {ipAddressPools: [routed], communities: ["64500:100"]}
`

// BenchmarkCompute is one plan of a node over n BGP Services with ready
// endpoints on every node: what the speaker computes at every change.
func BenchmarkCompute(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := Snapshot{Config: buildConfig(b, benchConfig), Self: "node1", Nodes: threeNodes(), Members: allMembers()}
			node1 := s.Nodes["node1"]
			node1.Addresses = []netip.Addr{netip.MustParseAddr("172.30.0.11"), netip.MustParseAddr("fd00:30::11")}
			s.Nodes["node1"] = node1
			ip := netip.MustParseAddr("198.18.0.0")
			for i := range n {
				s.Services = append(s.Services, Service{
					Key: fmt.Sprintf("default/svc-%d", i), IPs: []netip.Addr{ip},
					EndpointNodes: map[string]bool{"node1": true, "node2": true, "node3": true}, HasReadyEndpoint: true,
				})
				ip = ip.Next()
			}
			elector := election.NewElector()
			b.ReportAllocs()
			for b.Loop() {
				if plan := Compute(&s, elector); len(plan.BGP.Services) != n {
					b.Fatalf("%d services advertised, want %d", len(plan.BGP.Services), n)
				}
			}
		})
	}
}
