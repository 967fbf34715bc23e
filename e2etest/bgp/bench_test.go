package bgp

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// The latency benchmarks time one Service at a time, from the start of the
// API call that writes it (the lab's warm clientset) to the netlink event of
// the change in the router namespace's kernel table. The package's lab runs
// ironlb as pods (TestMain); the benchmarks' Services have no selector and
// the benchmark writes their EndpointSlices before creating them (see
// endpointsFirst), so that the figures time ironlb, not
// kube-controller-manager.
const (
	latencyTrials = 50
	// settle lets the speakers' status writes and the router calm down
	// between trials.
	settle = 300 * time.Millisecond
)

// BenchmarkBGPRouteInstall: Service created (its endpoints exist already)
// → its /32 in the router's kernel table (the first path of three).
// api-call-p50-ms is how long the create call itself took.
func BenchmarkBGPRouteInstall(b *testing.B) {
	for range b.N {
		l := routeLatencies(b)
		reportPercentiles(b, l.install)
		b.ReportMetric(ms(percentile(l.createCall, 0.5)), "api-call-p50-ms")
	}
}

// BenchmarkBGPRouteWithdraw: Service deleted → its /32 gone from the
// router's kernel table (the last of the three nodes withdrew it).
// api-call-p50-ms is how long the delete call itself took.
func BenchmarkBGPRouteWithdraw(b *testing.B) {
	for range b.N {
		l := routeLatencies(b)
		reportPercentiles(b, l.withdraw)
		b.ReportMetric(ms(percentile(l.deleteCall, 0.5)), "api-call-p50-ms")
	}
}

// latencies are the durations measured by routeLatencies, one per trial.
type latencies struct {
	install, withdraw      []time.Duration // API call start → router's kernel table
	createCall, deleteCall []time.Duration // API call start → its return
}

