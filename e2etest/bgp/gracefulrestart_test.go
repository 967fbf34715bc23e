package bgp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// The load of a restart: one request from ext every restartLoadInterval,
// each answered within restartLoadTimeout or counted as failed; it goes
// on for restartSettle after the new speaker's session is up.
const (
	restartLoadInterval = 30 * time.Millisecond
	restartLoadTimeout  = 500 * time.Millisecond
	restartSettle       = 3 * time.Second
)

// grPeers are the base configuration's peers with graceful restart.
func grPeers(kind lab.RouterKind) string {
	return documents(
		peerYAML(kind, peerV4, lab.RouterIPv4, "  enableGracefulRestart: true"),
		peerYAML(kind, peerV6, lab.RouterIPv6, "  enableGracefulRestart: true"),
	)
}

// extLoad sends requests from ext to one VIP until stopped.
type extLoad struct {
	mu       sync.Mutex
	sent     int
	failures []string // time and error of each failed request
}

// run sends requests until ctx is done.
func (ld *extLoad) run(ctx context.Context, ext *lab.Host, ip netip.Addr) {
	for ctx.Err() == nil {
		start := time.Now()
		probe, cancel := context.WithTimeout(context.Background(), restartLoadTimeout)
		_, err := ext.Curl(probe, ip)
		cancel()
		ld.mu.Lock()
		ld.sent++
		if err != nil {
			ld.failures = append(ld.failures, start.UTC().Format("15:04:05.000")+" "+err.Error())
		}
		ld.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(restartLoadInterval - time.Since(start)):
		}
	}
}

// restartResult is what one restart of node2's speaker under load measured.
type restartResult struct {
	sent        int
	failures    []string
	routeEvents []lab.RouteEvent // the router's kernel changes of the VIP's route
	restartCap  string           // how the router shows the new session's Restart State bit
}

// setUpNode2Only configures graceful-restart peers on kind's router and a
// Service with externalTrafficPolicy Local whose only endpoint is on node2,
// so that only node2 announces it; it returns the Service's IPv4 address.
func setUpNode2Only(tb testing.TB, kind lab.RouterKind) netip.Addr {
	tb.Helper()
	l := setUp(tb, lab.DefaultRouterConfig(kind, lab.Shared(tb).NodeCount()))
	restoreBase(tb, kind)
	apply(tb, grPeers(kind))
	svc := newService("gr-node2", basePool, corev1.IPv4Protocol)
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	ip := createService(tb, svc, 2)[0]
	waitRoute(tb, hostPrefix(ip), 2)
	curlFromExt(tb, ip, 2)
	lab.Eventually(tb, routeTimeout, "the router sees node2 offer graceful restart", func() error {
		_, _, err := restartStateShown(tb.Context(), l.Router(), lab.NodeIPv4(2))
		return err
	})
	return ip
}

