package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/annotations"
	"github.com/ironlb/ironlb/internal/controller"
)

// TestDeleteReleases: deleting a Service frees its address at once: a
// Service waiting on the exhausted pool gets it, and so does a new one later.
func TestDeleteReleases(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("one", "{addresses: [198.18.8.1/32]}"), "one")
	holder := l.CreateService(t, newService("default", "one-holder"))
	if ip := waitIPs(t, l, holder, 1)[0]; ip != addr("198.18.8.1") {
		t.Fatalf("got %s, want 198.18.8.1", ip)
	}
	waiting := l.CreateService(t, newService("default", "one-waiting"))
	waitEvent(t, l, waiting, controller.ReasonAllocationFailed, "no free IPv4 address for default/one-waiting")
	deleteService(t, l, holder)
	if ip := waitIPs(t, l, waiting, 1)[0]; ip != addr("198.18.8.1") {
		t.Errorf("the waiting Service got %s, want the released 198.18.8.1", ip)
	}
	deleteService(t, l, waiting)
	if ip := waitIPs(t, l, l.CreateService(t, newService("default", "one-later")), 1)[0]; ip != addr("198.18.8.1") {
		t.Errorf("a new Service got %s, want the released 198.18.8.1", ip)
	}
}

// TestTypeChange: a Service that stops being a LoadBalancer loses its status
// and pool annotation, with an Event, and its address is free again.
func TestTypeChange(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("typechange", "{addresses: [198.18.9.1/32]}"), "typechange")
	svc := l.CreateService(t, newService("default", "type-change"))
	ip := waitIPs(t, l, svc, 1)[0]
	patchService(t, l, svc, `{"spec":{"type":"ClusterIP","allocateLoadBalancerNodePorts":null}}`)
	waitStatus(t, l, "default", "type-change", "status and annotation cleared", func(s *corev1.Service) error {
		if len(s.Status.LoadBalancer.Ingress) != 0 || s.Annotations[annotations.IPAllocatedFromPool] != "" {
			return fmt.Errorf("status %v, annotations %v", s.Status.LoadBalancer.Ingress, s.Annotations)
		}
		return nil
	})
	waitEvent(t, l, svc, controller.ReasonIPReleased, "no longer of type LoadBalancer")
	if got := waitIPs(t, l, l.CreateService(t, newService("default", "type-change-next")), 1)[0]; got != ip {
		t.Errorf("a new Service got %s, want the released %s", got, ip)
	}
}

// TestPoolShrinks: when a pool change leaves a Service's address outside
// every pool, the Service keeps it, with an Event saying why, until its
// request names a pool; the others keep theirs.
func TestPoolShrinks(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("shrink", "{addresses: [198.18.10.0-198.18.10.3]}"), "shrink")
	a := l.CreateService(t, newService("default", "shrink-a"))
	if ip := waitIPs(t, l, a, 1)[0]; ip != addr("198.18.10.0") {
		t.Fatalf("got %s, want 198.18.10.0", ip)
	}
	b := l.CreateService(t, newService("default", "shrink-b"))
	if ip := waitIPs(t, l, b, 1)[0]; ip != addr("198.18.10.1") {
		t.Fatalf("got %s, want 198.18.10.1", ip)
	}
	if err := l.Apply(t.Context(), pool("shrink", "{addresses: [198.18.10.1-198.18.10.5]}")); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, l, a, controller.ReasonIPKeptOutsidePools, "198.18.10.0", "keeps it")
	if got := statusIPs(getService(t, l, "default", "shrink-a")); !slices.Equal(got, []netip.Addr{addr("198.18.10.0")}) {
		t.Errorf("shrink-a has %v, want 198.18.10.0 kept", got)
	}
	if got := statusIPs(getService(t, l, "default", "shrink-b")); !slices.Equal(got, []netip.Addr{addr("198.18.10.1")}) {
		t.Errorf("shrink-b has %v, want 198.18.10.1 kept", got)
	}
	patchService(t, l, a, `{"metadata":{"annotations":{"metallb.io/address-pool":"shrink"}}}`)
	waitStatus(t, l, "default", "shrink-a", "moved into the shrunk pool on request", hasIPs(addr("198.18.10.2")))
}