// routeLatencies creates and deletes latencyTrials IPv4 Services, one at a
// time, advertised by all three nodes, and measures how long each took to
// reach and to leave the router's kernel table.
func routeLatencies(b *testing.B) latencies {
	l := setUp(b, lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(b).NodeCount()))
	waitAllSessions(b, l)
	ctx := b.Context()
	services := l.KubeClient().CoreV1().Services(serviceDomain)
	if _, err := services.List(ctx, metav1.ListOptions{Limit: 1}); err != nil { // warm the connection
		b.Fatal(err)
	}
	pool := netip.MustParsePrefix(basePoolV4)
	events, err := l.Router().WatchRoutes(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var measured latencies
	for i := range latencyTrials {
		svc := newService(fmt.Sprintf("latency-%d", i), basePool, corev1.IPv4Protocol)
		if err := endpointsFirst(ctx, l, svc); err != nil {
			b.Fatal(err)
		}
		drain(events)
		start := time.Now()
		if _, err := services.Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		measured.createCall = append(measured.createCall, time.Since(start))
		added := nextEvent(b, events, func(ev lab.RouteEvent) bool { return !ev.Deleted && pool.Contains(ev.Route.Prefix.Addr()) })
		measured.install = append(measured.install, added.Time.Sub(start))
		prefix := added.Route.Prefix
		waitRoute(b, prefix, 1, 2, 3)
		time.Sleep(settle)

		drain(events)
		start = time.Now()
		if err := services.Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		measured.deleteCall = append(measured.deleteCall, time.Since(start))
		gone := nextEvent(b, events, func(ev lab.RouteEvent) bool { return ev.Deleted && ev.Route.Prefix == prefix })
		measured.withdraw = append(measured.withdraw, gone.Time.Sub(start))
		if rt, found, err := l.Router().RouteTo(prefix); err != nil || found {
			b.Fatalf("trial %d: %s deleted from the kernel table, but a route is left: %v (err %v)", i, prefix, rt, err)
		}
		if err := l.KubeClient().DiscoveryV1().EndpointSlices(serviceDomain).Delete(ctx, svc.Name+"-lab-ipv4", metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(settle)
	}
	return measured
}

// endpointsFirst makes svc a Service without a selector and writes its
// EndpointSlices, one ready endpoint on each of nodes 1-3, before the
// Service exists, as its pods' endpoints would exist before it; with no
// selector, kube-controller-manager leaves them alone. The slices
// (<name>-lab-ipv4) outlive the Service: delete them after it.
func endpointsFirst(ctx context.Context, l *lab.Lab, svc *corev1.Service) error {
	svc.Spec.Selector = nil
	return l.SetEndpointConditions(ctx, svc, lab.ReadyEndpoints(1, 2, 3))
}

// waitAllSessions waits until the router has every node's sessions up.
func waitAllSessions(b *testing.B, l *lab.Lab) {
	waitSessions(b, true, append(nodeAddrs(l, false), nodeAddrs(l, true)...)...)
}

// nextEvent waits up to routeTimeout for the next route event that matches.
func nextEvent(b *testing.B, events <-chan lab.RouteEvent, match func(lab.RouteEvent) bool) lab.RouteEvent {
	b.Helper()
	return nextEventWithin(b, events, routeTimeout, match)
}

// percentile is the nearest-rank percentile p (0 < p ≤ 1) of durations.
func percentile(durations []time.Duration, p float64) time.Duration {
	sorted := slices.Clone(durations)
	slices.Sort(sorted)
	return sorted[max(0, int(math.Ceil(p*float64(len(sorted))))-1)]
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportPercentiles reports p50, p99 and the extremes in milliseconds.
func reportPercentiles(b *testing.B, durations []time.Duration) {
	b.ReportMetric(ms(percentile(durations, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(durations, 0.99)), "p99-ms")
	b.ReportMetric(ms(slices.Min(durations)), "min-ms")
	b.ReportMetric(ms(slices.Max(durations)), "max-ms")
	b.Logf("%d trials (ms): %v", len(durations), durations)
}

// scalePool is where the scale benchmark's Services take their addresses:
// 16,384 addresses of the benchmarking range (RFC 2544), routed only inside
// the router namespace.
var scalePool = netip.MustParsePrefix("198.18.0.0/18")

// scaleNamespace holds the scale benchmark's Services and EndpointSlices.
const scaleNamespace = "bgp-scale"

// BenchmarkBGPScale writes n Services in a burst (32 concurrent writers,
// no client-side rate limit) and reports, from the last write's return,
// when the controller had assigned them all (assigned-s) and when all n
// prefixes were in the router's kernel table (converge-s), the same from
// the first write (first-write-to-converge-s, which includes how long the
// API server took to accept the writes); the speakers' largest resident
// memory (/proc VmRSS of the speaker container's process) with the n
// Services and every session to the lab's router established, 10 s after
// they converged (speaker-rss-MiB), at that moment
// (speaker-converge-rss-MiB) and the highest it ever was
// (speaker-peak-rss-MiB, VmHWM), and before the Services and their
// EndpointSlices existed (speaker-idle-rss-MiB); in steady state, once
// every speaker has written its status objects and gone idle, the largest
// RSS over steadyWindow (speaker-steady-rss-MiB) and node1's allocation
// rate (speaker-steady-alloc-kB/s); and, after deleting them all, when the
// last route left (withdrawn-s).
func BenchmarkBGPScale(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for range b.N {
				scaleRun(b, n)
			}
		})
	}
}

