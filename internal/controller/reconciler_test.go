package controller

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/ironlb/ironlb/internal/config/configtest"
	"github.com/ironlb/ironlb/internal/k8s"
)

// fixture runs the Reconciler against a fake clientset, in the manner of
// kubernetes/sample-controller: Services are preloaded into the informer's
// indexer and the fake API, each step runs the code Run runs (configure,
// reconcile), and the test asserts the exact list of writes and Events.
type fixture struct {
	t        *testing.T
	kube     *fake.Clientset
	recorder *record.FakeRecorder
	services cache.Indexer
	r        *Reconciler
}

func newFixture(t *testing.T, services ...*corev1.Service) *fixture {
	t.Helper()
	kube := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(kube, 0)
	svcInformer := factory.Core().V1().Services()
	f := &fixture{t: t, kube: kube, recorder: record.NewFakeRecorder(1000), services: svcInformer.Informer().GetIndexer()}
	f.r = NewReconciler(&k8s.Clients{Kube: kube}, f.recorder, slog.New(slog.DiscardHandler), Options{Namespace: "metallb-system"})
	f.r.services = svcInformer.Lister()
	f.r.serviceIndexer = f.services
	if err := addStatusIPIndex(svcInformer.Informer()); err != nil {
		t.Fatal(err)
	}
	f.r.namespaces = factory.Core().V1().Namespaces().Lister()
	for _, svc := range services {
		f.addService(svc)
	}
	return f
}

// addService creates a Service in the fake API and the informer's cache.
func (f *fixture) addService(svc *corev1.Service) {
	f.t.Helper()
	if err := f.kube.Tracker().Add(svc); err != nil {
		f.t.Fatal(err)
	}
	if err := f.services.Add(svc); err != nil {
		f.t.Fatal(err)
	}
}

// configure loads a configuration made of the given metallb.io YAML, as a
// configuration update does in Run.
func (f *fixture) configure(yaml string) {
	f.t.Helper()
	f.r.configure(configtest.Build(f.t, yaml))
}

// reconcileAll reconciles every Service once, in name order, then refreshes
// the cache from the fake API as the informer would.
func (f *fixture) reconcileAll() {
	f.t.Helper()
	keys := f.services.ListKeys()
	slices.Sort(keys)
	for _, key := range keys {
		if err := f.r.reconcile(f.t.Context(), key); err != nil {
			f.t.Fatalf("reconcile %s: %v", key, err)
		}
	}
	f.refresh(keys...)
}

// refresh copies the given Services from the fake API into the cache, as
// the informer would.
func (f *fixture) refresh(keys ...string) {
	f.t.Helper()
	for _, key := range keys {
		ns, name, _ := cache.SplitMetaNamespaceKey(key)
		obj, err := f.kube.Tracker().Get(corev1.SchemeGroupVersion.WithResource("services"), ns, name)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.services.Update(obj); err != nil {
			f.t.Fatal(err)
		}
	}
}

// updateService replaces a Service in the fake API and the cache.
func (f *fixture) updateService(svc *corev1.Service) {
	f.t.Helper()
	if err := f.kube.Tracker().Update(corev1.SchemeGroupVersion.WithResource("services"), svc, svc.Namespace); err != nil {
		f.t.Fatal(err)
	}
	if err := f.services.Update(svc); err != nil {
		f.t.Fatal(err)
	}
}

