package controller

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
)

const poolOne = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: one, namespace: metallb-system}
spec: {addresses: [10.2.0.1/32]}
`

// fromPool returns a Service requesting pool, without status.
func fromPool(name, pool string) *corev1.Service {
	svc := lbService(name, "")
	svc.Annotations["metallb.io/address-pool"] = pool
	return svc
}

// refuseStatusWrites makes every status write to the named Service fail with
// 429 Too Many Requests while *refuse is set.
func (f *fixture) refuseStatusWrites(name string, refuse *atomic.Bool) {
	f.kube.PrependReactor("patch", "services", func(action core.Action) (bool, runtime.Object, error) {
		patch := action.(core.PatchAction)
		if refuse.Load() && patch.GetSubresource() == "status" && patch.GetName() == name {
			return true, nil, apierrors.NewTooManyRequests("injected", 1)
		}
		return false, nil, nil
	})
}

// An address freed by a move whose status write failed (429) stays
// quarantined until the write lands: nobody else gets it meanwhile.
func TestReconcileFreedAddressQuarantinedUntilReleaseObserved(t *testing.T) {
	f := newFixture(t, fromPool("first", "one"))
	f.configure(poolOne + "---" + poolA)
	f.reconcileAll()
	f.expectWrites(`patch services/status default/first {"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"one"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.2.0.1"}]}}}`)

	var refuse atomic.Bool
	refuse.Store(true)
	f.refuseStatusWrites("first", &refuse)
	moved, _, _ := f.services.GetByKey("default/first")
	first := moved.(*corev1.Service).DeepCopy()
	first.Annotations["metallb.io/address-pool"] = "a"
	f.updateService(first)
	if err := f.r.reconcile(t.Context(), "default/first"); !apierrors.IsTooManyRequests(errors.Unwrap(err)) {
		t.Fatalf("reconcile first = %v, want the injected 429", err)
	}
	f.addService(fromPool("second", "one"))
	if err := f.r.reconcile(t.Context(), "default/second"); err != nil {
		t.Fatal(err)
	}
	f.expectWrites(`patch services/status default/first {"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"a"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.0"}]}}}`)
	f.expectEvent("Warning AllocationFailed", "no free IPv4 address for default/second")

	// The retry lands; the informer shows first without 10.2.0.1, which
	// then goes to second.
	refuse.Store(false)
	if err := f.r.reconcile(t.Context(), "default/first"); err != nil {
		t.Fatal(err)
	}
	f.refresh("default/first")
	if err := f.r.reconcile(t.Context(), "default/first"); err != nil {
		t.Fatal(err)
	}
	if queued, _ := f.r.queue.Get(); queued != "default/second" {
		t.Fatalf("queued %q, want default/second woken when the quarantine is lifted", queued)
	}
	f.reconcileAll()
	f.expectWrites(
		`patch services/status default/first {"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"a"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.0"}]}}}`,
		`patch services/status default/second {"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"one"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.2.0.1"}]}}}`)
	if len(f.r.waiting) != 0 {
		t.Errorf("still waiting for an address: %v", f.r.waiting)
	}
}

// Before writing an address, the controller checks the cache: an address
// another Service shows (written by another controller process, unknown to
// this allocator) is not written a second time.
func TestReconcileRefusesAddressShownByAnotherService(t *testing.T) {
	f := newFixture(t, lbService("x", "a", "10.0.0.9"))
	f.configure(poolA)
	f.reconcileAll()
	// Another controller process gave 10.0.0.0 to "other" after ours restored.
	f.addService(lbService("other", "a", "10.0.0.0"))
	f.addService(lbService("new", ""))
	err := f.r.reconcile(t.Context(), "default/new")
	if err == nil {
		t.Fatal("reconcile wrote an address another Service shows")
	}
	f.expectWrites()
	f.expectEvent("Warning AllocationFailed", "10.0.0.0 for default/new is in use by default/other")
	// The failed reconcile queued other: its reconcile takes the address
	// into the allocator; new's retry then gets another one.
	if err := f.r.reconcile(t.Context(), "default/other"); err != nil {
		t.Fatal(err)
	}
	f.reconcileAll()
	f.expectWrites(`patch services/status default/new {"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"a"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1"}]}}}`)
}

// A controller of another loadBalancerClass on the same pools: the addresses
// its Services show are never given to ours, whether they exist when the
// controller starts or appear later.
func TestReconcileKeepsAddressesOfOtherClasses(t *testing.T) {
	classed := func(name string, ips ...string) *corev1.Service {
		svc := lbService(name, "", ips...)
		class := "example.com/other"
		svc.Spec.LoadBalancerClass = &class
		return svc
	}
	f := newFixture(t, classed("at-start", "10.0.0.0"))
	f.configure(poolA)
	f.reconcileAll()
	f.addService(classed("later", "10.0.0.1"))
	f.reconcileAll()
	f.addService(lbService("mine", ""))
	f.reconcileAll()
	f.expectWrites(`patch services/status default/mine {"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"a"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.2"}]}}}`)
	if got := f.r.alloc.Stats()[0].AssignedIPv4; got != 3 {
		t.Errorf("pool a counts %d addresses in use, want 3 (two shown by the other class)", got)
	}
}

// Two controllers of different classes gave one address at the same moment:
// the younger Service moves, in both controllers' view, so exactly one does.
func TestReconcileYoungerServiceYieldsToOtherClass(t *testing.T) {
	for _, tt := range []struct {
		name      string
		theirsAge time.Duration // creation relative to ours
		wantMove  bool
	}{
		{"theirs older: ours moves", -time.Hour, true},
		{"theirs younger: ours keeps it", time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mine := lbService("mine", "a", "10.0.0.0")
			f := newFixture(t, mine)
			f.configure(poolA)
			f.reconcileAll()
			theirs := lbService("theirs", "", "10.0.0.0")
			class := "example.com/other"
			theirs.Spec.LoadBalancerClass = &class
			theirs.CreationTimestamp = metav1.NewTime(mine.CreationTimestamp.Add(tt.theirsAge))
			f.addService(theirs)
			f.reconcileAll()
			if !tt.wantMove {
				f.expectWrites()
				return
			}
			f.expectEvent("Warning "+ReasonIPShownByOtherClass, "[10.0.0.0] of this Service is also shown by default/theirs")
			if queued, _ := f.r.queue.Get(); queued != "default/mine" {
				t.Fatalf("queued %q, want default/mine", queued)
			}
			if err := f.r.reconcile(t.Context(), "default/mine"); err != nil {
				t.Fatal(err)
			}
			f.expectWrites(`patch services/status default/mine {"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1"}]}}}`)
		})
	}
}