// TestPoolDeleted: the Services of a deleted pool keep their addresses, with
// an Event, and move to another pool when they ask for it.
func TestPoolDeleted(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("deleted-first", "{addresses: [198.18.11.0/28], serviceAllocation: {priority: 1}}")+
		pool("deleted-second", "{addresses: [198.18.11.128/28], serviceAllocation: {priority: 2}}"),
		"deleted-first", "deleted-second")
	svc := l.CreateService(t, newService("default", "pool-deleted"))
	if ip := waitIPs(t, l, svc, 1)[0]; ip != addr("198.18.11.0") {
		t.Fatalf("got %s, want 198.18.11.0 of pool deleted-first", ip)
	}
	if _, err := l.Kubectl(t.Context(), "", "delete", "ipaddresspool", "-n", lab.IronLBNamespace, "deleted-first"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, l, svc, controller.ReasonIPKeptOutsidePools, "198.18.11.0")
	kept := getService(t, l, "default", "pool-deleted")
	if got := statusIPs(kept); !slices.Equal(got, []netip.Addr{addr("198.18.11.0")}) {
		t.Errorf("status %v, want 198.18.11.0 kept", got)
	}
	if got := kept.Annotations[annotations.IPAllocatedFromPool]; got != "deleted-first" {
		t.Errorf("annotation %s = %q, want deleted-first kept", annotations.IPAllocatedFromPool, got)
	}
	patchService(t, l, svc, `{"metadata":{"annotations":{"metallb.io/address-pool":"deleted-second"}}}`)
	moved := waitStatus(t, l, "default", "pool-deleted", "moved to pool deleted-second on request", hasIPs(addr("198.18.11.128")))
	if got := moved.Annotations[annotations.IPAllocatedFromPool]; got != "deleted-second" {
		t.Errorf("annotation %s = %q, want deleted-second", annotations.IPAllocatedFromPool, got)
	}
}

// TestBadInput: a malformed or impossible request gets an Event naming the
// problem, and the Service keeps the status it has; a new Service with a
// malformed annotation gets the Event and no status.
func TestBadInput(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("bad", "{addresses: [198.18.14.0/28, 'fd00:18:14::/124']}"), "bad")
	svc := l.CreateService(t, newService("default", "bad-input"))
	ip := waitIPs(t, l, svc, 1)[0]
	before := getService(t, l, "default", "bad-input")

	cases := []struct {
		patch   string
		message []string
	}{
		{`{"metadata":{"annotations":{"metallb.io/loadBalancerIPs":"not-an-ip"}}}`,
			[]string{"annotation metallb.io/loadBalancerIPs", "not-an-ip"}},
		{`{"metadata":{"annotations":{"metallb.io/loadBalancerIPs":"198.18.14.1,198.18.14.2"}}}`,
			[]string{"annotation metallb.io/loadBalancerIPs"}},
		{`{"metadata":{"annotations":{"metallb.io/loadBalancerIPs":"fd00:18:14::5"}}}`,
			[]string{"addresses requested by default/bad-input do not fit its IP families"}},
		{`{"metadata":{"annotations":{"metallb.io/loadBalancerIPs":"203.0.113.7"}}}`,
			[]string{"203.0.113.7 for default/bad-input is not in any pool"}},
		{`{"metadata":{"annotations":{"metallb.io/loadBalancerIPs":null,"metallb.io/address-pool":"no-such-pool"}}}`,
			[]string{`default/bad-input requests pool "no-such-pool", which does not exist`}},
		{`{"metadata":{"annotations":{"metallb.io/address-pool":null,"metallb.io/loadBalancerIPs":"198.18.14.3"}},"spec":{"loadBalancerIP":"198.18.14.4"}}`,
			[]string{"both annotation metallb.io/loadBalancerIPs and spec.loadBalancerIP are set"}},
	}
	for _, tc := range cases {
		patchService(t, l, svc, tc.patch)
		waitEvent(t, l, svc, controller.ReasonAllocationFailed, tc.message...)
		after := getService(t, l, "default", "bad-input")
		if !slices.Equal(statusIPs(after), []netip.Addr{ip}) || after.Annotations[annotations.IPAllocatedFromPool] != before.Annotations[annotations.IPAllocatedFromPool] {
			t.Errorf("after %s: status %v, pool annotation %q; want %s from %q untouched", tc.patch, statusIPs(after),
				after.Annotations[annotations.IPAllocatedFromPool], ip, before.Annotations[annotations.IPAllocatedFromPool])
		}
	}

	fresh := l.CreateService(t, newService("default", "bad-fresh", withAnnotations(annotations.LoadBalancerIPs, "198.18.14.1/32")))
	waitEvent(t, l, fresh, controller.ReasonAllocationFailed, "annotation metallb.io/loadBalancerIPs")
	if got := getService(t, l, "default", "bad-fresh"); len(got.Status.LoadBalancer.Ingress) != 0 || got.Annotations[annotations.IPAllocatedFromPool] != "" {
		t.Errorf("malformed new Service got status %v, annotations %v", got.Status.LoadBalancer.Ingress, got.Annotations)
	}
}

