package controller

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/k8s"
)

// configure installs a valid configuration and reports whether it is the
// first one: the caller then starts the pool status writer and the workers.
func (r *Reconciler) configure(cfg *config.Config) (first bool) {
	first, lost := r.applyConfig(cfg)
	r.reportReleased(lost)
	if first {
		r.pools = newPoolStatusWriter(r.clients, r.opts.Namespace, r.alloc, r.opts.PoolMetrics, r.log)
	}
	if r.pools != nil {
		r.pools.markDirty() // pools may have come, gone or changed size
	}
	return first
}

// applyConfig installs a valid configuration. On the first one it creates the
// allocator and restores every assignment found in Service status, and
// reports first: the caller then starts the workers. On later ones it
// returns the Services that lost addresses because these now lie in another
// pool than their first one. Addresses that no pool contains any more are
// kept (see ipam.Assignment.Unpooled): a pool deleted and applied again, or
// applied after the controller started, renumbers nothing.
func (r *Reconciler) applyConfig(cfg *config.Config) (first bool, lost []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.alloc != nil {
		lost, err := r.alloc.SetPools(Pools(cfg))
		if err != nil {
			// config.Build refuses everything the allocator would; this
			// would be a bug, and the old configuration keeps serving.
			r.log.Error("allocator refused a validated configuration", "err", err)
			return false, nil
		}
		r.cfg = cfg
		r.log.Info("configuration updated", "pools", len(cfg.Pools))
		return false, lost
	}
	alloc, err := ipam.New(Pools(cfg))
	if err != nil {
		r.log.Error("allocator refused a validated configuration", "err", err)
		return false, nil
	}
	r.cfg = cfg
	r.alloc = alloc
	r.restore(cfg)
	return true, nil
}

// reportReleased tells each Service in keys which of its addresses a
// configuration change released; the reconcile that follows assigns new
// ones.
func (r *Reconciler) reportReleased(keys []string) {
	for _, key := range keys {
		namespace, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			continue
		}
		svc, err := r.services.Services(namespace).Get(name)
		if err != nil {
			continue // deleted meanwhile
		}
		held, _ := r.alloc.Lookup(key)
		var released []netip.Addr
		for _, ip := range k8s.StatusIPs(svc) {
			if !slices.Contains(held.IPs, ip) {
				released = append(released, ip)
			}
		}
		if len(released) == 0 {
			continue // never written to its status
		}
		r.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonIPReleased,
			"%s released: after a configuration change it lies in another pool than the Service's other address; a new address will be assigned", ipStrings(released))
		r.log.Info("addresses now in another pool than the service's first one; re-assigning", "service", key, "released", ipStrings(released))
	}
}

// restore rebuilds the allocator's state from the addresses in Service
// status, oldest Service first, before any new allocation. Claims on
// addresses outside every configured pool are restored too, as unpooled:
// they wait for their pool, and the reconcile of their Service reports them.
func (r *Reconciler) restore(cfg *config.Config) {
	services, err := r.services.List(labels.Everything())
	if err != nil {
		r.log.Error("listing services", "err", err)
		return
	}
	var claims []ipam.Claim
	var claimants, foreign []*corev1.Service
	for _, svc := range services {
		ips := k8s.StatusIPs(svc)
		if len(ips) == 0 {
			continue
		}
		if !k8s.IsOurs(svc, r.opts.LBClass) {
			foreign = append(foreign, svc)
			continue
		}
		// A malformed request still restores: the status is kept as it is.
		req, _, _ := RequestFor(svc, r.namespaceLabels(svc.Namespace), cfg)
		claims = append(claims, ipam.Claim{Request: req, IPs: ips, Created: svc.CreationTimestamp.Time})
		claimants = append(claimants, svc)
	}
	restored, unpooled := 0, 0
	for i, err := range r.alloc.RestoreAll(claims) {
		if err != nil {
			r.recorder.Eventf(claimants[i], corev1.EventTypeWarning, ReasonAllocationFailed,
				"cannot keep the address in the status: %v; a new address will be assigned", err)
			r.log.Warn("cannot keep the address in the status; a new one will be assigned", "service", claims[i].Request.Service, "err", err)
			continue
		}
		restored++
		if held, _ := r.alloc.Lookup(claims[i].Request.Service); len(held.Unpooled) > 0 {
			unpooled++
		}
	}
	// Addresses on Services of another class (or no longer
	// LoadBalancers) are quarantined: see disown.
	for _, svc := range foreign {
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			r.alloc.ReleaseShown(k8s.ServiceKey(svc), k8s.StatusIPs(svc))
			continue
		}
		r.alloc.ClaimShown(k8s.ServiceKey(svc), k8s.StatusIPs(svc), func(holder string) bool { return r.youngerThan(holder, svc) })
	}
	r.log.Info("assignments restored from service status", "restored", restored, "waitingForPool", unpooled, "refused", len(claims)-restored)
}
