package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/ironlb/ironlb/internal/annotations"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/configstate"
	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/metrics"
)

// Event reasons written on Services.
const (
	ReasonIPAllocated          = "IPAllocated"
	ReasonAllocationFailed     = "AllocationFailed"
	ReasonDeprecatedAnnotation = "DeprecatedAnnotation"
	ReasonIPReleased           = "IPReleased"
)

// Options configure a Reconciler.
type Options struct {
	// Namespace holds the metallb.io configuration.
	Namespace string
	// LBClass is the loadBalancerClass handled; empty handles Services
	// without a class.
	LBClass string
	// Workers is the number of Services reconciled in parallel.
	Workers int
	// PoolMetrics and ClientMetrics receive the allocator's counts and the
	// outcome of configuration loads and reconciles.
	PoolMetrics   *metrics.Allocator
	ClientMetrics *metrics.K8sClient
	// ConfigState, when set, receives the outcome of every configuration
	// build (the controller's ConfigurationState and Events).
	ConfigState *configstate.Reporter
}

// Reconciler assigns addresses to LoadBalancer Services.
type Reconciler struct {
	opts     Options
	clients  *k8s.Clients
	recorder record.EventRecorder
	log      *slog.Logger

	services   corelisters.ServiceLister
	namespaces corelisters.NamespaceLister
	queue      workqueue.TypedRateLimitingInterface[string]

	// mu orders configuration changes against allocations: reconciles hold
	// it for reading, a configuration change for writing.
	mu    sync.RWMutex
	cfg   *config.Config
	alloc *ipam.Allocator

	pools *poolStatusWriter

	// synced is set once the Service and Namespace caches are filled.
	synced atomic.Bool
}

// Ready reports whether the controller watches the cluster. It does not wait
// for a valid configuration: the webhook that admits the first
// IPAddressPool is served by this process.
func (r *Reconciler) Ready() error {
	if !r.synced.Load() {
		return errors.New("caches not synced yet")
	}
	return nil
}

// NewReconciler returns a Reconciler; Run starts it.
func NewReconciler(clients *k8s.Clients, recorder record.EventRecorder, log *slog.Logger, opts Options) *Reconciler {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	return &Reconciler{
		opts:     opts,
		clients:  clients,
		recorder: recorder,
		log:      log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "services"}),
	}
}

// Run watches Services, Namespaces and the configuration until ctx is done.
// No address is handed out before the first valid configuration is loaded
// and every existing assignment has been restored from Service status.
func (r *Reconciler) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(r.clients.Kube, 0)
	svcInformer := factory.Core().V1().Services()
	nsInformer := factory.Core().V1().Namespaces()
	r.services = svcInformer.Lister()
	r.namespaces = nsInformer.Lister()
	if _, err := svcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    r.enqueue,
		UpdateFunc: func(_, obj any) { r.enqueue(obj) },
		DeleteFunc: r.enqueue,
	}); err != nil {
		return err
	}
	if _, err := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: r.namespaceUpdated,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	r.synced.Store(true)

	updates := make(chan k8s.ConfigUpdate)
	watcher := k8s.NewConfigWatcher(r.clients, r.opts.Namespace)
	watchErr := make(chan error, 1)
	go func() { watchErr <- watcher.Run(ctx, updates) }()

	var workers sync.WaitGroup
	defer workers.Wait()
	defer r.queue.ShutDown()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case u := <-updates:
			r.opts.ClientMetrics.ConfigBuilt(u.Err)
			if r.opts.ConfigState != nil {
				r.opts.ConfigState.Report(u.Err, u.Resources)
			}
			if u.Err != nil {
				r.log.Error("configuration refused; the last valid configuration keeps serving", "err", u.Err)
				continue
			}
			if r.applyConfig(u.Config) {
				r.pools = newPoolStatusWriter(r.clients, r.opts.Namespace, r.alloc, r.opts.PoolMetrics, r.log)
				go r.pools.run(ctx)
				for range r.opts.Workers {
					workers.Add(1)
					go func() {
						defer workers.Done()
						for r.processNext(ctx) {
						}
					}()
				}
			}
			r.enqueueAll()
		}
	}
}

// applyConfig installs a valid configuration. On the first one it creates the
// allocator and restores every assignment found in Service status, and
// reports true: the caller then starts the workers.
func (r *Reconciler) applyConfig(cfg *config.Config) (first bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg = cfg
	if r.alloc != nil {
		lost, err := r.alloc.SetPools(Pools(cfg))
		if err != nil {
			// config.Build refuses everything the allocator would; this
			// would be a bug, and the old pools keep serving.
			r.log.Error("allocator refused a validated configuration", "err", err)
			return false
		}
		for _, key := range lost {
			r.log.Info("addresses left the configured pools; re-assigning", "service", key)
		}
		r.log.Info("configuration updated", "pools", len(cfg.Pools))
		return false
	}
	alloc, err := ipam.New(Pools(cfg))
	if err != nil {
		r.log.Error("allocator refused a validated configuration", "err", err)
		return false
	}
	r.alloc = alloc
	r.restore(cfg)
	return true
}

