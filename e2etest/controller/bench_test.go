package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/e2etest/lab"
	ctrl "github.com/ironlb/ironlb/internal/controller"
	"github.com/ironlb/ironlb/internal/ipam"
)

// benchPool holds 65,536 addresses, far more than the benchmark hands out.
const benchPool = "198.19.0.0/16"

// BenchmarkControllerAssign measures, against the lab's API server, the
// time from the start of the controller (its first log line) to every one
// of n existing LoadBalancer Services having an address in its status
// (assign-s; the Services are created beforehand, while the controller
// Deployment is scaled to 0), and from the rollout of the controller
// Deployment, which adds scheduling and the pod's start
// (rollout-assign-s). At n=10000 it then
// kills the controller's container with SIGKILL, waits until the process
// the kubelet starts again has reconciled every Service, and reports how
// many Services' addresses changed (changed-ips, which must be 0) and how
// long that took from the kill (restart-s).
//
// status-floor-s is the API server's share: the time the controller's
// status writes alone take, without the controller (statusWriteFloor).
func BenchmarkControllerAssign(b *testing.B) {
	l := lab.Shared(b)
	if err := l.Apply(b.Context(), pool("bench", fmt.Sprintf("{addresses: [%s]}", benchPool))); err != nil {
		b.Fatal(err)
	}
	cfg := l.RESTConfig()
	cfg.QPS, cfg.Burst = 5000, 5000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var assign, rollout, floor time.Duration
			for i := range b.N {
				b.StopTimer()
				if err := l.KillController(syscall.SIGTERM); err != nil {
					b.Fatal(err)
				}
				ns := fmt.Sprintf("bench-%d-%d", n, i)
				namespace(b, l, ns, nil)
				services := createServices(b, kube, ns, n)
				watch := watchAssigned(b, kube, ns, n)

				b.StartTimer()
				start := time.Now()
				startController(b, l)
				done := watch.waitAll(b, 10*time.Minute)
				b.StopTimer()
				started, err := firstLogLine(b.Context(), l)
				if err != nil {
					b.Fatal(err)
				}
				assign += done.Sub(started)
				rollout += done.Sub(start)

				if n == 10000 {
					changed, restart := restartUnchanged(b, l, kube, ns)
					b.ReportMetric(float64(changed), "changed-ips")
					b.ReportMetric(restart.Seconds(), "restart-s")
				}
				watch.stop()
				deleteServices(b, kube, services)
				floor += statusWriteFloor(b, kube, ns, n)
			}
			perRun := assign.Seconds() / float64(b.N)
			b.ReportMetric(perRun, "assign-s")
			b.ReportMetric(float64(n)/perRun, "services/s")
			b.ReportMetric(rollout.Seconds()/float64(b.N), "rollout-assign-s")
			b.ReportMetric(floor.Seconds()/float64(b.N), "status-floor-s")
		})
	}
}

// firstLogLine returns when the Ready controller pod's container wrote its
// first log line ("controller starting", one API round trip after its
// process started), as containerd stamped it. (The process's
// process_start_time_seconds is off by up to a second: it counts from the
// boot time, which the kernel gives in whole seconds.)
func firstLogLine(ctx context.Context, l *lab.Lab) (time.Time, error) {
	pod, err := l.ControllerPod(ctx)
	if err != nil {
		return time.Time{}, err
	}
	body, err := l.KubeClient().CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: "controller", Timestamps: true, LimitBytes: ptr.To[int64](4096)}).DoRaw(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("log of controller pod %s: %w", pod.Name, err)
	}
	stamp, _, _ := strings.Cut(string(body), " ")
	return time.Parse(time.RFC3339Nano, stamp)
}

// createServices creates n single-stack IPv4 LoadBalancer Services in ns,
// 32 at a time, with one warm client.
func createServices(b *testing.B, kube kubernetes.Interface, ns string, n int) []*corev1.Service {
	services := make([]*corev1.Service, n)
	for i := range services {
		services[i] = newService(ns, fmt.Sprintf("svc-%05d", i))
	}
	forEach(b, services, func(ctx context.Context, svc *corev1.Service) error {
		_, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		return err
	})
	return services
}

// deleteServices deletes the Services, 32 at a time.
func deleteServices(b *testing.B, kube kubernetes.Interface, services []*corev1.Service) {
	forEach(b, services, func(ctx context.Context, svc *corev1.Service) error {
		return kube.CoreV1().Services(svc.Namespace).Delete(ctx, svc.Name, metav1.DeleteOptions{})
	})
}

// forEach runs do on every Service with 32 goroutines and fails on the
// first error.
func forEach(b testing.TB, services []*corev1.Service, do func(context.Context, *corev1.Service) error) {
	work := make(chan *corev1.Service)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 32 {
		wg.Go(func() {
			for svc := range work {
				if err := do(b.Context(), svc); err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s/%s: %w", svc.Namespace, svc.Name, err))
				}
			}
		})
	}
	for _, svc := range services {
		work <- svc
	}
	close(work)
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// floorClass is a load-balancer class ironlb does not serve: Services of
// it are left alone by the controller (and by kube-controller-manager).
const floorClass = "bench.ironlb.io/status-floor"