func scaleRun(b *testing.B, n int) {
	l := setUp(b, lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(b).NodeCount()))
	waitAllSessions(b, l)
	ctx := b.Context()
	applyTemporarily(b, documents(poolYAML("scale", scalePool.String()), advertYAML("scale", "scale")))
	kube := burstClient(b, l)
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	svcs := make([]*corev1.Service, n)
	for i := range svcs {
		svcs[i] = newService(fmt.Sprintf("scale-%d", i), "scale", corev1.IPv4Protocol)
		svcs[i].Namespace = scaleNamespace
		// The node port range holds 2,768 ports; no traffic uses them here.
		svcs[i].Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
	}
	idle, _ := speakersMemory(b, l)
	parallel(b, svcs, func(svc *corev1.Service) error { return endpointsFirst(ctx, l, svc) })

	routes := watchRouteCount(b, l, scalePool)
	assigned := watchAssigned(b, kube, n)
	statuses := watchBGPStatuses(b, l, n*l.NodeCount())
	b.ResetTimer()
	firstWrite := time.Now()
	var callsMu sync.Mutex
	var calls []time.Duration
	lastWrite := parallel(b, svcs, func(svc *corev1.Service) error {
		start := time.Now()
		_, err := kube.CoreV1().Services(scaleNamespace).Create(ctx, svc, metav1.CreateOptions{})
		callsMu.Lock()
		calls = append(calls, time.Since(start))
		callsMu.Unlock()
		return err
	})
	converged := routes.waitFor(b, n)
	b.StopTimer()
	atConverge, _ := speakersMemory(b, l)
	time.Sleep(10 * time.Second) // the status objects get written, the heap settles
	// Memory counts only with every session established and holding the
	// n routes, as in production (not with peers that never answer).
	waitAllSessions(b, l)
	rss, peak := speakersMemory(b, l)
	logGoMemory(b, l, 1)
	allAssigned := <-assigned
	waitStatuses(b, statuses, converged)
	steady := speakersSteadyMemory(b, l)
	b.Logf("n=%d: writes took %s (create call p50 %s, p99 %s); all assigned %s and all routed %s after the last write; speaker RSS %.1f MiB idle, %.1f MiB after, %.1f MiB at most in steady state",
		n, lastWrite.Sub(firstWrite).Round(time.Millisecond), percentile(calls, 0.5).Round(time.Millisecond), percentile(calls, 0.99).Round(time.Millisecond),
		allAssigned.Sub(lastWrite).Round(time.Millisecond),
		converged.Sub(lastWrite).Round(time.Millisecond), mib(idle), mib(rss), mib(steady))
	b.ReportMetric(converged.Sub(lastWrite).Seconds(), "converge-s")
	b.ReportMetric(converged.Sub(firstWrite).Seconds(), "first-write-to-converge-s")
	b.ReportMetric(allAssigned.Sub(lastWrite).Seconds(), "assigned-s")
	b.ReportMetric(mib(rss), "speaker-rss-MiB")
	b.ReportMetric(mib(steady), "speaker-steady-rss-MiB")
	b.ReportMetric(mib(atConverge), "speaker-converge-rss-MiB")
	b.ReportMetric(mib(peak), "speaker-peak-rss-MiB")
	b.ReportMetric(mib(idle), "speaker-idle-rss-MiB")

	lastDelete := parallel(b, svcs, func(svc *corev1.Service) error {
		return kube.CoreV1().Services(scaleNamespace).Delete(ctx, svc.Name, metav1.DeleteOptions{})
	})
	withdrawn := routes.waitFor(b, 0)
	b.ReportMetric(withdrawn.Sub(lastDelete).Seconds(), "withdrawn-s")
	// One by one: a DeleteCollection of 10,000 objects outlasts the API
	// server's request timeout.
	parallel(b, svcs, func(svc *corev1.Service) error {
		return kube.DiscoveryV1().EndpointSlices(scaleNamespace).Delete(ctx, svc.Name+"-lab-ipv4", metav1.DeleteOptions{})
	})
}

// burstClient is a warm clientset of the lab's API server without
// client-side rate limiting.
func burstClient(b *testing.B, l *lab.Lab) kubernetes.Interface {
	config := rest.CopyConfig(l.RESTConfig())
	config.QPS, config.Burst = -1, 0
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kube.CoreV1().Services(serviceDomain).List(b.Context(), metav1.ListOptions{Limit: 1}); err != nil {
		b.Fatal(err)
	}
	return kube
}

// parallel calls fn for every Service from 32 goroutines and returns when
// the last call returned.
func parallel(b *testing.B, svcs []*corev1.Service, fn func(*corev1.Service) error) time.Time {
	work := make(chan *corev1.Service)
	errs := make(chan error, len(svcs))
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for svc := range work {
				if err := fn(svc); err != nil {
					errs <- fmt.Errorf("%s/%s: %w", svc.Namespace, svc.Name, err)
				}
			}
		})
	}
	for _, svc := range svcs {
		work <- svc
	}
	close(work)
	wg.Wait()
	done := time.Now()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return done
}

// speakersMemory returns the largest resident memory of the speakers now
// and the largest they ever had.
func speakersMemory(b *testing.B, l *lab.Lab) (rss, peak uint64) {
	for i := 1; i <= l.NodeCount(); i++ {
		m, err := l.SpeakerMemory(b.Context(), i)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("node%d's speaker: RSS %.1f MiB (%.1f MiB anonymous, %.1f MiB mapped from files), peak %.1f MiB",
			i, mib(m.RSS), mib(m.Anon), mib(m.File), mib(m.Peak))
		rss, peak = max(rss, m.RSS), max(peak, m.Peak)
	}
	return rss, peak
}

