package layer2

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/k8s"
)

// trials is how many times each lab benchmark measures; the percentiles are
// over them.
const trials = 20

// pollInterval is how often the failover benchmarks start an HTTP request
// from the client.
const pollInterval = 10 * time.Millisecond

// BenchmarkL2FailoverCrash measures, over 20 trials, the time from SIGKILL of
// the owning speaker to the first HTTP answer from another node at the
// client, which polls the Service's IPv4 and IPv6 address every 10 ms. The
// old owner's kube-ipvs0 keeps answering until the client's neighbour entry
// moves, so the measure ends at the first answer from a different node.
// garp-p50-ms and garp-p99-ms end instead with the new owner's first
// gratuitous ARP captured at the client. In pods mode only the speaker
// container is killed (watchCrash): the pod stays, as after a real crash;
// notready-p50-ms and notready-p99-ms end when a watch of the API server
// sees the pod NotReady.
func BenchmarkL2FailoverCrash(b *testing.B) { benchFailover(b, syscall.SIGKILL) }

// BenchmarkL2FailoverGraceful is BenchmarkL2FailoverCrash with SIGTERM.
func BenchmarkL2FailoverGraceful(b *testing.B) { benchFailover(b, syscall.SIGTERM) }

func benchFailover(b *testing.B, sig syscall.Signal) {
	l := setup(b)
	// Local: the owner's own backend answers, so an answer tells who owns
	// the IPs (with Cluster, kube-proxy would pass requests to any node).
	svc := createService(b, "bench-failover", func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	waitMembers(b, l)
	owner := waitOwner(b, l, svc, "the Service has an owner", anyNode)
	i := nodeIndex(b, l, owner)
	restartSpeaker(b, l, i)
	logLoad(b)
	var ipv4, ipv6, announced, notReady []time.Duration
	for range trials {
		t := failoverTrial(b, l, svc, i, sig)
		ipv4, ipv6, announced = append(ipv4, t.ipv4), append(ipv6, t.ipv6), append(announced, t.announced)
		if t.crashedPod != "" {
			notReady = append(notReady, t.notReady)
			deletePod(b, l, t.crashedPod)
		}
		if err := l.StartSpeaker(i); err != nil {
			b.Fatal(err)
		}
		waitMembers(b, l)
		waitOwner(b, l, svc, "the IPs return to "+owner, is(owner))
	}
	reportPercentiles(b, "", ipv4)
	reportPercentiles(b, "ipv6-", ipv6)
	reportPercentiles(b, "garp-", announced)
	if len(notReady) > 0 {
		reportPercentiles(b, "notready-", notReady)
	}
	logLoad(b)
}

// failover is what one failover trial measured, from the signal on.
type failover struct {
	// ipv4 and ipv6 end with the client's first HTTP answer from another
	// node.
	ipv4, ipv6 time.Duration
	// announced ends with the first gratuitous ARP for the IPv4 address from
	// another node, as the client's kernel received it: the takeover without
	// the resolution of the 10 ms polling.
	announced time.Duration
	// crashedPod is the speaker pod whose container a SIGKILL in pods mode
	// crashed; the pod is left to the kubelet, which restarts the container.
	// notReady ends when a watch of the API server saw the pod NotReady.
	crashedPod string
	notReady   time.Duration
}

// failoverTrial kills node i's speaker, which owns svc, with sig and
// measures how soon the client's traffic moves to another node.
func failoverTrial(b *testing.B, l *lab.Lab, svc service, i int, sig syscall.Signal) failover {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	owner := lab.NodeName(i)
	ownerMAC, err := l.Node(i).MAC()
	if err != nil {
		b.Fatal(err)
	}
	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		b.Fatal(err)
	}
	defer capture.Close()
	answers := pollAnswers(ctx, l.Client(), svc.IPs(), pollInterval)
	// The client talks to the owner before the kill, as a client of the
	// Service would: its neighbour entries hold the owner's MAC address.
	seen := map[netip.Addr]bool{}
	for len(seen) < 2 {
		select {
		case a := <-answers:
			if a.node == owner {
				seen[a.ip] = true
			}
		case <-ctx.Done():
			b.Fatalf("the client never reached %s at %v", owner, svc.IPs())
		}
	}
	var crash *crashWatch
	if l.Pods() && sig == syscall.SIGKILL {
		crash = watchCrash(ctx, b, l, i)
		// The kubelet notices a dead container at its next relist, once a
		// second. Each trial follows the pod's start by a chain of polls,
		// so without this the kills would fall at about the same point of
		// that second every time; a crash falls anywhere in it.
		time.Sleep(rand.N(relistPeriod))
	}
	start := time.Now()
	if crash != nil {
		if err := l.KillSpeakerContainer(ctx, i); err != nil {
			b.Fatal(err)
		}
	} else if err := l.KillSpeaker(i, sig); err != nil {
		b.Fatal(err)
	}
	moved := map[netip.Addr]time.Duration{}
	for len(moved) < 2 {
		select {
		case a := <-answers:
			if _, done := moved[a.ip]; !done && a.node != owner && a.at.After(start) {
				moved[a.ip] = a.at.Sub(start)
			}
		case <-ctx.Done():
			b.Fatalf("%v: the client's traffic did not leave %s (moved: %v)", sig, owner, moved)
		}
	}
	garp, err := capture.Wait(ctx, func(f lab.NeighborFrame) bool {
		return f.Kind == lab.GratuitousARP && f.IP == svc.IPv4 && f.Source.String() != ownerMAC.String() && f.Time.After(start)
	})
	if err != nil {
		b.Fatalf("%v: no gratuitous ARP for %s from another node than %s: %v", sig, svc.IPv4, owner, err)
	}
	t := failover{ipv4: moved[svc.IPv4], ipv6: moved[svc.IPv6], announced: garp.Time.Sub(start)}
	if crash != nil {
		t.crashedPod = crash.pod
		select {
		case at := <-crash.notReady:
			t.notReady = at.Sub(start)
		case <-ctx.Done():
			b.Fatalf("the watch never saw speaker pod %s NotReady", crash.pod)
		}
	}
	return t
}

