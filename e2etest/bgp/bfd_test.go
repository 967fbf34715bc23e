package bgp

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// bfdRouterConfig is the lab's default configuration of kind (BIRD 2 or
// FRR) with BFD on the IPv4 sessions, the router's side wanting packets no
// faster than every receive ms, sending no faster than every transmit ms,
// and failing after multiplier packets lost: BIRD 2's "protocol bfd" and
// "bfd on" in the IPv4 template; FRR's bfdd with profile "lab" and
// "neighbor nodes4 bfd profile lab".
func bfdRouterConfig(t testing.TB, kind lab.RouterKind, nodes, receive, transmit, multiplier int) lab.RouterConfig {
	t.Helper()
	config := lab.DefaultRouterConfig(kind, nodes)
	insertAfter := func(anchor, text string) {
		t.Helper()
		if !strings.Contains(config.Config, anchor) {
			t.Fatalf("the lab's %s configuration changed shape (no %q):\n%s", kind, anchor, config.Config)
		}
		config.Config = strings.Replace(config.Config, anchor, anchor+text, 1)
	}
	switch kind {
	case lab.BIRD2:
		insertAfter("protocol device { }\n", fmt.Sprintf("protocol bfd { interface \"*\" { min rx interval %d ms; min tx interval %d ms; multiplier %d; }; }\n",
			receive, transmit, multiplier))
		insertAfter("template bgp nodes_v4 {\n", "  bfd on;\n")
	case lab.FRR:
		config.BFDD = fmt.Sprintf("bfd\n profile lab\n  receive-interval %d\n  transmit-interval %d\n  detect-multiplier %d\n !\n!\n",
			receive, transmit, multiplier)
		insertAfter(" neighbor nodes4 timers connect 5\n", " neighbor nodes4 bfd profile lab\n")
	default:
		t.Fatalf("no BFD configuration for router %s", kind)
	}
	return config
}

