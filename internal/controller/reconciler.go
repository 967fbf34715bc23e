package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

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
	// ReasonIPKeptOutsidePools: a Service keeps an address no configured
	// pool contains (deleted, shrunk or not applied yet).
	ReasonIPKeptOutsidePools = "IPKeptOutsidePools"
)

// DefaultWorkers is the default number of Services reconciled in parallel.
// A reconcile mostly waits for the API server to store the status (the
// allocator itself takes microseconds), so many run at once: with 4, a
// controller assigning 1,000 Services left a 2-core API server idle part of
// the time (see docs/allocation.md).
const DefaultWorkers = 16

// Options configure a Reconciler.
type Options struct {
	// Namespace holds the metallb.io configuration.
	Namespace string
	// LBClass is the loadBalancerClass handled; empty handles Services
	// without a class.
	LBClass string
	// Workers is the number of Services reconciled in parallel,
	// DefaultWorkers when zero.
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

	services corelisters.ServiceLister
	// serviceIndexer is the services cache, indexed by status address.
	serviceIndexer cache.Indexer
	namespaces     corelisters.NamespaceLister
	queue          workqueue.TypedRateLimitingInterface[string]

	// mu orders configuration changes against allocations: reconciles hold
	// it for reading, a configuration change for writing.
	mu    sync.RWMutex
	cfg   *config.Config
	alloc *ipam.Allocator

	pools *poolStatusWriter

	// waiting holds the Services left without an address by a failed
	// request; they are queued again whenever an address is freed.
	waitingMu sync.Mutex
	waiting   map[string]bool

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
		opts.Workers = DefaultWorkers
	}
	return &Reconciler{
		opts:     opts,
		clients:  clients,
		recorder: recorder,
		log:      log,
		waiting:  map[string]bool{},
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
	r.serviceIndexer = svcInformer.Informer().GetIndexer()
	r.namespaces = nsInformer.Lister()
	if err := addStatusIPIndex(svcInformer.Informer()); err != nil {
		return err
	}
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
			if r.configure(u.Config) {
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
		if r.release(key, nil) {
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

	held, freed, assignErr, requestErr := r.assign(svc)
	if freed {
		r.wakeWaiting()
	}
	var shownErr *shownElsewhereError
	if errors.As(assignErr, &shownErr) {
		// Another Service shows the address: its reconcile quarantines it,
		// then this one retries.
		r.queue.Add(shownErr.other)
		r.setWaiting(key, true)
		r.recorder.Event(svc, corev1.EventTypeWarning, ReasonAllocationFailed, assignErr.Error())
		return assignErr
	}
	r.setWaiting(key, requestErr == nil && assignErr != nil && len(held.IPs) == 0)
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
	if len(held.Unpooled) > 0 {
		r.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonIPKeptOutsidePools,
			"%s is in no IPAddressPool (deleted, shrunk or not applied yet): the Service keeps it, unannounced, until a pool contains it again; to move the Service, name an existing pool in %s or addresses in %s",
			ipStrings(held.Unpooled), annotations.AddressPool, annotations.LoadBalancerIPs)
		r.log.Warn("address outside every pool kept; not announced until its pool returns", "service", key, "ip", ipStrings(held.Unpooled))
	}
	changed, err := r.writeStatus(ctx, svc, held)
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile: its deletion is queued
	}
	if err != nil {
		r.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonAllocationFailed, "cannot write the Service's status, retrying: %v", err)
		return err
	}
	if changed && len(held.IPs) > 0 {
		r.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonIPAllocated, "Assigned IP %s from pool %s", ipStrings(held.IPs), held.Pool)
		r.log.Info("addresses assigned", "service", key, "ip", ipStrings(held.IPs), "pool", held.Pool)
	}
	return nil
}

// assign asks the allocator for svc's addresses and returns what it holds
// afterwards, which is what its status must show, and whether an address
// became free. What svc's status shows and it no longer holds stays
// quarantined until the status changes (see ipam.Allocator.AssignShown).
// An address another Service in the cache shows, and may not share, is
// refused with a *shownElsewhereError.
func (r *Reconciler) assign(svc *corev1.Service) (held ipam.Assignment, freed bool, assignErr, requestErr error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	key := k8s.ServiceKey(svc)
	req, warnings, err := RequestFor(svc, r.namespaceLabels(svc.Namespace), r.cfg)
	for _, w := range warnings {
		r.recorder.Event(svc, corev1.EventTypeWarning, ReasonDeprecatedAnnotation, w)
	}
	if err != nil {
		return ipam.Assignment{}, false, nil, err
	}
	shown := k8s.StatusIPs(svc)
	_, freed, assignErr = r.alloc.AssignShown(req, shown)
	held, _ = r.alloc.Lookup(key)
	r.pools.markDirty()
	if err := r.shownElsewhere(svc, req, held.IPs); err != nil {
		// Back to what the status shows: the other Service's reconcile
		// quarantines the address, then this one retries.
		r.alloc.RevertShown(req, shown)
		return ipam.Assignment{}, true, err, nil
	}
	return held, freed, assignErr, nil
}

// release frees what the Service holds, except the addresses shown (what
// its status still shows; nil for a deleted Service), which stay
// quarantined until the status no longer shows them. It reports whether the
// Service held anything.
func (r *Reconciler) release(key string, shown []netip.Addr) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.setWaiting(key, false)
	_, held := r.alloc.Lookup(key)
	if r.alloc.ReleaseShown(key, shown) {
		r.wakeWaiting()
	}
	r.pools.markDirty()
	return held
}

// setWaiting records whether the Service waits for an address to be freed.
func (r *Reconciler) setWaiting(key string, waiting bool) {
	r.waitingMu.Lock()
	defer r.waitingMu.Unlock()
	if waiting {
		r.waiting[key] = true
	} else {
		delete(r.waiting, key)
	}
}

// wakeWaiting queues the Services waiting for an address: one was freed.
func (r *Reconciler) wakeWaiting() {
	r.waitingMu.Lock()
	defer r.waitingMu.Unlock()
	for key := range r.waiting {
		r.queue.Add(key)
	}
}

// disown handles a Service that is not (or no longer) ours: its addresses are
// released, and if it stopped being a LoadBalancer the status we wrote is
// cleared. Services of another loadBalancerClass are never written, but the
// addresses their status shows stay quarantined: no Service of ours gets
// one (two controllers of different classes may share pools).
func (r *Reconciler) disown(ctx context.Context, svc *corev1.Service) error {
	key := k8s.ServiceKey(svc)
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		r.claimForeign(svc) // another implementation's Service
		return nil
	}
	released := r.release(key, k8s.StatusIPs(svc))
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
	patch, ipsChanged, err := StatusPatch(svc, held)
	if patch == nil || err != nil {
		return false, err
	}
	_, err = r.clients.Kube.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return false, fmt.Errorf("writing status and annotation %s: %w", annotations.IPAllocatedFromPool, err)
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
