package install

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// bgpConfig is a BGP pool (not auto-assigned) advertised to the router over
// one IPv4 session per node, with graceful restart offered.
var bgpConfig = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: rollout-bgp, namespace: %[1]s}
spec:
  addresses: [%[2]s]
  autoAssign: false
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-v4, namespace: %[1]s}
spec:
  myASN: %[3]d
  peerASN: %[4]d
  peerAddress: "%[5]s"
  connectTime: 1s
  enableGracefulRestart: true
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: rollout-bgp, namespace: %[1]s}
spec:
  ipAddressPools: [rollout-bgp]
`, lab.IronLBNamespace, lab.BGPPoolIPv4, lab.NodeASN, lab.RouterASN, lab.RouterIPv4)

// rolloutSetup is what a rolling restart is measured against: a layer 2
// VIP reached from the client and a BGP VIP reached from ext through the
// router, both Services backed by one pod per node.
type rolloutSetup struct {
	l2, bgp netip.Addr
}

// setUpRollout installs ironlb, the layer 2 Service "rollout" and the BGP
// Service "rollout-bgp", and waits until both answer.
func setUpRollout(ctx context.Context, l *lab.Lab) (rolloutSetup, error) {
	got, err := installAndServe(ctx, l, "rollout", corev1.ServiceExternalTrafficPolicyCluster)
	if err != nil {
		return rolloutSetup{}, err
	}
	if err := l.Apply(ctx, bgpConfig); err != nil {
		return rolloutSetup{}, fmt.Errorf("apply BGP configuration: %w", err)
	}
	svc := lab.NewLoadBalancerService("default", "rollout-bgp")
	svc.Annotations = map[string]string{"metallb.io/address-pool": "rollout-bgp"}
	svc.Spec.Selector = map[string]string{"app": "rollout"}
	svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	if _, err := l.KubeClient().CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return rolloutSetup{}, err
	}
	setup := rolloutSetup{l2: got.ip}
	if setup.bgp, err = l.WaitServiceIP(ctx, "default", "rollout-bgp", time.Minute); err != nil {
		return setup, err
	}
	if err := l.Ext().WaitAnswer(ctx, setup.bgp, 2*time.Minute); err != nil {
		return setup, err
	}
	// The rollout starts from the steady state: every node's path at the
	// router (a VIP that answers may still have one path only, and losing
	// it would be the setup's fault, not the rollout's).
	var everyNode []netip.Addr
	for i := 1; i <= l.NodeCount(); i++ {
		everyNode = append(everyNode, lab.NodeIPv4(i))
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := l.Router().WaitForRoute(waitCtx, netip.PrefixFrom(setup.bgp, 32), true, everyNode...); err != nil {
		return setup, err
	}
	return setup, nil
}

// uninstallRollout removes the BGP Service, then what installAndServe made.
func uninstallRollout(ctx context.Context, l *lab.Lab) error {
	l.KubeClient().CoreV1().Services("default").Delete(ctx, "rollout-bgp", metav1.DeleteOptions{})
	return uninstall(ctx, l, "rollout")
}

// Each request of the load has requestTimeout to be answered; one starts
// every requestInterval.
const (
	requestTimeout  = 500 * time.Millisecond
	requestInterval = 30 * time.Millisecond
)

// load sends requests to one VIP from one host until stopped and counts
// them.
type load struct {
	host       *lab.Host
	ip         netip.Addr
	sent       int
	failures   []string // time and error of each failed request
	answeredBy map[string]int
}

// run sends requests until ctx is done.
func (ld *load) run(ctx context.Context) {
	ld.answeredBy = map[string]int{}
	for ctx.Err() == nil {
		start := time.Now()
		probe, cancel := context.WithTimeout(context.Background(), requestTimeout)
		answer, err := ld.host.Curl(probe, ld.ip)
		cancel()
		ld.sent++
		if err != nil {
			ld.failures = append(ld.failures, start.UTC().Format("15:04:05.000")+" "+err.Error())
		} else {
			ld.answeredBy[answer]++
		}
		select {
		case <-ctx.Done():
		case <-time.After(requestInterval - time.Since(start)):
		}
	}
}

// rollout is what one rolling restart of the speakers measured.
type rollout struct {
	took     time.Duration
	l2, bgp  *load
	oldPods  map[string]string // speaker pod name → node, before the restart
	stopLogs map[string]string // speaker pod name → its "speaker stopped" line ("" when missing)
	stopErrs []error           // why a "speaker stopped" line is missing
	start    time.Time         // when the rollout started
	// routeEvents are the router's kernel route changes for the BGP VIP.
	routeEvents []lab.RouteEvent
}

// settle is how long the load goes on after the rollout finished: the last
// restarted speaker's takeovers happen then.
const settle = 3 * time.Second

// rollingRestart runs `kubectl rollout restart daemonset/speaker` and
// waits for the rollout to finish while a client sends requests to the
// layer 2 VIP and ext to the BGP VIP, and while following the old speakers'
// logs up to their end.
func rollingRestart(ctx context.Context, l *lab.Lab, setup rolloutSetup) (rollout, error) {
	got := rollout{
		l2:       &load{host: l.Client(), ip: setup.l2},
		bgp:      &load{host: l.Ext(), ip: setup.bgp},
		oldPods:  map[string]string{},
		stopLogs: map[string]string{},
	}
	pods, err := l.KubeClient().CoreV1().Pods(lab.IronLBNamespace).List(ctx, metav1.ListOptions{LabelSelector: "component=speaker"})
	if err != nil {
		return got, err
	}
	// The streams end when the old pods go; logsDone bounds them otherwise.
	logCtx, logsDone := context.WithCancel(ctx)
	defer logsDone()
	var logs sync.WaitGroup
	var mu sync.Mutex
	for _, pod := range pods.Items {
		got.oldPods[pod.Name] = pod.Spec.NodeName
		logs.Go(func() {
			line, err := followUntilStopped(logCtx, l, pod.Name)
			mu.Lock()
			got.stopLogs[pod.Name] = line
			if err != nil {
				got.stopErrs = append(got.stopErrs, err)
			}
			mu.Unlock()
		})
	}
	routes, err := l.Router().WatchRoutes(logCtx)
	if err != nil {
		return got, err
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loads sync.WaitGroup
	loads.Go(func() { got.l2.run(loadCtx) })
	loads.Go(func() { got.bgp.run(loadCtx) })
	start := time.Now()
	_, err = l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "rollout", "restart", "daemonset/speaker")
	if err == nil {
		_, err = l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "rollout", "status", "daemonset/speaker", "--timeout=5m")
	}
	got.took = time.Since(start)
	if err == nil {
		time.Sleep(settle)
	}
	stopLoad()
	loads.Wait()
	if err != nil {
		logsDone()
	}
	stop := time.AfterFunc(time.Minute, logsDone)
	logs.Wait()
	stop.Stop()
	got.start = start
	vip := netip.PrefixFrom(setup.bgp, 32)
	for drained := false; !drained; {
		select {
		case e := <-routes:
			if e.Route.Prefix == vip {
				got.routeEvents = append(got.routeEvents, e)
			}
		default:
			drained = true
		}
	}
	return got, err
}

// stoppedLine is the speaker's last log line of a graceful stop.
var stoppedLine = regexp.MustCompile(`speaker stopped.*`)

// followUntilStopped follows a speaker pod's log until it ends (the pod is
// deleted) and returns the "speaker stopped" line, or an error if there
// was none: a speaker SIGKILLed before the end of its stop writes none.
func followUntilStopped(ctx context.Context, l *lab.Lab, pod string) (string, error) {
	stream, err := l.KubeClient().CoreV1().Pods(lab.IronLBNamespace).
		GetLogs(pod, &corev1.PodLogOptions{Container: "speaker", Follow: true, SinceSeconds: ptr.To[int64](1)}).Stream(ctx)
	if err != nil {
		return "", fmt.Errorf("following the log of %s: %w", pod, err)
	}
	defer stream.Close()
	found, lines := "", 0
	scanner := bufio.NewScanner(stream)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		lines++
		if m := stoppedLine.FindString(scanner.Text()); m != "" {
			found = strings.TrimSpace(m)
		}
	}
	if found == "" {
		return "", fmt.Errorf("log of %s: no \"speaker stopped\" in %d lines (read error: %v)", pod, lines, scanner.Err())
	}
	return found, nil
}

// speakersReplaced is nil once every node runs a Ready speaker pod that is
// not one of old.
func speakersReplaced(ctx context.Context, l *lab.Lab, old map[string]string) error {
	for i := 1; i <= l.NodeCount(); i++ {
		pod, err := l.SpeakerPod(ctx, i)
		if err != nil {
			return err
		}
		if _, ok := old[pod.Name]; ok {
			return fmt.Errorf("node%d still runs the old speaker pod %s", i, pod.Name)
		}
		ready := false
		for _, c := range pod.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			return fmt.Errorf("speaker pod %s on node%d not Ready", pod.Name, i)
		}
	}
	return nil
}

// TestRollingRestart: `kubectl rollout restart daemonset/speaker` under
// load replaces every speaker; each old speaker finishes its graceful stop
// within the grace period (its log ends with "speaker stopped"); the router
// keeps a route to the BGP VIP throughout (a new speaker is Ready only once
// its routes are at the router, so the next one's withdrawal never leaves
// the router without a path); afterwards
// every speaker is Ready, neither Service changed its IP, and both VIPs
// answer. The failed requests and the durations are logged, not asserted
// (BenchmarkRollingRestart reports them).
func TestRollingRestart(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	setup, err := setUpRollout(ctx, l)
	t.Cleanup(func() {
		if err := uninstallRollout(context.Background(), l); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rollingRestart(ctx, l, setup)
	if err != nil {
		t.Fatal(err)
	}
	logRollout(t, got)
	if len(got.stopLogs) != len(got.oldPods) {
		t.Errorf("followed %d of the %d old speakers' logs", len(got.stopLogs), len(got.oldPods))
	}
	for _, err := range got.stopErrs {
		t.Errorf("a graceful stop did not finish: %v", err)
	}
	for _, e := range got.routeEvents {
		if e.Deleted {
			t.Errorf("the router lost its route to the BGP VIP %s at %s: for a moment no node announced it",
				setup.bgp, e.Time.UTC().Format("15:04:05.000"))
		}
	}
	if err := speakersReplaced(ctx, l, got.oldPods); err != nil {
		t.Error(err)
	}
	for name, want := range map[string]netip.Addr{"rollout": setup.l2, "rollout-bgp": setup.bgp} {
		if ip, err := l.WaitServiceIP(ctx, "default", name, time.Minute); err != nil || ip != want {
			t.Errorf("Service %s: IP %v (err %v) after the rollout, want %s as before", name, ip, err, want)
		}
	}
	if err := l.Client().WaitAnswer(ctx, setup.l2, 10*time.Second); err != nil {
		t.Error(err)
	}
	if err := l.Ext().WaitAnswer(ctx, setup.bgp, 10*time.Second); err != nil {
		t.Error(err)
	}
	if got.l2.sent == 0 || got.bgp.sent == 0 {
		t.Errorf("no load during the rollout: %d layer 2, %d BGP requests", got.l2.sent, got.bgp.sent)
	}
}

// logRollout logs what a rollout measured.
func logRollout(tb testing.TB, got rollout) {
	tb.Helper()
	tb.Logf("rollout started %s, took %s", got.start.UTC().Format("15:04:05.000"), got.took.Round(100*time.Millisecond))
	for _, e := range got.routeEvents {
		tb.Logf("router %s: %s deleted=%v", e.Time.UTC().Format("15:04:05.000"), e.Route, e.Deleted)
	}
	for name, ld := range map[string]*load{"layer 2": got.l2, "BGP": got.bgp} {
		tb.Logf("%s %s: %d requests, %d failed, answered by %v", name, ld.ip, ld.sent, len(ld.failures), ld.answeredBy)
		for _, f := range ld.failures {
			tb.Logf("  failed %s", f)
		}
	}
	for pod, line := range got.stopLogs {
		tb.Logf("%s (%s): %s", pod, got.oldPods[pod], line)
	}
}

// BenchmarkRollingRestart (pods mode): failed requests during `kubectl
// rollout restart daemonset/speaker`, to a layer 2 VIP from the client
// (l2-failed-requests) and to a BGP VIP from ext through the router
// (bgp-failed-requests, graceful restart offered), one request every 30 ms
// with a 500 ms timeout; rollout-s is the rollout's duration. Per round.
func BenchmarkRollingRestart(b *testing.B) {
	l := lab.Shared(b)
	ctx := b.Context()
	setup, err := setUpRollout(ctx, l)
	b.Cleanup(func() {
		if err := uninstallRollout(context.Background(), l); err != nil {
			b.Error(err)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	var l2Failed, bgpFailed int
	var took time.Duration
	for b.Loop() {
		got, err := rollingRestart(ctx, l, setup)
		if err != nil {
			b.Fatal(err)
		}
		logRollout(b, got)
		l2Failed += len(got.l2.failures)
		bgpFailed += len(got.bgp.failures)
		took += got.took
	}
	b.ReportMetric(float64(l2Failed)/float64(b.N), "l2-failed-requests")
	b.ReportMetric(float64(bgpFailed)/float64(b.N), "bgp-failed-requests")
	b.ReportMetric(took.Seconds()/float64(b.N), "rollout-s")
}