// restore rebuilds the allocator's state from the addresses in Service
// status, oldest Service first, before any new allocation.
func (r *Reconciler) restore(cfg *config.Config) {
	services, err := r.services.List(labels.Everything())
	if err != nil {
		r.log.Error("listing services", "err", err)
		return
	}
	var claims []ipam.Claim
	for _, svc := range services {
		ips := k8s.StatusIPs(svc)
		if !k8s.IsOurs(svc, r.opts.LBClass) || len(ips) == 0 {
			continue
		}
		// A malformed request still restores: the status is kept as it is.
		req, _, _ := RequestFor(svc, r.namespaceLabels(svc.Namespace), cfg)
		claims = append(claims, ipam.Claim{Request: req, IPs: ips, Created: svc.CreationTimestamp.Time})
	}
	restored := 0
	for i, err := range r.alloc.RestoreAll(claims) {
		if err != nil {
			r.log.Warn("cannot keep the address in the status; a new one will be assigned", "service", claims[i].Request.Service, "err", err)
			continue
		}
		restored++
	}
	r.log.Info("assignments restored from service status", "restored", restored, "refused", len(claims)-restored)
}

func (r *Reconciler) namespaceLabels(name string) labels.Set {
	ns, err := r.namespaces.Get(name)
	if err != nil {
		return nil
	}
	return ns.Labels
}

func (r *Reconciler) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		r.log.Error("queueing service", "err", err)
		return
	}
	r.queue.Add(key)
}

func (r *Reconciler) enqueueAll() {
	services, err := r.services.List(labels.Everything())
	if err != nil {
		r.log.Error("listing services", "err", err)
		return
	}
	for _, svc := range services {
		r.queue.Add(k8s.ServiceKey(svc))
	}
}

// namespaceUpdated re-checks the Services of a namespace whose labels changed:
// namespaceSelectors may now admit or refuse them.
func (r *Reconciler) namespaceUpdated(oldObj, newObj any) {
	oldNS, ok1 := oldObj.(*corev1.Namespace)
	newNS, ok2 := newObj.(*corev1.Namespace)
	if !ok1 || !ok2 || labels.Equals(oldNS.Labels, newNS.Labels) {
		return
	}
	services, err := r.services.Services(newNS.Name).List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range services {
		r.queue.Add(k8s.ServiceKey(svc))
	}
}

func (r *Reconciler) processNext(ctx context.Context) bool {
	key, shutdown := r.queue.Get()
	if shutdown {
		return false
	}
	defer r.queue.Done(key)
	err := r.reconcile(ctx, key)
	r.opts.ClientMetrics.UpdateProcessed(err)
	if err != nil {
		r.log.Warn("reconcile failed; retrying", "service", key, "err", err)
		r.queue.AddRateLimited(key)
		return true
	}
	r.queue.Forget(key)
	return true
}

// reconcile brings one Service's status in line with the allocator.
func (r *Reconciler) reconcile(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := r.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		if r.release(key) {
			r.log.Info("service deleted; addresses released", "service", key)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !k8s.IsOurs(svc, r.opts.LBClass) {
		return r.disown(ctx, svc)
	}

	held, assignErr, requestErr := r.assign(svc)
	switch {
	case requestErr != nil:
		// Bad input: say so and leave the status as it is.
		r.recorder.Event(svc, corev1.EventTypeWarning, ReasonAllocationFailed, requestErr.Error())
		r.log.Warn("malformed request; status left unchanged", "service", key, "err", requestErr)
		return nil
	case assignErr != nil:
		r.recorder.Event(svc, corev1.EventTypeWarning, ReasonAllocationFailed, assignErr.Error())
		r.log.Warn("allocation failed", "service", key, "err", assignErr)
	}
	changed, err := r.writeStatus(ctx, svc, held)
	if err != nil {
		return err
	}
	if changed && len(held.IPs) > 0 {
		r.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonIPAllocated, "Assigned IP %s from pool %s", ipStrings(held.IPs), held.Pool)
		r.log.Info("addresses assigned", "service", key, "ip", ipStrings(held.IPs), "pool", held.Pool)
	}
	return nil
}

// assign asks the allocator for svc's addresses and returns what it holds
// afterwards, which is what its status must show.
func (r *Reconciler) assign(svc *corev1.Service) (held ipam.Assignment, assignErr, requestErr error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	key := k8s.ServiceKey(svc)
	req, warnings, err := RequestFor(svc, r.namespaceLabels(svc.Namespace), r.cfg)
	for _, w := range warnings {
		r.recorder.Event(svc, corev1.EventTypeWarning, ReasonDeprecatedAnnotation, w)
	}
	if err != nil {
		return ipam.Assignment{}, nil, err
	}
	_, assignErr = r.alloc.Assign(req)
	held, _ = r.alloc.Lookup(key)
	r.pools.markDirty()
	return held, assignErr, nil
}