// expectWrites checks the writes made since the last call, as "verb
// resource/subresource namespace/name body", and forgets them.
func (f *fixture) expectWrites(want ...string) {
	f.t.Helper()
	var got []string
	for _, action := range f.kube.Actions() {
		if action.Matches("list", "services") || action.Matches("watch", "services") || action.GetVerb() == "get" {
			continue
		}
		line := fmt.Sprintf("%s %s/%s", action.GetVerb(), action.GetResource().Resource, action.GetSubresource())
		if p, ok := action.(core.PatchAction); ok {
			line += fmt.Sprintf(" %s/%s %s", p.GetNamespace(), p.GetName(), p.GetPatch())
		}
		got = append(got, line)
	}
	f.kube.ClearActions()
	if !slices.Equal(got, want) {
		f.t.Errorf("writes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// events returns the Events recorded since the last call.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// expectEvent checks that some Event recorded since the last call to events
// contains every one of parts.
func (f *fixture) expectEvent(parts ...string) {
	f.t.Helper()
	events := f.events()
	for _, e := range events {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(e, p) }) {
			return
		}
	}
	f.t.Errorf("no Event containing %q among %q", parts, events)
}

// lbService returns a LoadBalancer Service as MetalLB left it: its status
// shows ips and, when pool is set, its pool annotation.
func lbService(name, pool string, ips ...string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(time.Unix(1700000000, 0)), Annotations: map[string]string{}},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeLoadBalancer,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	if pool != "" {
		svc.Annotations["metallb.io/ip-allocated-from-pool"] = pool
	}
	for _, ip := range ips {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return svc
}

const (
	poolA = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec: {addresses: [10.0.0.0/24]}
`
	poolB = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: b, namespace: metallb-system}
spec: {addresses: [10.1.0.0/24]}
`
	noPools = ""
)

// TestReconcileRestartWritesNothing: a controller restarted over Services
// whose status matches the configuration writes nothing.
func TestReconcileRestartWritesNothing(t *testing.T) {
	f := newFixture(t, lbService("x", "a", "10.0.0.9"), lbService("y", "b", "10.1.0.3"))
	f.configure(poolA + "---" + poolB)
	f.reconcileAll()
	f.expectWrites()
}

// TestReconcileNewServiceOneWrite: a new Service gets its address and pool
// annotation in one write to the status subresource.
func TestReconcileNewServiceOneWrite(t *testing.T) {
	f := newFixture(t, lbService("x", "a", "10.0.0.0"), lbService("new", ""))
	f.configure(poolA)
	f.reconcileAll()
	f.expectWrites(`patch services/status default/new {"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"a"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1"}]}}}`)
	f.expectEvent("Normal IPAllocated Assigned IP [10.0.0.1] from pool a")
}

// TestReconcileEmptyConfigurationKeepsStatus: the documented migration order
// starts the controller before any pool exists. It must not clear a status
// or a pool annotation, and it says why the address is not served.
func TestReconcileEmptyConfigurationKeepsStatus(t *testing.T) {
	f := newFixture(t, lbService("x", "a", "10.0.0.9"), lbService("y", "b", "10.1.0.3"))
	f.configure(noPools)
	f.reconcileAll()
	f.expectWrites()
	f.expectEvent("Warning "+ReasonIPKeptOutsidePools, "10.0.0.9", "no IPAddressPool")
}

// TestReconcileMissingPoolKeepsStatus: with one of two pools applied, the
// Services of the missing pool keep their status.
func TestReconcileMissingPoolKeepsStatus(t *testing.T) {
	f := newFixture(t, lbService("x", "a", "10.0.0.9"), lbService("y", "b", "10.1.0.3"))
	f.configure(poolA)
	f.reconcileAll()
	f.expectWrites()
	f.expectEvent("Warning "+ReasonIPKeptOutsidePools, "10.1.0.3")
}

// TestReconcilePoolsArriveLater: when the pools arrive after the first
// (empty) configuration, every claim is restored before anything is handed
// out: a new Service gets the lowest address nobody claims.
func TestReconcilePoolsArriveLater(t *testing.T) {
	f := newFixture(t, lbService("x", "a", "10.0.0.0"), lbService("y", "a", "10.0.0.1"), lbService("z", "b", "10.1.0.3"))
	f.configure(noPools)
	f.reconcileAll()
	f.addService(lbService("new", ""))
	f.configure(poolA)
	f.reconcileAll()
	f.configure(poolA + "---" + poolB)
	f.reconcileAll()
	f.expectWrites(`patch services/status default/new {"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"a"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.2"}]}}}`)
}

// TestReconcilePoolDeletedAndReapplied: a Service whose pool is deleted keeps
// its address; when the pool comes back nobody else got it.
func TestReconcilePoolDeletedAndReapplied(t *testing.T) {
	f := newFixture(t, lbService("x", "a", "10.0.0.0"))
	f.configure(poolA + "---" + poolB)
	f.reconcileAll()
	f.configure(poolB)
	f.reconcileAll()
	f.expectWrites()
	f.expectEvent("Warning "+ReasonIPKeptOutsidePools, "10.0.0.0")
	f.addService(lbService("new", ""))
	f.configure(poolA + "---" + poolB)
	f.reconcileAll()
	f.expectWrites(`patch services/status default/new {"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"a"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1"}]}}}`)
}

// TestReconcileMetalLBAnnotationsWhilePoolMissing: Services that request
// their address, or share one, under MetalLB's deprecated annotation names
// keep their status while their pool is missing, and once it is applied.
func TestReconcileMetalLBAnnotationsWhilePoolMissing(t *testing.T) {
	requested := lbService("requested", "b", "10.1.0.3")
	requested.Annotations["metallb.universe.tf/loadBalancerIPs"] = "10.1.0.3"
	shared1, shared2 := lbService("shared-1", "b", "10.1.0.9"), lbService("shared-2", "b", "10.1.0.9")
	for i, svc := range []*corev1.Service{shared1, shared2} {
		svc.Annotations["metallb.universe.tf/allow-shared-ip"] = "db"
		svc.Spec.Ports[0].Port = int32(5432 + i)
	}
	f := newFixture(t, requested, shared1, shared2)
	f.configure(poolA)
	f.reconcileAll()
	f.expectWrites()
	f.expectEvent("Warning AllocationFailed", "10.1.0.3 for default/requested is not in any pool")
	f.configure(poolA + "---" + poolB)
	f.reconcileAll()
	f.expectWrites()
}