// relistPeriod is how often the kubelet lists the containers to notice
// state changes (its PLEG relist period, fixed at 1 s).
const relistPeriod = time.Second

// crashWatch is a crashed speaker pod and when a watch saw it NotReady.
type crashWatch struct {
	pod      string
	notReady <-chan time.Time
}

// watchCrash starts watching node i's speaker pod, before its container is
// killed, for the moment the kubelet's NotReady reaches a watcher of the
// API server: the speakers learn of the crash then. Only the container
// dies, as in a real crash: the pod stays and the kubelet starts the
// container again (KillSpeaker would also have the pod deleted at once,
// which tells the speakers sooner than a crash does).
func watchCrash(ctx context.Context, b *testing.B, l *lab.Lab, i int) *crashWatch {
	pod, err := l.SpeakerPod(ctx, i)
	if err != nil {
		b.Fatal(err)
	}
	w, err := l.KubeClient().CoreV1().Pods(lab.IronLBNamespace).Watch(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=" + pod.Name, ResourceVersion: pod.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	notReady := make(chan time.Time, 1)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && !k8s.PodReady(p) {
				notReady <- time.Now()
				return
			}
		}
	}()
	return &crashWatch{pod: pod.Name, notReady: notReady}
}

// deletePod deletes a crashed speaker pod and waits until it is gone, so
// that the next trial crashes a new pod: the kubelet's restart back-off
// (10 s, 20 s, ...) would otherwise grow from trial to trial.
func deletePod(b *testing.B, l *lab.Lab, name string) {
	ctx := context.Background()
	pods := l.KubeClient().CoreV1().Pods(lab.IronLBNamespace)
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		b.Fatal(err)
	}
	lab.Eventually(b, 2*time.Minute, "crashed speaker pod "+name+" deleted", func() error {
		if _, err := pods.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("pod %s still there (%v)", name, err)
		}
		return nil
	})
}

// answer is one HTTP answer the client got.
type answer struct {
	ip   netip.Addr
	node string
	at   time.Time
}