// TestRestartKeepsAddresses: a controller whose container is killed with
// SIGKILL and started again by the kubelet changes no address: every
// assignment — automatic, requested, from a named pool, dual-stack and
// shared — is rebuilt from Service status.
func TestRestartKeepsAddresses(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("restart-a", "{addresses: [198.18.12.0/25, 'fd00:18:12::/120']}")+
		pool("restart-b", "{addresses: [198.18.12.128/25]}"), "restart-a", "restart-b")
	const n = 80
	var services []*corev1.Service
	for i := range n {
		var mutate []func(*corev1.Service)
		switch i % 5 {
		case 1:
			mutate = append(mutate, withFamilies(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv6Protocol, corev1.IPv4Protocol))
		case 2:
			mutate = append(mutate, withAnnotations(annotations.AddressPool, "restart-b"))
		case 3:
			mutate = append(mutate, withPorts(int32(1000+i)), withAnnotations(annotations.AllowSharedIP, fmt.Sprint("key", i%15)))
		case 4:
			mutate = append(mutate, withAnnotations(annotations.LoadBalancerIPs, fmt.Sprintf("198.18.12.%d", 200+i/5)))
		}
		services = append(services, newService("default", fmt.Sprintf("restart-%02d", i), mutate...))
	}
	createAll(t, l, services)
	before := map[string][]netip.Addr{}
	for _, svc := range services {
		before[svc.Name] = waitIPs(t, l, svc, len(svc.Spec.IPFamilies))
	}

	crashController(t, l)
	waitReconciled(t, l, waitTimeout)
	for _, svc := range services {
		if got := statusIPs(getService(t, l, "default", svc.Name)); !slices.Equal(got, before[svc.Name]) {
			t.Errorf("%s: %v before the restart, %v after", svc.Name, before[svc.Name], got)
		}
	}
}

// TestRestartConflicts: claims written into Service status while the
// controller is down are settled on start: of two Services claiming one
// address, the older keeps it and the newer gets a new address and an Event;
// an address outside every pool is kept (its pool may not be applied yet),
// with an Event.
func TestRestartConflicts(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("conflict", "{addresses: [198.18.13.0/28]}"), "conflict")
	if err := l.KillController(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Names sort against age, so that age, not name, must decide.
	older := l.CreateService(t, newService("default", "zz-older"))
	time.Sleep(1100 * time.Millisecond) // creation timestamps have whole seconds
	newer := l.CreateService(t, newService("default", "aa-newer"))
	outside := l.CreateService(t, newService("default", "outside"))
	for svc, ip := range map[*corev1.Service]string{older: "198.18.13.5", newer: "198.18.13.5", outside: "203.0.113.9"} {
		patchService(t, l, svc, fmt.Sprintf(`{"status":{"loadBalancer":{"ingress":[{"ip":%q}]}}}`, ip), "status")
	}

	startController(t, l)
	waitStatus(t, l, "default", "aa-newer", "the newer claimant gets the lowest free address", hasIPs(addr("198.18.13.0")))
	waitEvent(t, l, newer, controller.ReasonAllocationFailed, "198.18.13.5 for default/aa-newer is in use by default/zz-older")
	waitEvent(t, l, outside, controller.ReasonIPKeptOutsidePools, "203.0.113.9", "keeps it")
	waitReconciled(t, l, waitTimeout)
	if got := statusIPs(getService(t, l, "default", "outside")); !slices.Equal(got, []netip.Addr{addr("203.0.113.9")}) {
		t.Errorf("the claim outside every pool became %v, want 203.0.113.9 kept", got)
	}
	if got := statusIPs(getService(t, l, "default", "zz-older")); !slices.Equal(got, []netip.Addr{addr("198.18.13.5")}) {
		t.Errorf("the older claimant has %v, want 198.18.13.5 kept", got)
	}
	if got := getService(t, l, "default", "zz-older").Annotations[annotations.IPAllocatedFromPool]; got != "conflict" {
		t.Errorf("the older claimant's pool annotation is %q, want conflict", got)
	}
}