func (r *Reconciler) release(key string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	released := r.alloc.Release(key)
	if released {
		r.pools.markDirty()
	}
	return released
}

// disown handles a Service that is not (or no longer) ours: its addresses are
// released, and if it stopped being a LoadBalancer the status we wrote is
// cleared. Services of another loadBalancerClass are never written.
func (r *Reconciler) disown(ctx context.Context, svc *corev1.Service) error {
	key := k8s.ServiceKey(svc)
	released := r.release(key)
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		return nil // another implementation's Service
	}
	if _, ours := svc.Annotations[annotations.IPAllocatedFromPool]; !ours {
		return nil
	}
	if _, err := r.writeStatus(ctx, svc, ipam.Assignment{}); err != nil {
		return err
	}
	if released {
		r.recorder.Event(svc, corev1.EventTypeNormal, ReasonIPReleased, "Service is no longer of type LoadBalancer: addresses released")
		r.log.Info("service no longer a LoadBalancer; addresses released", "service", key)
	}
	return nil
}

// writeStatus makes the Service's status and pool annotation show held,
// writing only what differs. It reports whether the addresses changed.
func (r *Reconciler) writeStatus(ctx context.Context, svc *corev1.Service, held ipam.Assignment) (bool, error) {
	services := r.clients.Kube.CoreV1().Services(svc.Namespace)
	ipsChanged := !slices.Equal(k8s.StatusIPs(svc), held.IPs) || len(svc.Status.LoadBalancer.Ingress) != len(held.IPs)
	if ipsChanged {
		ingress := make([]corev1.LoadBalancerIngress, 0, len(held.IPs))
		for _, ip := range held.IPs {
			ingress = append(ingress, corev1.LoadBalancerIngress{IP: ip.String()})
		}
		patch, err := json.Marshal(map[string]any{"status": map[string]any{"loadBalancer": map[string]any{"ingress": ingress}}})
		if err != nil {
			return false, err
		}
		if _, err := services.Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			return false, fmt.Errorf("writing status: %w", err)
		}
	}
	if svc.Annotations[annotations.IPAllocatedFromPool] != held.Pool {
		var value any // null removes the annotation
		if held.Pool != "" {
			value = held.Pool
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{annotations.IPAllocatedFromPool: value}}})
		if err != nil {
			return false, err
		}
		if _, err := services.Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return ipsChanged, fmt.Errorf("writing annotation %s: %w", annotations.IPAllocatedFromPool, err)
		}
	}
	return ipsChanged, nil
}

func ipStrings(ips []netip.Addr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// poolStatusWriter keeps each IPAddressPool's status counts current, writing
// at most once per interval and only the pools whose counts changed.
type poolStatusWriter struct {
	clients   *k8s.Clients
	namespace string
	alloc     *ipam.Allocator
	metrics   *metrics.Allocator
	log       *slog.Logger
	dirty     chan struct{}
	written   map[string]ipam.PoolStats
}

const poolStatusInterval = time.Second

func newPoolStatusWriter(clients *k8s.Clients, namespace string, alloc *ipam.Allocator, m *metrics.Allocator, log *slog.Logger) *poolStatusWriter {
	return &poolStatusWriter{clients: clients, namespace: namespace, alloc: alloc, metrics: m, log: log,
		dirty: make(chan struct{}, 1), written: map[string]ipam.PoolStats{}}
}

func (w *poolStatusWriter) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

func (w *poolStatusWriter) run(ctx context.Context) {
	w.markDirty()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
		}
		all := w.alloc.Stats()
		w.metrics.Update(all)
		for _, stats := range all {
			if w.written[stats.Pool] == stats {
				continue
			}
			if err := w.write(ctx, stats); err != nil {
				w.log.Warn("writing pool status", "pool", stats.Pool, "err", err)
				continue
			}
			w.written[stats.Pool] = stats
		}
		select { // coalesce bursts of changes
		case <-ctx.Done():
			return
		case <-time.After(poolStatusInterval):
		}
	}
}

func (w *poolStatusWriter) write(ctx context.Context, s ipam.PoolStats) error {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"assignedIPv4": s.AssignedIPv4, "assignedIPv6": s.AssignedIPv6,
		"availableIPv4": s.AvailableIPv4, "availableIPv6": s.AvailableIPv6,
	}})
	if err != nil {
		return err
	}
	return w.clients.MetalLBv1beta1.Patch(types.MergePatchType).
		Namespace(w.namespace).Resource("ipaddresspools").Name(s.Pool).SubResource("status").
		Body(patch).Do(ctx).Error()
}