// A speaker is idle once it used under idleCPUShare of a core over one
// idleProbe; the steady state begins when every speaker is idle, at most
// maxSettle after convergence.
const (
	idleProbe    = 5 * time.Second
	idleCPUShare = 0.05
	steadyWindow = 3 * time.Minute
	maxSettle    = 15 * time.Minute
)

// speakersSteadyMemory waits until every speaker is idle (after
// waitStatuses: nothing left to write) and returns the largest RSS any of
// them had over steadyWindow from then, sampled every idleProbe: what the
// speakers hold while the Services just stay announced.
func speakersSteadyMemory(b *testing.B, l *lab.Lab) uint64 {
	ctx := b.Context()
	cpu := func() []time.Duration {
		times := make([]time.Duration, l.NodeCount())
		for i := range times {
			t, err := l.SpeakerCPU(ctx, i+1)
			if err != nil {
				b.Fatal(err)
			}
			times[i] = t
		}
		return times
	}
	start := time.Now()
	before := cpu()
	for {
		time.Sleep(idleProbe)
		now := cpu()
		busy := -1
		for i := range now {
			if share := float64(now[i]-before[i]) / float64(idleProbe); share >= idleCPUShare {
				busy = i + 1
			}
		}
		if busy < 0 {
			break
		}
		if time.Since(start) > maxSettle {
			b.Fatalf("node%d's speaker still busy %s after convergence", busy, maxSettle)
		}
		before = now
	}
	b.Logf("every speaker idle %s after the measurement at convergence", time.Since(start).Round(time.Second))
	allocatedBefore, windowStart := allocatedBytes(b, l, 1), time.Now()
	var top uint64
	for range steadyWindow / idleProbe {
		time.Sleep(idleProbe)
		var sample []string
		for i := 1; i <= l.NodeCount(); i++ {
			m, err := l.SpeakerMemory(ctx, i)
			if err != nil {
				b.Fatal(err)
			}
			top = max(top, m.RSS)
			sample = append(sample, fmt.Sprintf("node%d %.1f (anonymous %.1f)", i, mib(m.RSS), mib(m.Anon)))
		}
		b.Logf("steady +%s: RSS MiB %s", time.Since(windowStart).Round(time.Second), strings.Join(sample, ", "))
	}
	rate := (allocatedBytes(b, l, 1) - allocatedBefore) / time.Since(windowStart).Seconds()
	b.ReportMetric(rate/1e3, "speaker-steady-alloc-kB/s")
	b.Logf("node1's speaker allocated %.1f kB/s over the steady window", rate/1e3)
	speakersMemory(b, l)
	logGoMemory(b, l, 1)
	saveHeapProfile(b, l, 1)
	return top
}

// allocatedBytes returns how many bytes of heap node i's speaker has
// allocated since it started (go_memstats_alloc_bytes_total).
func allocatedBytes(b *testing.B, l *lab.Lab, i int) float64 {
	metrics, err := l.SpeakerMetrics(b.Context(), i)
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(metrics, "\n") {
		if value, ok := strings.CutPrefix(line, "go_memstats_alloc_bytes_total "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				b.Fatalf("node%d's speaker: go_memstats_alloc_bytes_total %q: %v", i, value, err)
			}
			return v
		}
	}
	b.Fatalf("node%d's speaker exports no go_memstats_alloc_bytes_total", i)
	return 0
}

func mib(bytes uint64) float64 { return float64(bytes) / (1 << 20) }

// logGoMemory logs how node i's speaker uses its memory, from the Go
// runtime's metrics it exports.
func logGoMemory(b *testing.B, l *lab.Lab, i int) {
	metrics, err := l.SpeakerMetrics(b.Context(), i)
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	for line := range strings.SplitSeq(metrics, "\n") {
		for _, name := range []string{"go_memstats_heap_alloc_bytes ", "go_memstats_heap_inuse_bytes ", "go_memstats_heap_idle_bytes ",
			"go_memstats_heap_released_bytes ", "go_memstats_stack_inuse_bytes ", "go_memstats_sys_bytes ", "go_gc_gogc_percent ", "go_goroutines "} {
			if strings.HasPrefix(line, name) {
				lines = append(lines, line)
			}
		}
	}
	b.Logf("node%d's speaker: %s", i, strings.Join(lines, ", "))
}

// heapProfileAddr is where a speaker built with -tags heapprofile serves
// net/http/pprof (speaker/heapprofile.go).
const heapProfileAddr = "127.0.0.1:6061"