// pollAnswers starts a GET http://ip/ from host to each of ips every
// interval, each in its own goroutine so that a slow request does not delay
// the next, and delivers the answers until ctx ends.
func pollAnswers(ctx context.Context, host *lab.Host, ips []netip.Addr, interval time.Duration) <-chan answer {
	out := make(chan answer, 1024)
	go func() {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			for _, ip := range ips {
				go func() {
					node, err := host.Curl(ctx, ip)
					if err != nil {
						return
					}
					select {
					case out <- answer{ip: ip, node: node, at: time.Now()}:
					case <-ctx.Done():
					}
				}()
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return out
}

// BenchmarkL2AnnounceLatency measures, over 20 trials each, how soon a client
// on the segment hears of a new Service IP: from the return of an API write
// by a warm client-go client to the first gratuitous ARP or ARP reply for
// the IP captured at the client (kernel receive time).
//
//   - service-create: the write creates the Service; the controller assigns
//     the IP and writes the status, then a speaker announces it.
//   - status-write: with the controller stopped, the write puts the IP in the
//     status of an existing Service; only a speaker is left to act.
//
// start-p50-ms and start-p99-ms count from the start of the write instead.
// The speaker can hear of a write before its caller does, so status-write
// figures counted from the return may be negative.
func BenchmarkL2AnnounceLatency(b *testing.B) {
	l := setup(b)
	waitMembers(b, l)
	logLoad(b)
	b.Run("service-create", func(b *testing.B) {
		var fromReturn, fromStart []time.Duration
		for trial := range trials {
			name := fmt.Sprintf("bench-create-%d", trial)
			afterReturn, afterStart := announceTrial(b, l, name, func(ctx context.Context) (netip.Addr, error) {
				_, err := l.KubeClient().CoreV1().Services("default").Create(ctx, lab.NewLoadBalancerService("default", name), metav1.CreateOptions{})
				return netip.Addr{}, err
			})
			fromReturn, fromStart = append(fromReturn, afterReturn), append(fromStart, afterStart)
		}
		reportPercentiles(b, "", fromReturn)
		reportPercentiles(b, "start-", fromStart)
		logLoad(b)
	})
	b.Run("status-write", func(b *testing.B) {
		if err := l.KillController(syscall.SIGTERM); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := l.StartController(); err != nil {
				b.Error(err)
			}
		})
		var fromReturn, fromStart []time.Duration
		for trial := range trials {
			name := fmt.Sprintf("bench-status-%d", trial)
			svc, err := l.KubeClient().CoreV1().Services("default").Create(context.Background(), lab.NewLoadBalancerService("default", name), metav1.CreateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			ip := poolIPs.From().Next()
			afterReturn, afterStart := announceTrial(b, l, name, func(ctx context.Context) (netip.Addr, error) {
				svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip.String()}}
				_, err := l.KubeClient().CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{})
				return ip, err
			})
			fromReturn, fromStart = append(fromReturn, afterReturn), append(fromStart, afterStart)
		}
		reportPercentiles(b, "", fromReturn)
		reportPercentiles(b, "start-", fromStart)
		logLoad(b)
	})
}

// announceTrial captures at the client, runs write, and returns the time
// from write's return and from its start to the first announcement of an
// IPv4 address of the pool (which must be the IPv4 address of Service name).
// It then deletes the Service and waits until it is announced no more.
func announceTrial(b *testing.B, l *lab.Lab, name string, write func(context.Context) (netip.Addr, error)) (fromReturn, fromStart time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	services := l.KubeClient().CoreV1().Services("default")
	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		b.Fatal(err)
	}
	defer capture.Close()
	start := time.Now()
	if _, err := write(ctx); err != nil {
		b.Fatal(err)
	}
	returned := time.Now()
	first, err := capture.Wait(ctx, func(f lab.NeighborFrame) bool {
		return (f.Kind == lab.GratuitousARP || f.Kind == lab.ARPReply) && poolIPs.Contains(f.IP)
	})
	if err != nil {
		b.Fatalf("%s: no announcement at the client: %v", name, err)
	}
	svc, err := services.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if ipv4, _ := ingressIPs(svc); ipv4 != first.IP {
		b.Fatalf("%s: first announcement %v, but the Service has %v", name, first, svc.Status.LoadBalancer.Ingress)
	}
	if err := services.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	lab.Eventually(b, 20*time.Second, name+" is no longer announced", func() error {
		statuses, err := l2Statuses(ctx, l, svc)
		if err == nil && len(statuses) > 0 {
			err = fmt.Errorf("%d ServiceL2Status objects left", len(statuses))
		}
		return err
	})
	return first.Time.Sub(returned), first.Time.Sub(start)
}

// reportPercentiles reports the median and 99th percentile of ds in
// milliseconds, as <prefix>p50-ms and <prefix>p99-ms, and logs all of ds.
func reportPercentiles(b *testing.B, prefix string, ds []time.Duration) {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	values := make([]string, len(sorted))
	for i, d := range sorted {
		values[i] = strconv.FormatFloat(ms(d), 'f', 1, 64)
	}
	b.Logf("%sms, sorted: %s", prefix, strings.Join(values, " "))
	b.ReportMetric(ms(percentile(ds, 50)), prefix+"p50-ms")
	b.ReportMetric(ms(percentile(ds, 99)), prefix+"p99-ms")
	if prefix == "" {
		b.ReportMetric(0, "ns/op") // one iteration of many trials: meaningless
	}
}

// percentile returns the nearest-rank p-th percentile of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// logLoad logs the machine's load averages: the figures depend on them.
func logLoad(b *testing.B) {
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average: %s", strings.TrimSpace(string(load)))
	}
}
