package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// shutdownCommunication is the message of the Cease (administrative
// shutdown, RFC 9003) a speaker sends its peers when it stops gracefully.
const shutdownCommunication = "ironlb speaker shutting down"

// restartSpeakerAtEnd makes sure node i's speaker runs again after the
// test.
func restartSpeakerAtEnd(t *testing.T, i int) {
	t.Helper()
	l := lab.Shared(t)
	t.Cleanup(func() {
		if !l.SpeakerRunning(context.Background(), i) {
			if err := l.StartSpeaker(i); err != nil {
				t.Errorf("restarting node%d's speaker: %v", i, err)
			}
		}
	})
}

// TestGracefulRestartAndSIGTERM: the speaker offers graceful restart, so
// when it dies (SIGKILL) the router keeps its routes until a new speaker
// renews them (without one it drops them after the restart time the
// speaker offered: the router's timer, not waited out here, since a pod's
// killed container is restarted and renews them); on SIGTERM on a cordoned node (no new speaker expected there) it withdraws
// its routes before closing, so the router drops them at once even though
// it would keep the routes of a restarting peer. (A SIGTERM with a new
// speaker to follow: TestSpeakerRestartKeepsRoutes.)
func TestGracefulRestartAndSIGTERM(t *testing.T) {
	l := setUp(t, lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(t).NodeCount()))
	restoreBase(t, lab.BIRD2)
	restartSpeakerAtEnd(t, 2)
	ctx := t.Context()
	apply(t, grPeers(lab.BIRD2))
	lab.Eventually(t, routeTimeout, "the router sees node2 offer graceful restart", func() error {
		for _, session := range []string{"node2", "node2_v6"} {
			out, err := l.Router().Show(ctx, "show protocols all "+session, false)
			if err != nil {
				return err
			}
			_, neighbor, _ := strings.Cut(out, "Neighbor capabilities")
			neighbor, _, _ = strings.Cut(neighbor, "Session:")
			if !strings.Contains(neighbor, "Graceful restart") || !strings.Contains(out, "Established") {
				return fmt.Errorf("%s: no graceful restart capability from the node (yet):\n%s", session, out)
			}
		}
		return nil
	})
	ips := createService(t, newService("lifecycle", basePool), 1, 2, 3)
	for _, ip := range ips {
		waitRoute(t, hostPrefix(ip), 1, 2, 3)
	}

	// SIGKILL: the session drops without a word; the router keeps node2's
	// paths as stale until a new speaker renews them.
	watch, err := l.Router().WatchRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.KillSpeaker(2, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, false, lab.NodeIPv4(2), lab.NodeIPv6(2))
	for _, ip := range ips {
		if rt, found, err := l.Router().RouteTo(hostPrefix(ip)); err != nil || !found || len(rt.NextHops) != 3 {
			t.Errorf("graceful restart: route %v (found=%v, err=%v), want all three nodes kept", rt, found, err)
		}
		if changes := eventsFor(drain(watch), hostPrefix(ip)); len(changes) > 0 {
			t.Errorf("graceful restart: the router changed %s: %v", ip, changes)
		}
	}
	if err := l.StartSpeaker(2); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		waitRoute(t, hostPrefix(ip), 1, 2, 3)
	}
	waitSessions(t, true, lab.NodeIPv4(2), lab.NodeIPv6(2))

	// SIGTERM on a cordoned node: withdrawn first, then a Cease; the router
	// drops the paths at once (routeTimeout is well under the restart time).
	cordon(t, 2)
	logOffset := speakerLogSize(t, 2)
	if err := l.KillSpeaker(2, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		waitRoute(t, hostPrefix(ip), 1, 3)
	}
	out, err := l.Router().Show(ctx, "show protocols all node2", false)
	if err != nil {
		t.Fatal(err)
	}
	// BIRD shows the shutdown communication of the Cease it received as the
	// session's message; its last error may already be a failed reconnect
	// (the speaker's pod is gone before KillSpeaker returns).
	if !strings.Contains(out, "Message:        "+shutdownCommunication+"\n") {
		t.Errorf("the router did not receive a Cease with the shutdown communication %q from node2:\n%s", shutdownCommunication, out)
	}
	log := speakerLog(t, 2, logOffset)
	if !strings.Contains(log, "speaker stopped") || !strings.Contains(log, "the node is cordoned") {
		t.Errorf("node2's speaker did not stop cleanly, withdrawing because the node is cordoned; see %s", l.SpeakerLogPath(2))
	}
}