// saveHeapProfile writes node i's speaker's heap profile (in use and
// allocated, pprof format) to the file IRONLB_HEAP_PROFILE names, when it
// is set: run the benchmark with GOFLAGS=-tags=heapprofile so that the
// lab's speaker image serves it, and read it with `go tool pprof`.
func saveHeapProfile(b *testing.B, l *lab.Lab, i int) {
	path := os.Getenv("IRONLB_HEAP_PROFILE")
	if path == "" {
		return
	}
	n := l.Node(i)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: n.NS.DialContext}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, "http://"+heapProfileAddr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatalf("heap profile of %s's speaker (built with -tags heapprofile?): %v", n.Name, err)
	}
	defer resp.Body.Close()
	profile, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("heap profile of %s's speaker: %s, %v", n.Name, resp.Status, err)
	}
	if err := os.WriteFile(path, profile, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s's speaker's heap profile: %s", n.Name, path)
}

// routeCount follows how many host routes within a prefix the router's
// kernel table holds, from netlink events and, should the kernel drop events
// under load, from a dump every 200 ms.
type routeCount struct {
	mu      sync.Mutex
	present map[netip.Prefix]bool
	// changed is signalled after every event that concerns the prefix.
	changed chan struct{}
	l       *lab.Lab
	within  netip.Prefix
}