// statusWriteFloor creates n Services of floorClass in ns and returns how
// long controller.DefaultWorkers writers take to give each an address
// with the patch the controller writes (controller.StatusPatch, on the
// status subresource): what assigning n Services costs the API server,
// the bound under assign-s. The Services are deleted afterwards.
func statusWriteFloor(b *testing.B, kube kubernetes.Interface, ns string, n int) time.Duration {
	services := make([]*corev1.Service, n)
	for i := range services {
		services[i] = newService(ns, fmt.Sprintf("floor-%05d", i), func(s *corev1.Service) {
			s.Spec.LoadBalancerClass = ptr.To(floorClass)
		})
	}
	forEach(b, services, func(ctx context.Context, svc *corev1.Service) error {
		_, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		return err
	})
	patches := make([][]byte, n)
	for i, svc := range services {
		ip := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		patch, _, err := ctrl.StatusPatch(svc, ipam.Assignment{Pool: "floor", IPs: []netip.Addr{ip}})
		if err != nil {
			b.Fatal(err)
		}
		patches[i] = patch
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range ctrl.DefaultWorkers {
		wg.Go(func() {
			for i := range work {
				svc := services[i]
				_, err := kube.CoreV1().Services(ns).Patch(b.Context(), svc.Name, types.MergePatchType, patches[i], metav1.PatchOptions{}, "status")
				if err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("status of %s/%s: %w", ns, svc.Name, err))
				}
			}
		})
	}
	for i := range services {
		work <- i
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	deleteServices(b, kube, services)
	return took
}

// assignedWatch follows the Services of one namespace through an informer,
// counts those with an address in their status and notes when all n had
// one.
type assignedWatch struct {
	n        int64
	assigned atomic.Int64
	// allAt is when the count reached n.
	allAt   atomic.Pointer[time.Time]
	changed chan struct{}
	cancel  context.CancelFunc
}

func watchAssigned(b *testing.B, kube kubernetes.Interface, ns string, n int) *assignedWatch {
	ctx, cancel := context.WithCancel(b.Context())
	w := &assignedWatch{n: int64(n), changed: make(chan struct{}, 1), cancel: cancel}
	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(ns))
	informer := factory.Core().V1().Services().Informer()
	has := func(obj any) bool {
		svc, ok := obj.(*corev1.Service)
		return ok && len(svc.Status.LoadBalancer.Ingress) > 0
	}
	count := func(delta int64) {
		if w.assigned.Add(delta) == w.n {
			now := time.Now()
			w.allAt.CompareAndSwap(nil, &now)
		}
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if has(obj) {
				count(1)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			switch {
			case has(newObj) && !has(oldObj):
				count(1)
			case !has(newObj) && has(oldObj):
				count(-1)
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return w
}

// waitAll waits until all n Services have an address and returns when they
// first had.
func (w *assignedWatch) waitAll(b *testing.B, timeout time.Duration) time.Time {
	deadline := time.After(timeout)
	for w.allAt.Load() == nil {
		select {
		case <-w.changed:
		case <-deadline:
			b.Fatalf("%d of %d Services have an address after %s", w.assigned.Load(), w.n, timeout)
		}
	}
	return *w.allAt.Load()
}

func (w *assignedWatch) stop() { w.cancel() }

// addresses reads the status addresses of every Service in ns from the API
// server (a consistent read).
func addresses(b testing.TB, kube kubernetes.Interface, ns string) map[string][]netip.Addr {
	list, err := kube.CoreV1().Services(ns).List(b.Context(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	out := map[string][]netip.Addr{}
	for i := range list.Items {
		out[list.Items[i].Name] = statusIPs(&list.Items[i])
	}
	return out
}

// restartUnchanged kills the controller's container with SIGKILL, waits
// until the process the kubelet starts again has reconciled every Service
// (polling the pod's metrics, which keep its address, from the kill on), and
// returns how many Services of ns have other addresses than before, and how
// long the restart took.
func restartUnchanged(b *testing.B, l *lab.Lab, kube kubernetes.Interface, ns string) (changed int, took time.Duration) {
	before := addresses(b, kube, ns)
	endpoint := l.ControllerMetricsURL()
	killed, err := metric(b.Context(), endpoint, "process_start_time_seconds")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	crashed := make(chan error, 1)
	go func() { crashed <- l.KillControllerContainer(b.Context()) }()
	lab.Eventually(b, 5*time.Minute, "the kubelet starts the controller again", func() error {
		started, err := metric(b.Context(), endpoint, "process_start_time_seconds")
		if err == nil && started == killed {
			err = errors.New("the killed process still answers")
		}
		return err
	})
	waitReconciledAt(b, l, endpoint, 5*time.Minute)
	took = time.Since(start)
	if err := <-crashed; err != nil {
		b.Fatal(err)
	}
	after := addresses(b, kube, ns)
	for name, ips := range before {
		if len(ips) == 0 || !slices.Equal(after[name], ips) {
			changed++
		}
	}
	return changed, took
}