// createAll creates Services concurrently and deletes them when the test
// ends.
func createAll(t *testing.T, l *lab.Lab, services []*corev1.Service) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(services))
	for _, svc := range services {
		wg.Go(func() {
			_, err := l.KubeClient().CoreV1().Services(svc.Namespace).Create(t.Context(), svc, metav1.CreateOptions{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, svc := range services {
			wg.Go(func() {
				l.KubeClient().CoreV1().Services(svc.Namespace).Delete(context.Background(), svc.Name, metav1.DeleteOptions{})
			})
		}
		wg.Wait()
	})
}

// waitReconciled waits until the controller started last has reconciled, as
// many times as the cluster has Services, without an error: in a run where
// nothing writes Services, that is every Service once.
func waitReconciled(t testing.TB, l *lab.Lab, timeout time.Duration) {
	t.Helper()
	waitReconciledAt(t, l, l.ControllerMetricsURL(), timeout)
}

// waitReconciledAt is waitReconciled for the controller process whose
// metrics endpoint is endpoint.
func waitReconciledAt(t testing.TB, l *lab.Lab, endpoint string, timeout time.Duration) {
	t.Helper()
	all, err := l.KubeClient().CoreV1().Services("").List(t.Context(), metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	n := len(all.Items)
	lab.Eventually(t, timeout, fmt.Sprintf("the controller reconciles %d Services", n), func() error {
		done, err := metric(t.Context(), endpoint, "metallb_k8s_client_updates_total")
		if err != nil {
			return err
		}
		failed, err := metric(t.Context(), endpoint, "metallb_k8s_client_update_errors_total")
		if err != nil {
			return err
		}
		if failed != 0 {
			return fmt.Errorf("%v reconciles failed", failed)
		}
		if done < float64(n) {
			return fmt.Errorf("%v reconciles", done)
		}
		return nil
	})
}

// denyStatusPolicy makes the API server refuse every write to the status of
// Services labelled e2e.ironlb.io/deny-status=true.
const denyStatusPolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: e2e-deny-service-status}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [UPDATE], resources: [services/status]}
    objectSelector: {matchLabels: {e2e.ironlb.io/deny-status: "true"}}
  validations:
  - {expression: "false", message: "e2e refuses status writes to this Service"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: e2e-deny-service-status}
spec:
  policyName: e2e-deny-service-status
  validationActions: [Deny]
`

// TestAPIErrors: when the API server refuses the status write, the Service
// gets an Event with the API server's answer, the controller keeps running
// and retries, and the Service gets its address once writes are allowed.
func TestAPIErrors(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("apierrors", "{addresses: [198.18.18.0/28]}"), "apierrors")
	applyConfig(t, l, denyStatusPolicy)
	deny := func(s *corev1.Service) { s.Labels = map[string]string{"e2e.ironlb.io/deny-status": "true"} }
	probe := l.CreateService(t, newService("default", "apierrors-probe", deny, func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.AllocateLoadBalancerNodePorts = nil
	}))
	lab.Eventually(t, waitTimeout, "the API server enforces the policy", func() error {
		patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Probe","status":"True","reason":"Probe","message":"","lastTransitionTime":%q}]}}`,
			time.Now().UTC().Format(time.RFC3339))
		_, err := l.KubeClient().CoreV1().Services("default").Patch(t.Context(), probe.Name, types.MergePatchType, []byte(patch),
			metav1.PatchOptions{}, "status")
		if err == nil {
			return fmt.Errorf("status write allowed")
		}
		return nil
	})

	svc := l.CreateService(t, newService("default", "apierrors", deny))
	waitEvent(t, l, svc, controller.ReasonAllocationFailed, "cannot write the Service's status", "e2e refuses status writes to this Service")
	if got := getService(t, l, "default", "apierrors"); len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("refused status write, yet status %v", got.Status.LoadBalancer.Ingress)
	}
	if _, err := l.Kubectl(t.Context(), denyStatusPolicy, "delete", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if ip := waitIPs(t, l, svc, 1)[0]; ip != addr("198.18.18.0") {
		t.Errorf("after the API server allows writes again the Service got %s, want 198.18.18.0", ip)
	}
}