func watchRouteCount(b *testing.B, l *lab.Lab, within netip.Prefix) *routeCount {
	events, err := l.Router().WatchRoutes(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	c := &routeCount{present: map[netip.Prefix]bool{}, changed: make(chan struct{}, 1), l: l, within: within}
	go func() {
		for ev := range events {
			if !within.Contains(ev.Route.Prefix.Addr()) {
				continue
			}
			c.mu.Lock()
			if ev.Deleted {
				delete(c.present, ev.Route.Prefix)
			} else {
				c.present[ev.Route.Prefix] = true
			}
			c.mu.Unlock()
			select {
			case c.changed <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

// waitFor waits until exactly n routes are present and returns when that
// was first seen.
func (c *routeCount) waitFor(b *testing.B, n int) time.Time {
	deadline := time.After(10 * time.Minute)
	dump := time.NewTicker(200 * time.Millisecond)
	defer dump.Stop()
	for {
		c.mu.Lock()
		count := len(c.present)
		c.mu.Unlock()
		if count == n {
			return time.Now()
		}
		select {
		case <-c.changed:
		case <-dump.C:
			if count := c.dumpCount(b); count == n {
				b.Logf("route count %d reached in a dump (netlink events were lost)", n)
				return time.Now()
			}
		case <-deadline:
			b.Fatalf("router: %d routes within %s, want %d", count, c.within, n)
		}
	}
}

// dumpCount counts the routes within c.within in a dump of the kernel table.
func (c *routeCount) dumpCount(b *testing.B) int {
	routes, err := c.l.Router().Routes()
	if err != nil {
		b.Fatal(err)
	}
	count := 0
	for _, rt := range routes {
		if c.within.Contains(rt.Prefix.Addr()) {
			count++
		}
	}
	return count
}

// watchAssigned reports when n Services of the scale namespace have an
// ingress IP.
func watchAssigned(b *testing.B, kube kubernetes.Interface, n int) <-chan time.Time {
	w, err := kube.CoreV1().Services(scaleNamespace).Watch(b.Context(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan time.Time, 1)
	go func() {
		defer w.Stop()
		assigned := map[string]bool{}
		for ev := range w.ResultChan() {
			svc, ok := ev.Object.(*corev1.Service)
			if !ok || len(svc.Status.LoadBalancer.Ingress) == 0 {
				continue
			}
			assigned[svc.Name] = true
			if len(assigned) == n {
				done <- time.Now()
				return
			}
		}
	}()
	return done
}

// watchBGPStatuses follows the ServiceBGPStatus objects of the scale
// namespace's Services and reports when want of them exist: each speaker
// has written one per Service it announces. The channel closes without a
// value if the watch ends first.
func watchBGPStatuses(b *testing.B, l *lab.Lab, want int) <-chan time.Time {
	w, err := l.Dynamic().Resource(bgpStatusResource).Namespace(lab.IronLBNamespace).Watch(b.Context(), metav1.ListOptions{
		LabelSelector: "metallb.io/service-namespace=" + scaleNamespace})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan time.Time, 1)
	go func() {
		defer close(done)
		defer w.Stop()
		written := map[string]bool{}
		for ev := range w.ResultChan() {
			obj, ok := ev.Object.(metav1.Object)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(written, obj.GetName())
			} else {
				written[obj.GetName()] = true
			}
			if len(written) == want {
				done <- time.Now()
				return
			}
		}
	}()
	return done
}

// waitStatuses waits, at most maxSettle, until every speaker has written
// its status objects: until then the speakers are still working on the
// burst, whatever their CPU use says.
func waitStatuses(b *testing.B, statuses <-chan time.Time, converged time.Time) {
	select {
	case at, ok := <-statuses:
		if !ok {
			b.Fatal("the watch of the ServiceBGPStatus objects ended before they were all written")
		}
		b.Logf("every speaker's ServiceBGPStatus objects written %s after convergence", at.Sub(converged).Round(time.Millisecond))
	case <-time.After(maxSettle):
		b.Fatalf("the speakers' ServiceBGPStatus objects still not all written after another %s", maxSettle)
	}
}

// BenchmarkBGPFrozenSpeaker: a speaker that hangs (SIGSTOP) keeps its
// sessions open, so the router notices only when its hold timer expires
// (holdTime 9s, keepaliveTime 3s as in the incumbent's measurement); until
// BFD exists, that is how long traffic still goes to the frozen node.
// Reports how long after the SIGSTOP the router dropped the node's path.
// The signals go to node3's speaker container through its node's
// containerd; the pod stays (its probes fail for a few seconds, fewer than
// the liveness probe allows before a restart).
func BenchmarkBGPFrozenSpeaker(b *testing.B) {
	const trials = 5
	for range b.N {
		config := lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(b).NodeCount())
		l := setUp(b, config)
		restoreBase(b, lab.BIRD2)
		ctx := b.Context()
		apply(b, peerYAML(lab.BIRD2, peerV4, lab.RouterIPv4, "  holdTime: 9s", "  keepaliveTime: 3s"))
		// New timers apply to new sessions: restart the router's.
		if err := l.Router().Use(ctx, config); err != nil {
			b.Fatal(err)
		}
		waitAllSessions(b, l)
		svc := newService("frozen", basePool, corev1.IPv4Protocol)
		ip := createService(b, svc, 1, 2, 3)[0]
		waitRoute(b, hostPrefix(ip), 1, 2, 3)
		out, err := l.Router().Show(ctx, "show protocols all node3", false)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("node3's IPv4 session at the router:\n%s", out)
		events, err := l.Router().WatchRoutes(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var detect []time.Duration
		b.Cleanup(func() { l.SignalSpeaker(context.Background(), 3, syscall.SIGCONT) })
		for range trials {
			drain(events)
			if err := l.SignalSpeaker(ctx, 3, syscall.SIGSTOP); err != nil {
				b.Fatal(err)
			}
			stopped := time.Now()
			dropped := nextEventWithin(b, events, 30*time.Second, func(ev lab.RouteEvent) bool {
				return ev.Route.Prefix == hostPrefix(ip) && !slices.Contains(ev.Route.NextHops, lab.NodeIPv4(3))
			})
			if err := l.SignalSpeaker(ctx, 3, syscall.SIGCONT); err != nil {
				b.Fatal(err)
			}
			detect = append(detect, dropped.Time.Sub(stopped))
			waitRoute(b, hostPrefix(ip), 1, 2, 3)
		}
		seconds := func(d time.Duration) float64 { return d.Seconds() }
		b.ReportMetric(seconds(percentile(detect, 0.5)), "detect-s")
		b.ReportMetric(seconds(slices.Min(detect)), "min-detect-s")
		b.ReportMetric(seconds(slices.Max(detect)), "max-detect-s")
		b.Logf("%d trials: %v", trials, detect)
	}
}

// nextEventWithin is nextEvent with its own timeout.
func nextEventWithin(b *testing.B, events <-chan lab.RouteEvent, timeout time.Duration, match func(lab.RouteEvent) bool) lab.RouteEvent {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), timeout)
	defer cancel()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				b.Fatal("the router's route watch ended")
			}
			if match(ev) {
				return ev
			}
		case <-ctx.Done():
			b.Fatalf("no matching route event within %s", timeout)
		}
	}
}