// cordon marks node i unschedulable until the test ends, and gives its
// speaker a moment to see it in its Node informer: a speaker reads the
// Node when it stops, to tell whether a new speaker will follow.
func cordon(t *testing.T, i int) {
	t.Helper()
	l := lab.Shared(t)
	if _, err := l.Kubectl(t.Context(), "", "cordon", lab.NodeName(i)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := l.Kubectl(context.Background(), "", "uncordon", lab.NodeName(i)); err != nil {
			t.Errorf("uncordon %s: %v", lab.NodeName(i), err)
		}
	})
	time.Sleep(time.Second)
}

// TestBadPeers: an unreachable peer and a peer that refuses the session
// with a NOTIFICATION are retried with the reason in the log and the
// session exported as down, and touch no other session or route; once
// fixed, the refused session establishes.
func TestBadPeers(t *testing.T) {
	l := setUp(t, lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(t).NodeCount()))
	restoreBase(t, lab.BIRD2)
	ctx := t.Context()
	ips := createService(t, newService("bad-peers", basePool), 1, 2, 3)
	for _, ip := range ips {
		waitRoute(t, hostPrefix(ip), 1, 2, 3)
	}
	before, err := routerSessions(ctx, l.Router())
	if err != nil {
		t.Fatal(err)
	}
	watch, err := l.Router().WatchRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logStart := speakerLogSize(t, 1)

	// Nobody answers at 172.30.0.249; the router refuses AS 64513 (it
	// expects the nodes in AS 64512) with a NOTIFICATION during the OPEN
	// exchange, whose content gobgp does not pass on.
	nowhere := netip.MustParseAddr("172.30.0.249")
	wrongAS := strings.Replace(peerYAML(lab.BIRD2, peerV6, lab.RouterIPv6), fmt.Sprintf("myASN: %d", lab.NodeASN), "myASN: 64513", 1)
	applyTemporarily(t, peerYAML(lab.BIRD2, "nowhere", nowhere))
	apply(t, wrongAS)
	waitRoute(t, hostPrefix(ips[1]))
	lab.Eventually(t, routeTimeout, "node1 logs and exports both failures", func() error {
		log := speakerLog(t, 1, logStart)
		for peer, reason := range map[string]string{
			peerV6:    "session closed during the OPEN exchange (invalid-msg): the peer may have refused it",
			"nowhere": "connect failed: dial tcp 0.0.0.0:0->172.30.0.249:179: ",
		} {
			if !failureLogged(log, peer, reason) {
				return fmt.Errorf("node1's speaker has not logged the failure of %s (%s...) yet", peer, reason)
			}
		}
		for _, addr := range []netip.Addr{nowhere, lab.RouterIPv6} {
			if up, err := sessionUp(ctx, l, 1, addr); err != nil || up != "0" {
				return fmt.Errorf("session to %s: up=%q, err=%v; want 0", addr, up, err)
			}
		}
		return nil
	})
	if changes := eventsFor(drain(watch), hostPrefix(ips[0])); len(changes) > 0 {
		t.Errorf("the IPv4 route changed: %v", changes)
	}
	now, err := routerSessions(ctx, l.Router())
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range nodeAddrs(l, false) {
		if !now[addr].sameAs(before[addr]) || !now[addr].Established {
			t.Errorf("session with %s was %v, now %v", addr, before[addr], now[addr])
		}
	}

	apply(t, peerYAML(lab.BIRD2, peerV6, lab.RouterIPv6))
	waitRoute(t, hostPrefix(ips[1]), 1, 2, 3)
}
