package bgp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// nodeSelector is a nodeSelectors entry picking lab nodes by index.
func nodeSelector(nodes ...int) []string {
	values := make([]string, len(nodes))
	for i, n := range nodes {
		values[i] = fmt.Sprintf("%q", fmt.Sprint(n))
	}
	return []string{
		"  nodeSelectors:",
		"  - matchExpressions:",
		fmt.Sprintf("    - {key: lab.ironlb.io/node, operator: In, values: [%s]}", strings.Join(values, ", ")),
	}
}

// testSelectors: a BGPPeer's nodeSelectors decide which nodes keep a
// session (Cluster traffic policy: a two-path route when two of three nodes
// peer), a BGPAdvertisement's nodeSelectors which nodes advertise, and its
// peers which sessions carry the routes; the ServiceBGPStatus objects
// follow.
func testSelectors(t *testing.T, config lab.RouterConfig) {
	setUp(t, config)
	kind := config.Kind
	restoreBase(t, kind)
	name := "selectors-" + string(kind)
	ips := createService(t, newService(name, basePool), 1, 2, 3)
	v4, v6 := hostPrefix(ips[0]), hostPrefix(ips[1])

	apply(t, peerYAML(kind, peerV4, lab.RouterIPv4, nodeSelector(1, 2)...))
	waitRoute(t, v4, 1, 2)
	waitRoute(t, v6, 1, 2, 3)
	waitSessions(t, false, lab.NodeIPv4(3))
	waitSessions(t, true, lab.NodeIPv4(1), lab.NodeIPv4(2), lab.NodeIPv6(3))
	both, v6Only := []string{peerV4, peerV6}, []string{peerV6}
	waitServiceBGPStatuses(t, name, map[string][]string{"node1": both, "node2": both, "node3": v6Only})
	curlFromExt(t, ips[0], 1, 2)

	apply(t, advertYAML(baseAdvert, basePool, nodeSelector(2, 3)...))
	waitRoute(t, v4, 2)
	waitRoute(t, v6, 2, 3)
	waitServiceBGPStatuses(t, name, map[string][]string{"node2": both, "node3": v6Only})

	apply(t, advertYAML(baseAdvert, basePool, append(nodeSelector(2, 3), "  peers: ["+peerV6+"]")...))
	waitRoute(t, v4)
	waitRoute(t, v6, 2, 3)
	waitServiceBGPStatuses(t, name, map[string][]string{"node2": v6Only, "node3": v6Only})
}

// TestAggregationLength: aggregationLength and aggregationLengthV6
// advertise the pool's covering prefix instead of the host route.
func TestAggregationLength(t *testing.T) {
	setUp(t, lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(t).NodeCount()))
	poolV4, poolV6 := netip.MustParsePrefix("172.32.0.128/26"), netip.MustParsePrefix("fd00:32::1:0/120")
	applyTemporarily(t, documents(
		poolYAML("aggregated", poolV4.String(), poolV6.String()),
		advertYAML("aggregated", "aggregated", "  aggregationLength: 26", "  aggregationLengthV6: 120"),
	))
	ips := createService(t, newService("aggregated", "aggregated"), 1, 2, 3)
	waitRoute(t, poolV4, 1, 2, 3)
	waitRoute(t, poolV6, 1, 2, 3)
	for _, ip := range ips {
		if rt, found, err := lab.Shared(t).Router().RouteTo(hostPrefix(ip)); err != nil || found {
			t.Errorf("host route %v (found=%v, err=%v) next to the aggregate", rt, found, err)
		}
		curlFromExt(t, ip, 1, 2, 3)
	}
}

// TestNoReadyEndpoint: a Service whose endpoints are all gone is not
// advertised, whatever its traffic policy: the router then sends its
// traffic nowhere near the cluster rather than to nodes with nothing behind.
func TestNoReadyEndpoint(t *testing.T) {
	l := setUp(t, lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(t).NodeCount()))
	svc := newService("no-endpoints", basePool, corev1.IPv4Protocol)
	ip := createService(t, svc)[0]
	// Long enough for a wrong advertisement to reach the router (it takes
	// milliseconds) and for the status objects to be written.
	time.Sleep(time.Second)
	if rt, found, err := l.Router().RouteTo(hostPrefix(ip)); err != nil || found {
		t.Errorf("route %v (found=%v, err=%v) to a Service without endpoints", rt, found, err)
	}
	waitServiceBGPStatuses(t, svc.Name, map[string][]string{})
	if err := l.SetEndpoints(t.Context(), svc, 2); err != nil {
		t.Fatal(err)
	}
	waitRoute(t, hostPrefix(ip), 1, 2, 3)
	if err := l.SetEndpoints(t.Context(), svc); err != nil {
		t.Fatal(err)
	}
	waitRoute(t, hostPrefix(ip))
}

// TestPeersOfOneAddress: two BGPPeers may name the same router for
// different nodes (here node3 gets a hold time of its own); each node keeps
// one session, with its own settings.
func TestPeersOfOneAddress(t *testing.T) {
	l := setUp(t, lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(t).NodeCount()))
	restoreBase(t, lab.BIRD2)
	node3 := peerYAML(lab.BIRD2, peerV4+"-node3", lab.RouterIPv4, append(nodeSelector(3), "  holdTime: 30s")...)
	apply(t, peerYAML(lab.BIRD2, peerV4, lab.RouterIPv4, nodeSelector(1, 2)...))
	applyTemporarily(t, node3)
	ip := createService(t, newService("one-address", basePool, corev1.IPv4Protocol), 1, 2, 3)[0]
	waitRoute(t, hostPrefix(ip), 1, 2, 3)
	lab.Eventually(t, routeTimeout, "node3's session runs with its own hold time", func() error {
		out, err := l.Router().Show(t.Context(), "show protocols all node3", false)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "Established") || !strings.Contains(out, "/30\n") {
			return fmt.Errorf("node3's session does not run with hold time 30:\n%s", out)
		}
		return nil
	})
	waitServiceBGPStatuses(t, "one-address", map[string][]string{
		"node1": {peerV4}, "node2": {peerV4}, "node3": {peerV4 + "-node3"}})
}
