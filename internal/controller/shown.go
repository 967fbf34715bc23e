package controller

import (
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/k8s"
)

// statusIPIndex indexes the Service cache by the addresses in each
// Service's status.
const statusIPIndex = "statusIP"

// addStatusIPIndex adds statusIPIndex to a Service informer; call it before
// the informer starts.
func addStatusIPIndex(informer cache.SharedIndexInformer) error {
	return informer.AddIndexers(cache.Indexers{statusIPIndex: func(obj any) ([]string, error) {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return nil, nil
		}
		ips := k8s.StatusIPs(svc)
		keys := make([]string, len(ips))
		for i, ip := range ips {
			keys[i] = ip.String()
		}
		return keys, nil
	}})
}

// shownElsewhereError says another Service's status shows an address the
// allocator gave to a Service, and the two may not share it.
type shownElsewhereError struct {
	other string // the other Service's key
	err   error  // the sharing rule's refusal
}

func (e *shownElsewhereError) Error() string {
	return fmt.Sprintf("not written: %v; retrying once %s no longer shows it", e.err, e.other)
}

func (e *shownElsewhereError) Unwrap() error { return e.err }

// shownElsewhere checks, against the cache, the addresses of held that svc
// does not show yet: no other Service may show one unless the allocator's
// sharing rule lets them share it (ipam.SharingRefusal; a Service of another
// class or type never shares). The allocator already keeps every address a
// status shows; this catches what it cannot know, such as a write by another
// controller process. Call it with r.mu held.
func (r *Reconciler) shownElsewhere(svc *corev1.Service, req ipam.Request, held []netip.Addr) error {
	indexer := r.serviceIndexer
	if indexer == nil {
		return nil
	}
	shown := k8s.StatusIPs(svc)
	for _, ip := range held {
		if slices.Contains(shown, ip) {
			continue
		}
		others, err := indexer.ByIndex(statusIPIndex, ip.String())
		if err != nil {
			return err
		}
		for _, obj := range others {
			other, ok := obj.(*corev1.Service)
			if !ok || (other.Namespace == svc.Namespace && other.Name == svc.Name) {
				continue
			}
			if err := ipam.SharingRefusal(ip, req, r.requestOf(other)); err != nil {
				return &shownElsewhereError{other: k8s.ServiceKey(other), err: err}
			}
		}
	}
	return nil
}

// requestOf returns the sharing side of a Service's request: a Service that
// is not ours, or whose request is malformed, shares nothing.
func (r *Reconciler) requestOf(svc *corev1.Service) ipam.Request {
	key := k8s.ServiceKey(svc)
	if !k8s.IsOurs(svc, r.opts.LBClass) {
		return ipam.Request{Service: key}
	}
	req, _, err := RequestFor(svc, r.namespaceLabels(svc.Namespace), r.cfg)
	if err != nil {
		return ipam.Request{Service: key}
	}
	return req
}

// ReasonIPShownByOtherClass: a Service of ours moves off an address that an
// older Service of another loadBalancerClass shows too.
const ReasonIPShownByOtherClass = "IPShownByOtherClass"

// claimForeign quarantines the addresses a Service of another
// loadBalancerClass shows (ipam.Allocator.ClaimShown). When a Service of
// ours holds one of them too — two controllers chose it at the same moment
// — the younger Service moves: both controllers apply the same rule, so
// exactly one of the two does. Call it without r.mu held.
func (r *Reconciler) claimForeign(svc *corev1.Service) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	key := k8s.ServiceKey(svc)
	r.setWaiting(key, false)
	evicted := r.alloc.ClaimShown(key, k8s.StatusIPs(svc), func(holder string) bool {
		return r.youngerThan(holder, svc)
	})
	r.pools.markDirty()
	for _, holder := range evicted {
		if mine, err := r.serviceByKey(holder); err == nil {
			r.recorder.Eventf(mine, corev1.EventTypeWarning, ReasonIPShownByOtherClass,
				"%s of this Service is also shown by %s (another loadBalancerClass), an older Service: a new address will be assigned",
				ipStrings(k8s.StatusIPs(svc)), key)
		}
		r.log.Warn("address also given by another loadBalancerClass to an older Service; moving", "service", holder, "other", key)
		r.queue.Add(holder)
	}
}

// youngerThan reports whether the Service with key holder was created after
// other (ties broken by key): it yields a doubly allocated address.
func (r *Reconciler) youngerThan(holder string, other *corev1.Service) bool {
	mine, err := r.serviceByKey(holder)
	if err != nil {
		return false
	}
	if c := mine.CreationTimestamp.Compare(other.CreationTimestamp.Time); c != 0 {
		return c > 0
	}
	return holder > k8s.ServiceKey(other)
}

func (r *Reconciler) serviceByKey(key string) (*corev1.Service, error) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, err
	}
	return r.services.Services(namespace).Get(name)
}
