package bgp

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// bfdRouterConfig is BIRD 2's default lab configuration with BFD on the
// IPv4 sessions: "protocol bfd" with the given interface options and "bfd
// on" in the IPv4 template.
func bfdRouterConfig(t testing.TB, nodes int, options string) lab.RouterConfig {
	t.Helper()
	config := lab.DefaultRouterConfig(lab.BIRD2, nodes)
	device, template := "protocol device { }\n", "template bgp nodes_v4 {\n"
	if !strings.Contains(config.Config, device) || !strings.Contains(config.Config, template) {
		t.Fatalf("the lab's BIRD 2 configuration changed shape:\n%s", config.Config)
	}
	config.Config = strings.Replace(config.Config, device, device+"protocol bfd { interface \"*\" { "+options+" }; }\n", 1)
	config.Config = strings.Replace(config.Config, template, template+"  bfd on;\n", 1)
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
	restoreBase(t, lab.BIRD2)
	apply(t, peerYAML(lab.BIRD2, peerV4, lab.RouterIPv4, "  bfdProfile: "+name))
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
	config := bfdRouterConfig(t, l.NodeCount(), "min rx interval 100 ms; min tx interval 200 ms; multiplier 5;")
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
	want := fmt.Sprintf("metallb_bfd_session_up{peer=%q} 1", lab.RouterIPv4.String())
	lab.Eventually(t, 30*time.Second, "every speaker exports "+want, func() error {
		for i := 1; i <= l.NodeCount(); i++ {
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

// BenchmarkBGPFrozenSpeakerBFD is BenchmarkBGPFrozenSpeaker with BFD on
// node3's IPv4 session, 100 ms × 3 on both sides: the router drops the
// frozen node's path when its BFD detection time (300 ms) expires instead
// of its hold timer. Reports how long after the SIGSTOP the router dropped
// the path (target: p50 ≤ 0.4 s, p99 ≤ 0.5 s).
func BenchmarkBGPFrozenSpeakerBFD(b *testing.B) {
	benchBFDOutage(b, "frozen-bfd",
		func(ctx context.Context, l *lab.Lab) error { return l.SignalSpeaker(ctx, 3, syscall.SIGSTOP) },
		func(ctx context.Context, l *lab.Lab) error { return l.SignalSpeaker(ctx, 3, syscall.SIGCONT) })
}

// BenchmarkBGPLinkCutBFD: node3's link goes down (its port on the lab
// bridge; the router's own link stays up, so only BFD can tell), with BFD
// 100 ms × 3. Reports how long after the cut the router dropped the node's
// path (target: p50 ≤ 0.4 s, p99 ≤ 0.5 s).
func BenchmarkBGPLinkCutBFD(b *testing.B) {
	benchBFDOutage(b, "linkcut-bfd",
		func(ctx context.Context, l *lab.Lab) error { return l.Partition(ctx, 3) },
		func(ctx context.Context, l *lab.Lab) error { return l.Heal(ctx, 3) })
}

// benchBFDOutage measures, over trials, how long after cut the router drops
// node3's path to a Service's address, with BFD 100 ms × 3 on the IPv4
// sessions; restore undoes cut after each trial.
func benchBFDOutage(b *testing.B, service string, cut, restore func(context.Context, *lab.Lab) error) {
	const trials = 10
	for range b.N {
		l := lab.Shared(b)
		config := bfdRouterConfig(b, l.NodeCount(), "min rx interval 100 ms; min tx interval 100 ms; multiplier 3;")
		useBFD(b, config, "bfd-bench", bfdProfileYAML("bfd-bench", 100, 100, 3))
		ctx := b.Context()
		ip := createService(b, newService(service, basePool, corev1.IPv4Protocol), 1, 2, 3)[0]
		waitRoute(b, hostPrefix(ip), 1, 2, 3)
		out, err := l.Router().Show(ctx, "show bfd sessions", false)
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
		}
		seconds := func(d time.Duration) float64 { return d.Seconds() }
		b.ReportMetric(seconds(percentile(detect, 0.5)), "detect-s")
		b.ReportMetric(seconds(percentile(detect, 0.99)), "p99-detect-s")
		b.ReportMetric(seconds(slices.Min(detect)), "min-detect-s")
		b.ReportMetric(seconds(slices.Max(detect)), "max-detect-s")
		b.Logf("%d trials: %v", trials, detect)
	}
}
