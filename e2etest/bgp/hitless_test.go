package bgp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// testHitlessChanges: changing one advertisement, one pool, one Service or
// one peer touches nothing else: the router sees no change at all of a
// route that did not change (watched with netlink in its kernel table) and
// the sessions that were not changed stay up since the same instant.
func testHitlessChanges(t *testing.T, config lab.RouterConfig) {
	l := setUp(t, config)
	kind := config.Kind
	restoreBase(t, kind)
	ctx := t.Context()
	poolB := func(ranges ...string) string {
		return documents(poolYAML("hitless-b", ranges...), advertYAML("hitless-b", "hitless-b"))
	}
	applyTemporarily(t, poolB("172.32.0.128/27", "fd00:32::1:0/120"))

	steady := createService(t, newService("steady-"+string(kind), basePool), 1, 2, 3)
	changing := createService(t, newService("changing-"+string(kind), "hitless-b"), 1, 2, 3)
	for _, ip := range append(steady, changing...) {
		waitRoute(t, hostPrefix(ip), 1, 2, 3)
	}
	steadyV4, steadyV6 := hostPrefix(steady[0]), hostPrefix(steady[1])
	allSessions := append(nodeAddrs(l, false), nodeAddrs(l, true)...)
	waitSessions(t, true, allSessions...)
	before, err := routerSessions(ctx, l.Router())
	if err != nil {
		t.Fatal(err)
	}
	watch, err := l.Router().WatchRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// untouched checks that the steady routes saw no change and that the
	// given sessions are still up since the same instant.
	untouched := func(step string, changes []lab.RouteEvent, sessions ...netip.Addr) {
		t.Helper()
		if len(changes) > 0 {
			t.Errorf("%s: the router's unchanged routes changed: %v", step, changes)
		}
		now, err := routerSessions(ctx, l.Router())
		if err != nil {
			t.Fatal(err)
		}
		for _, addr := range sessions {
			if !now[addr].sameAs(before[addr]) || !now[addr].Established {
				t.Errorf("%s: session with %s was %v, now %v", step, addr, before[addr], now[addr])
			}
		}
	}
	steadyEvents := func() []lab.RouteEvent {
		events := drain(watch)
		return append(eventsFor(events, steadyV4), eventsFor(events, steadyV6)...)
	}

	// One advertisement: new communities on pool b's routes.
	apply(t, advertYAML("hitless-b", "hitless-b", `  communities: ["64500:300"]`))
	community := attributeTexts(kind).community(64500, 300)
	lab.Eventually(t, routeTimeout, "the router sees the new community", func() error {
		details, err := routeDetails(ctx, l.Router(), hostPrefix(changing[0]))
		if err == nil && !strings.Contains(details, community) {
			err = fmt.Errorf("no community %s in\n%s", community, details)
		}
		return err
	})
	untouched("advertisement changed", steadyEvents(), allSessions...)

	// One pool: a new range, used by a new Service.
	apply(t, poolB("172.32.0.128/27", "172.32.0.160/27", "fd00:32::1:0/120"))
	added := newService("added-"+string(kind), "hitless-b", corev1.IPv4Protocol)
	added.Annotations["metallb.io/loadBalancerIPs"] = "172.32.0.170"
	waitRoute(t, hostPrefix(createService(t, added, 1, 2, 3)[0]), 1, 2, 3)
	untouched("pool changed", steadyEvents(), allSessions...)

	// One Service: deleted.
	if err := l.KubeClient().CoreV1().Services(serviceDomain).Delete(ctx, "changing-"+string(kind), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ip := range changing {
		waitRoute(t, hostPrefix(ip))
	}
	untouched("service deleted", steadyEvents(), allSessions...)

	// One peer: a new one (unreachable), its timers changed, then removed.
	nowhere := peerYAML(kind, "nowhere", netip.MustParseAddr("172.30.0.249"))
	apply(t, nowhere)
	lab.Eventually(t, routeTimeout, "node1 exports the new session", func() error {
		_, err := sessionUp(ctx, l, 1, netip.MustParseAddr("172.30.0.249"))
		return err
	})
	apply(t, peerYAML(kind, "nowhere", netip.MustParseAddr("172.30.0.249"), "  holdTime: 30s"))
	if _, err := l.Kubectl(ctx, nowhere, "delete", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, routeTimeout, "node1 forgets the removed session", func() error {
		if _, err := sessionUp(ctx, l, 1, netip.MustParseAddr("172.30.0.249")); err == nil {
			return fmt.Errorf("node1 still exports the session to 172.30.0.249")
		}
		return nil
	})
	untouched("peer added and removed", steadyEvents(), allSessions...)

	// The IPv6 peer changes its hold time (applied in place), then goes
	// away: only the IPv6 sessions and routes go.
	logStart := speakerLogSize(t, 1)
	apply(t, peerYAML(kind, peerV6, lab.RouterIPv6, "  holdTime: 60s"))
	lab.Eventually(t, routeTimeout, "node1 applies the new hold time", func() error {
		if !strings.Contains(speakerLog(t, 1, logStart), `msg="bgp peer updated" node=node1 component=bgp peer=router-v6`) {
			return fmt.Errorf("node1 has not updated %s yet", peerV6)
		}
		return nil
	})
	untouched("IPv6 peer's hold time changed", steadyEvents(), allSessions...)
	if _, err := l.Kubectl(ctx, peerYAML(kind, peerV6, lab.RouterIPv6), "delete", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	waitRoute(t, steadyV6)
	events := drain(watch)
	if v4 := eventsFor(events, steadyV4); len(v4) > 0 {
		t.Errorf("IPv6 peer removed: the IPv4 route changed: %v", v4)
	}
	untouched("IPv6 peer removed", nil, nodeAddrs(l, false)...)
}