// restartSpeakerUnderLoad deletes node2's speaker pod (the DaemonSet
// creates a new one, as in a rolling update) while ext sends requests to
// ip, and returns once the new speaker's session has been up for
// restartSettle.
func restartSpeakerUnderLoad(tb testing.TB, ip netip.Addr) restartResult {
	tb.Helper()
	l := lab.Shared(tb)
	ctx := tb.Context()
	old, err := l.SpeakerPod(ctx, 2)
	if err != nil {
		tb.Fatal(err)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch, err := l.Router().WatchRoutes(watchCtx)
	if err != nil {
		tb.Fatal(err)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	ld := &extLoad{}
	var loading sync.WaitGroup
	loading.Go(func() { ld.run(loadCtx, l.Ext(), ip) })
	defer func() { stopLoad(); loading.Wait() }()

	if err := l.KubeClient().CoreV1().Pods(old.Namespace).Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
		tb.Fatal(err)
	}
	lab.Eventually(tb, 2*time.Minute, "node2's new speaker pod runs", func() error {
		pod, err := l.SpeakerPod(ctx, 2)
		if err != nil {
			return err
		}
		if pod.UID == old.UID {
			return fmt.Errorf("still the old pod %s", pod.Name)
		}
		for _, s := range pod.Status.ContainerStatuses {
			if s.Name == "speaker" && s.State.Running != nil {
				return nil
			}
		}
		return fmt.Errorf("new pod %s: %s", pod.Name, pod.Status.Phase)
	})
	var restartCap string
	lab.Eventually(tb, routeTimeout, "node2's new session opened with the Restart State bit", func() error {
		shown, out, err := restartStateShown(ctx, l.Router(), lab.NodeIPv4(2))
		if err == nil && shown == "" {
			return fmt.Errorf("no Restart State bit (yet):\n%s", out)
		}
		restartCap = shown
		return err
	})
	waitRoute(tb, hostPrefix(ip), 2)
	time.Sleep(restartSettle)
	stopLoad()
	loading.Wait()
	stopWatch()
	return restartResult{sent: ld.sent, failures: ld.failures, routeEvents: eventsFor(drain(watch), hostPrefix(ip)), restartCap: restartCap}
}

// restartStateShown returns how the router shows the Restart State (R) bit
// of the graceful restart capability in node's established session ("" when
// it is clear) and the router's output, or an error when the session is not
// established or has no graceful restart capability.
func restartStateShown(ctx context.Context, r *lab.Router, node netip.Addr) (shown, out string, err error) {
	if r.Kind() == lab.FRR {
		out, err = r.Show(ctx, "show bgp neighbors "+node.String()+" json", false)
		if err != nil {
			return "", out, err
		}
		var neighbors map[string]struct {
			State string `json:"bgpState"`
			GR    *struct {
				RBit bool `json:"rBit"`
			} `json:"gracefulRestartInfo"`
		}
		if err := json.Unmarshal([]byte(out), &neighbors); err != nil {
			return "", out, fmt.Errorf("FRR neighbor: %w: %s", err, out)
		}
		n := neighbors[node.String()]
		switch {
		case n.State != "Established" || n.GR == nil:
			return "", out, fmt.Errorf("FRR neighbor %s: not established with graceful restart: %s", node, out)
		case n.GR.RBit:
			return `"rBit": true`, out, nil
		}
		return "", out, nil
	}
	out, err = r.Show(ctx, "show protocols all "+lab.NodeName(2), false)
	if err != nil {
		return "", out, err
	}
	_, caps, _ := strings.Cut(out, "Neighbor capabilities")
	caps, _, _ = strings.Cut(caps, "Session:")
	if !strings.Contains(out, "Established") || !strings.Contains(caps, "Graceful restart") {
		return "", out, fmt.Errorf("BIRD %s: not established with graceful restart:\n%s", lab.NodeName(2), out)
	}
	if strings.Contains(caps, "Restart recovery") {
		return "Restart recovery", out, nil
	}
	return "", out, nil
}

// checkRestart fails the test if a request failed or the router's kernel
// lost the route during the restart.
func checkRestart(tb testing.TB, got restartResult) {
	tb.Helper()
	tb.Logf("%d requests, %d failed; the router showed %q", got.sent, len(got.failures), got.restartCap)
	for _, f := range got.failures {
		tb.Errorf("request failed: %s", f)
	}
	for _, e := range got.routeEvents {
		if e.Deleted {
			tb.Errorf("the router's kernel lost %s at %s", e.Route, e.Time.UTC().Format("15:04:05.000"))
		}
	}
	if got.sent == 0 {
		tb.Error("no request was sent during the restart")
	}
}

// TestSpeakerRestartKeepsRoutes: with graceful restart, a speaker pod
// deleted and replaced by the DaemonSet (a rolling update) leaves its
// routes with the router, BIRD 2 and FRR alike: the only node that
// announces a Service restarts while ext sends it requests, and none fails;
// the route never leaves the router's kernel table; the new speaker's
// session opens with the Restart State bit.
func TestSpeakerRestartKeepsRoutes(t *testing.T) {
	for _, kind := range []lab.RouterKind{lab.BIRD2, lab.FRR} {
		t.Run(string(kind), func(t *testing.T) {
			ip := setUpNode2Only(t, kind)
			checkRestart(t, restartSpeakerUnderLoad(t, ip))
		})
	}
}

// BenchmarkSpeakerRestartGR (pods mode): failed requests from ext to a VIP
// that only node2 announces while node2's speaker pod is deleted and
// replaced, graceful restart on, against BIRD 2 and FRR (failed-requests per
// restart); restart-requests is how many were sent during one.
func BenchmarkSpeakerRestartGR(b *testing.B) {
	for _, kind := range []lab.RouterKind{lab.BIRD2, lab.FRR} {
		b.Run(string(kind), func(b *testing.B) {
			ip := setUpNode2Only(b, kind)
			var failed, sent int
			for b.Loop() {
				got := restartSpeakerUnderLoad(b, ip)
				checkRestart(b, got)
				failed += len(got.failures)
				sent += got.sent
			}
			b.ReportMetric(float64(failed)/float64(b.N), "failed-requests")
			b.ReportMetric(float64(sent)/float64(b.N), "restart-requests")
		})
	}
}