// bfdProfileYAML is a BFDProfile.
func bfdProfileYAML(name string, receive, transmit, multiplier int) string {
	return fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: %s
  namespace: %s
spec:
  receiveInterval: %d
  transmitInterval: %d
  detectMultiplier: %d
`, name, lab.IronLBNamespace, receive, transmit, multiplier)
}

// useBFD runs config on the router and gives the IPv4 BGPPeer the
// BFDProfile profile (the YAML of bfdProfileYAML(name, …)), restarting the
// router's sessions so they start with BFD.
func useBFD(t testing.TB, config lab.RouterConfig, name, profile string) *lab.Lab {
	t.Helper()
	l := setUp(t, config)
	applyTemporarily(t, profile)
	restoreBase(t, config.Kind)
	apply(t, peerYAML(config.Kind, peerV4, lab.RouterIPv4, "  bfdProfile: "+name))
	if err := l.Router().Use(t.Context(), config); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, true, append(nodeAddrs(l, false), nodeAddrs(l, true)...)...)
	return l
}

// birdBFDLine is a session line of BIRD 2's "show bfd sessions": address,
// interface, state, since, transmit interval and detection time in seconds.
var birdBFDLine = regexp.MustCompile(`(?m)^(\S+)\s+\S+\s+(\w+)\s+\S+(?:\s+\S+)?\s+([\d.]+)\s+([\d.]+)\s*$`)

// TestBFDIntervalsWithBIRD: every node's BFD session comes Up with BIRD 2,
// each side with other intervals, and BIRD shows the ones RFC 5880
// prescribes: it sends at max(its 200 ms, our 150 ms receive) and detects
// after our 3 × max(its 100 ms receive, our 100 ms transmit). Every speaker
// exports the session as metallb_bfd_session_up 1.
func TestBFDIntervalsWithBIRD(t *testing.T) {
	l := lab.Shared(t)
	config := bfdRouterConfig(t, lab.BIRD2, l.NodeCount(), 100, 200, 5)
	useBFD(t, config, "bfd-intervals", bfdProfileYAML("bfd-intervals", 150, 100, 3))
	lab.Eventually(t, 30*time.Second, "BIRD shows every node's BFD session Up with 0.200/0.300 s", func() error {
		out, err := l.Router().Show(t.Context(), "show bfd sessions", false)
		if err != nil {
			return err
		}
		up := 0
		for _, m := range birdBFDLine.FindAllStringSubmatch(out, -1) {
			if m[2] == "Up" && m[3] == "0.200" && m[4] == "0.300" {
				up++
			}
		}
		if up != l.NodeCount() {
			return fmt.Errorf("%d of %d sessions Up with the RFC's intervals:\n%s", up, l.NodeCount(), out)
		}
		return nil
	})
	waitBFDMetrics(t, l, 1)
	// Ours: send every max(100, its 100) ms, detect after its 5 × max(150, its 200) ms.
	waitBFDStatus(t, l, "Up, transmit 100ms, detection 1s")
}

// frrBFDPeer is what FRR's "show bfd peers json" says of one session: its
// own timers and those the node sent it. (FRR 8.4 does not show the
// negotiated intervals; it derives them from these as RFC 5880 §6.8 says.)
type frrBFDPeer struct {
	Peer                   string `json:"peer"`
	Multihop               bool   `json:"multihop"`
	Status                 string `json:"status"`
	DetectMultiplier       int    `json:"detect-multiplier"`
	ReceiveInterval        int    `json:"receive-interval"`
	TransmitInterval       int    `json:"transmit-interval"`
	RemoteDetectMultiplier int    `json:"remote-detect-multiplier"`
	RemoteReceiveInterval  int    `json:"remote-receive-interval"`
	RemoteTransmitInterval int    `json:"remote-transmit-interval"`
}

// TestBFDIntervalsWithFRR: every node's BFD session comes Up with FRR's bfdd
// (profile: receive 200 ms, transmit 300 ms, × 4; ours 150 ms, 100 ms, × 3),
// single hop, and FRR shows the intervals each side advertises; every
// speaker exports the session as metallb_bfd_session_up 1.
func TestBFDIntervalsWithFRR(t *testing.T) {
	l := lab.Shared(t)
	config := bfdRouterConfig(t, lab.FRR, l.NodeCount(), 200, 300, 4)
	useBFD(t, config, "bfd-intervals", bfdProfileYAML("bfd-intervals", 150, 100, 3))
	want := frrBFDPeer{Status: "up", DetectMultiplier: 4, ReceiveInterval: 200, TransmitInterval: 300,
		RemoteDetectMultiplier: 3, RemoteReceiveInterval: 150, RemoteTransmitInterval: 100}
	lab.Eventually(t, 30*time.Second, fmt.Sprintf("FRR shows every node's BFD session as %+v", want), func() error {
		peers, out, err := frrBFDPeers(t, l)
		if err != nil {
			return err
		}
		for _, node := range nodeAddrs(l, false) {
			i := slices.IndexFunc(peers, func(p frrBFDPeer) bool { return p.Peer == node.String() })
			if i < 0 {
				return fmt.Errorf("no BFD session with %s:\n%s", node, out)
			}
			got := peers[i]
			got.Peer = ""
			if got != want {
				return fmt.Errorf("session with %s: %+v", node, got)
			}
		}
		return nil
	})
	waitBFDMetrics(t, l, 1)
	// FRR 8.4 does not show the negotiated intervals; ours: send every
	// max(100, its 200) ms, detect after its 4 × max(150, its 300) ms.
	waitBFDStatus(t, l, "Up, transmit 200ms, detection 1.2s")
}

// frrBFDPeers returns FRR's BFD sessions and the output they were read from.
func frrBFDPeers(t testing.TB, l *lab.Lab) ([]frrBFDPeer, string, error) {
	out, err := l.Router().Show(t.Context(), "show bfd peers json", false)
	if err != nil {
		return nil, "", err
	}
	var peers []frrBFDPeer
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return nil, out, fmt.Errorf("%w: %s", err, out)
	}
	return peers, out, nil
}

// waitBFDStatus waits until `controller status` shows every node's BFD
// session with the router's IPv4 address as want (state and intervals).
func waitBFDStatus(t testing.TB, l *lab.Lab, want string) {
	t.Helper()
	lab.Eventually(t, 30*time.Second, "controller status shows every node's BFD session "+want, func() error {
		out, err := exec.CommandContext(t.Context(), l.ControllerBinary(), "status", "--kubeconfig", l.Kubeconfig(), "--namespace", lab.IronLBNamespace).CombinedOutput()
		if err != nil {
			return fmt.Errorf("controller status: %w\n%s", err, out)
		}
		for i := 1; i <= l.NodeCount(); i++ {
			if !logHasLine(string(out), lab.NodeName(i)+" ", " "+lab.RouterIPv4.String()+": "+want) {
				return fmt.Errorf("%s's BFD session is not shown as %q:\n%s", lab.NodeName(i), want, out)
			}
		}
		return nil
	})
}

// waitBFDMetrics waits until the speakers of nodes (all when none) export
// their BFD session with the router's IPv4 address as
// metallb_bfd_session_up up (1 or 0).
func waitBFDMetrics(t testing.TB, l *lab.Lab, up int, nodes ...int) {
	t.Helper()
	if len(nodes) == 0 {
		for i := 1; i <= l.NodeCount(); i++ {
			nodes = append(nodes, i)
		}
	}
	want := fmt.Sprintf("metallb_bfd_session_up{peer=%q} %d", lab.RouterIPv4.String(), up)
	lab.Eventually(t, 30*time.Second, fmt.Sprintf("the speakers of nodes %v export %s", nodes, want), func() error {
		for _, i := range nodes {
			body, err := lab.Scrape(t.Context(), l.SpeakerMetricsURL(i))
			if err != nil {
				return err
			}
			if !strings.Contains(body, want) || !strings.Contains(body, "metallb_bfd_control_packet_input{") {
				return fmt.Errorf("node%d's speaker does not export %s", i, want)
			}
		}
		return nil
	})
}

// TestBFDRouterFrozen: the router's BGP and BFD daemons are frozen (SIGSTOP;
// their sockets stay open, so only BFD can tell before the 90 s hold
// time). Every speaker's BFD session fails on its detection time
// (100 ms × 3) and the speaker resets its BGP session to the router, as
// its log and metallb_bgp_session_up say; thawed, everything comes back.
func TestBFDRouterFrozen(t *testing.T) {
	for _, kind := range []lab.RouterKind{lab.BIRD2, lab.FRR} {
		t.Run(string(kind), func(t *testing.T) {
			l := lab.Shared(t)
			useBFD(t, bfdRouterConfig(t, kind, l.NodeCount(), 100, 100, 3), "bfd-frozen", bfdProfileYAML("bfd-frozen", 100, 100, 3))
			waitBFDMetrics(t, l, 1)
			offsets := make([]int64, l.NodeCount()+1)
			for i := 1; i <= l.NodeCount(); i++ {
				offsets[i] = speakerLogSize(t, i)
			}
			if err := l.Router().Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			thawed := false
			thaw := func() {
				if !thawed {
					thawed = true
					if err := l.Router().Signal(syscall.SIGCONT); err != nil {
						t.Error(err)
					}
				}
			}
			t.Cleanup(thaw)
			reset := []string{`msg="bgp session reset: its BFD session failed"`, " address=" + lab.RouterIPv4.String() + " ", `diag="control detection time expired"`}
			lab.Eventually(t, 30*time.Second, "every speaker resets its session to the frozen router after BFD failed", func() error {
				for i := 1; i <= l.NodeCount(); i++ {
					if !logHasLine(speakerLog(t, i, offsets[i]), reset...) {
						return fmt.Errorf("node%d's speaker has not logged %q", i, reset)
					}
					if up, err := sessionUp(t.Context(), l, i, lab.RouterIPv4); err != nil || up != "0" {
						return fmt.Errorf("node%d: metallb_bgp_session_up %q (%v), want 0", i, up, err)
					}
				}
				return nil
			})
			waitBFDMetrics(t, l, 0)
			waitBFDStatus(t, l, "Down (control detection time expired)")
			thaw()
			waitSessions(t, true, append(nodeAddrs(l, false), nodeAddrs(l, true)...)...)
			waitBFDMetrics(t, l, 1)
		})
	}
}

// waitRouterBFDUp waits until the router (BIRD 2 or FRR) has every node's
// BFD session Up: a speaker's side can be Up while the router's is not.
func waitRouterBFDUp(t testing.TB, l *lab.Lab) {
	t.Helper()
	lab.Eventually(t, 30*time.Second, "the router has every node's BFD session Up", func() error {
		up, shown := 0, ""
		switch l.Router().Kind() {
		case lab.FRR:
			peers, out, err := frrBFDPeers(t, l)
			if err != nil {
				return err
			}
			shown = out
			for _, p := range peers {
				if p.Status == "up" {
					up++
				}
			}
		default:
			out, err := l.Router().Show(t.Context(), "show bfd sessions", false)
			if err != nil {
				return err
			}
			shown = out
			for _, m := range birdBFDLine.FindAllStringSubmatch(out, -1) {
				if m[2] == "Up" {
					up++
				}
			}
		}
		if up != l.NodeCount() {
			// The router's view (FRR: discriminators and remote state) says which side waits.
			return fmt.Errorf("%d of %d sessions Up at the router:\n%s", up, l.NodeCount(), shown)
		}
		return nil
	})
}

// logHasLine reports whether a line of log holds every one of parts.
func logHasLine(log string, parts ...string) bool {
	for line := range strings.SplitSeq(log, "\n") {
		if !slices.ContainsFunc(parts, func(part string) bool { return !strings.Contains(line, part) }) {
			return true
		}
	}
	return false
}

// BenchmarkBGPFrozenSpeakerBFD is BenchmarkBGPFrozenSpeaker with BFD on
// node3's IPv4 session, 100 ms × 3 on both sides, against BIRD 2 and FRR:
// the router drops the frozen node's path when its BFD detection time
// (300 ms) expires instead of its hold timer. Reports how long after the
// SIGSTOP the router dropped the path (target: p50 ≤ 0.4 s, p99 ≤ 0.5 s).
func BenchmarkBGPFrozenSpeakerBFD(b *testing.B) {
	benchBFDOutage(b, "frozen-bfd",
		func(ctx context.Context, l *lab.Lab) error { return l.SignalSpeaker(ctx, 3, syscall.SIGSTOP) },
		func(ctx context.Context, l *lab.Lab) error { return l.SignalSpeaker(ctx, 3, syscall.SIGCONT) })
}

// BenchmarkBGPLinkCutBFD: node3's link goes down (its port on the lab
// bridge; the router's own link stays up, so only BFD can tell), with BFD
// 100 ms × 3, against BIRD 2 and FRR. Reports how long after the cut the
// router dropped the node's path (target: p50 ≤ 0.4 s, p99 ≤ 0.5 s).
func BenchmarkBGPLinkCutBFD(b *testing.B) {
	benchBFDOutage(b, "linkcut-bfd",
		func(ctx context.Context, l *lab.Lab) error { return l.Partition(ctx, 3) },
		func(ctx context.Context, l *lab.Lab) error { return l.Heal(ctx, 3) })
}

// benchBFDOutage runs benchBFDOutageWith once per router with BFD.
func benchBFDOutage(b *testing.B, service string, cut, restore func(context.Context, *lab.Lab) error) {
	for _, kind := range []lab.RouterKind{lab.BIRD2, lab.FRR} {
		b.Run(string(kind), func(b *testing.B) { benchBFDOutageWith(b, kind, service+"-"+string(kind), cut, restore) })
	}
}

// benchBFDOutageWith measures, over trials, how long after cut the router
// (of kind) drops node3's path to a Service's address, with BFD 100 ms × 3
// on the IPv4 sessions; restore undoes cut after each trial.
func benchBFDOutageWith(b *testing.B, kind lab.RouterKind, service string, cut, restore func(context.Context, *lab.Lab) error) {
	const trials = 10
	for range b.N {
		l := lab.Shared(b)
		useBFD(b, bfdRouterConfig(b, kind, l.NodeCount(), 100, 100, 3), "bfd-bench", bfdProfileYAML("bfd-bench", 100, 100, 3))
		ctx := b.Context()
		ip := createService(b, newService(service, basePool, corev1.IPv4Protocol), 1, 2, 3)[0]
		waitRoute(b, hostPrefix(ip), 1, 2, 3)
		// FRR's bgpd asks bfdd for the sessions some seconds after BGP is up.
		waitBFDMetrics(b, l, 1)
		waitRouterBFDUp(b, l)
		command := map[lab.RouterKind]string{lab.BIRD2: "show bfd sessions", lab.FRR: "show bfd peers brief"}[kind]
		out, err := l.Router().Show(ctx, command, false)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("BFD sessions at the router:\n%s", out)
		events, err := l.Router().WatchRoutes(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var detect []time.Duration
		b.Cleanup(func() { _ = restore(context.Background(), l) })
		for range trials {
			drain(events)
			if err := cut(ctx, l); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			dropped := nextEventWithin(b, events, 30*time.Second, func(ev lab.RouteEvent) bool {
				return ev.Route.Prefix == hostPrefix(ip) && !slices.Contains(ev.Route.NextHops, lab.NodeIPv4(3))
			})
			if err := restore(ctx, l); err != nil {
				b.Fatal(err)
			}
			detect = append(detect, dropped.Time.Sub(start))
			waitRoute(b, hostPrefix(ip), 1, 2, 3)
			waitBFDMetrics(b, l, 1, 3) // the next trial measures BFD, not the hold timer
			waitRouterBFDUp(b, l)
		}
		seconds := func(d time.Duration) float64 { return d.Seconds() }
		b.ReportMetric(seconds(percentile(detect, 0.5)), "detect-s")
		b.ReportMetric(seconds(percentile(detect, 0.99)), "p99-detect-s")
		b.ReportMetric(seconds(slices.Min(detect)), "min-detect-s")
		b.ReportMetric(seconds(slices.Max(detect)), "max-detect-s")
		b.Logf("%d trials: %v", trials, detect)
	}
}
