package bgp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

const (
	unnumberedPeer = "unnumbered"
	unnumberedPool = "bgp-unnumbered"
)

// withUnnumbered returns the router's default configuration for kind plus
// an unnumbered session with the node at the far end of routerIf. FRR
// discovers the node's link-local address (from the router advertisements
// the speaker sends) and sends its own; BIRD 2 has no such discovery, so it
// takes a session from any link-local address on the interface (a dynamic
// range) and sends router advertisements with protocol radv, by which the
// speaker finds it.
func withUnnumbered(t *testing.T, kind lab.RouterKind, nodes int, routerIf string) lab.RouterConfig {
	t.Helper()
	config := lab.DefaultRouterConfig(kind, nodes)
	switch kind {
	case lab.FRR:
		neighbor := fmt.Sprintf(" neighbor %s interface remote-as %d\n neighbor %[1]s timers connect 5\n", routerIf, lab.NodeASN)
		activate := fmt.Sprintf("  neighbor %s activate\n", routerIf)
		replacer := strings.NewReplacer(
			" address-family ipv4 unicast\n", neighbor+" address-family ipv4 unicast\n"+activate,
			" address-family ipv6 unicast\n", " address-family ipv6 unicast\n"+activate)
		config.Config = replacer.Replace(config.Config)
	case lab.BIRD2:
		config.Config += fmt.Sprintf(`protocol radv { interface %[1]q { min ra interval 3; max ra interval 4; }; }
protocol bgp %[2]s {
  local as %[3]d;
  interface %[1]q;
  neighbor range fe80::/10 as %[4]d;
  connect delay time 1; connect retry time 5; error wait time 1, 10;
  ipv4 { import all; export none; extended next hop on; };
  ipv6 { import all; export none; };
}
`, routerIf, unnumberedPeer, lab.RouterASN, lab.NodeASN)
	default:
		t.Fatalf("no unnumbered configuration for %s", kind)
	}
	if config.Config == lab.DefaultRouterConfig(kind, nodes).Config {
		t.Fatalf("%s configuration: the unnumbered session was not added", kind)
	}
	return config
}

// TestUnnumbered: node1 gets a point-to-point link to the router with IPv6
// link-local addresses only, and a BGPPeer with interface (no peerAddress)
// selecting node1 peers over it, against FRR (`neighbor IFACE interface`)
// and BIRD 2. A dual-stack Service advertised on that session only reaches
// the router's kernel table via node1's link-local address, the IPv4 /32
// too (RFC 8950), and ext reaches both addresses over it.
func TestUnnumbered(t *testing.T) {
	l := lab.Shared(t)
	link, err := l.AddUnnumberedLink(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.RemoveUnnumberedLink(context.Background(), link); err != nil {
			t.Errorf("removing the unnumbered link: %v", err)
		}
	})
	for _, kind := range []lab.RouterKind{lab.FRR, lab.BIRD2} {
		t.Run(string(kind), func(t *testing.T) { testUnnumbered(t, kind, link) })
	}
}

func testUnnumbered(t *testing.T, kind lab.RouterKind, link lab.UnnumberedLink) {
	l := setUp(t, withUnnumbered(t, kind, lab.Shared(t).NodeCount(), link.RouterInterface))
	start := time.Now()
	applyTemporarily(t, documents(
		poolYAML(unnumberedPool, spareBlockV4, spareBlockV6),
		fmt.Sprintf(`apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: %s
  namespace: %s
spec:
  myASN: %d
  peerASN: %d
  interface: %s
  connectTime: 1s
%s
`, unnumberedPeer, lab.IronLBNamespace, lab.NodeASN, lab.RouterASN, link.NodeInterface, strings.Join(nodeSelector(link.Node), "\n")),
		advertYAML(unnumberedPool, unnumberedPool, "  peers: ["+unnumberedPeer+"]"),
	))
	ips := createService(t, newService("unnumbered-"+string(kind), unnumberedPool, corev1.IPv4Protocol, corev1.IPv6Protocol), link.Node)
	for _, ip := range ips {
		ctx, cancel := context.WithTimeout(t.Context(), routeTimeout)
		rt, err := l.Router().WaitForRoute(ctx, hostPrefix(ip), true, link.NodeLinkLocal)
		cancel()
		if err != nil {
			out, _ := routeDetails(t.Context(), l.Router(), hostPrefix(ip))
			t.Fatalf("%v; the router says:\n%s", err, out)
		}
		t.Logf("%s: %s, %s after the BGPPeer was applied", kind, rt, time.Since(start).Round(time.Millisecond))
	}
	for _, ip := range ips {
		curlFromExt(t, ip, link.Node)
	}
}
