package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/annotations"
	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/controller"
)

// Each test uses pools of its own, with names and ranges no other test uses
// (198.18.<n>.0/24 and fd00:18:<n>::/64 for test n), and deletes them at its
// end, so that no test sees another's pools.

// TestAssignment: a Service gets the lowest free address of the pool, the
// pool annotation and an IPAllocated Event; a second Service gets the next
// address and the first keeps its own.
func TestAssignment(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("assign", "{addresses: [198.18.1.10-198.18.1.19]}"), "assign")
	first := l.CreateService(t, newService("default", "assign-first"))
	if ips := waitIPs(t, l, first, 1); ips[0] != addr("198.18.1.10") {
		t.Errorf("first Service got %v, want the pool's lowest address 198.18.1.10", ips)
	}
	if got := getService(t, l, "default", "assign-first").Annotations[annotations.IPAllocatedFromPool]; got != "assign" {
		t.Errorf("annotation %s = %q, want assign", annotations.IPAllocatedFromPool, got)
	}
	waitEvent(t, l, first, controller.ReasonIPAllocated, "198.18.1.10", "assign")

	second := l.CreateService(t, newService("default", "assign-second"))
	if ips := waitIPs(t, l, second, 1); ips[0] != addr("198.18.1.11") {
		t.Errorf("second Service got %v, want 198.18.1.11", ips)
	}
	if got := statusIPs(getService(t, l, "default", "assign-first")); !slices.Equal(got, []netip.Addr{addr("198.18.1.10")}) {
		t.Errorf("first Service now has %v, want 198.18.1.10 kept", got)
	}
}

// TestRequestedAddresses: metallb.io/loadBalancerIPs, its deprecated
// metallb.universe.tf name (with a deprecation Event), spec.loadBalancerIP and
// metallb.io/address-pool all reach an autoAssign: false pool, which an
// automatic request cannot use.
func TestRequestedAddresses(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("requested", "{addresses: [198.18.2.0/24], autoAssign: false}"), "requested")

	current := l.CreateService(t, newService("default", "req-annotation", withAnnotations(annotations.LoadBalancerIPs, "198.18.2.10")))
	legacy := l.CreateService(t, newService("default", "req-legacy",
		withAnnotations(annotations.Legacy(annotations.LoadBalancerIPs), "198.18.2.11")))
	spec := l.CreateService(t, newService("default", "req-spec", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "198.18.2.12" }))
	byPool := l.CreateService(t, newService("default", "req-pool", withAnnotations(annotations.AddressPool, "requested")))
	byLegacyPool := l.CreateService(t, newService("default", "req-legacy-pool",
		withAnnotations(annotations.Legacy(annotations.AddressPool), "requested")))
	automatic := l.CreateService(t, newService("default", "req-automatic"))

	for svc, want := range map[*corev1.Service]string{current: "198.18.2.10", legacy: "198.18.2.11", spec: "198.18.2.12"} {
		if ips := waitIPs(t, l, svc, 1); ips[0] != addr(want) {
			t.Errorf("%s got %v, want %s", svc.Name, ips, want)
		}
	}
	ipA, ipB := waitIPs(t, l, byPool, 1)[0], waitIPs(t, l, byLegacyPool, 1)[0]
	for _, ip := range []netip.Addr{ipA, ipB} {
		if !netip.MustParsePrefix("198.18.2.0/24").Contains(ip) || ip == addr("198.18.2.10") || ip == addr("198.18.2.11") || ip == addr("198.18.2.12") {
			t.Errorf("address-pool requests got %s and %s: want distinct free addresses of the pool", ipA, ipB)
		}
	}
	waitEvent(t, l, legacy, controller.ReasonDeprecatedAnnotation, "metallb.universe.tf/loadBalancerIPs", "deprecated", annotations.LoadBalancerIPs)
	waitEvent(t, l, byLegacyPool, controller.ReasonDeprecatedAnnotation, "metallb.universe.tf/address-pool", "deprecated")
	waitEvent(t, l, automatic, controller.ReasonAllocationFailed, "no pool assigns addresses automatically to default/req-automatic")
	if got := getService(t, l, "default", "req-automatic"); len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("automatic request got %v from an autoAssign: false pool", got.Status.LoadBalancer.Ingress)
	}
}

// TestNamespaceSelection: a pool restricted to listed and selected namespaces
// serves only their Services; labelling a namespace re-evaluates its Services
// at once, both when the label admits them and when it stops admitting them.
func TestNamespaceSelection(t *testing.T) {
	l := setup(t)
	namespace(t, l, "ctl-team-a", nil)
	namespace(t, l, "ctl-team-b", nil)
	applyConfig(t, l, pool("team", `{addresses: [198.18.3.0/28], serviceAllocation: {namespaces: [ctl-team-a],
  namespaceSelectors: [{matchLabels: {team: b}}]}}`), "team")

	listed := l.CreateService(t, newService("ctl-team-a", "web"))
	if ip := waitIPs(t, l, listed, 1)[0]; !netip.MustParsePrefix("198.18.3.0/28").Contains(ip) {
		t.Errorf("Service in a listed namespace got %s, want an address of pool team", ip)
	}
	unlisted := l.CreateService(t, newService("ctl-team-b", "web"))
	waitEvent(t, l, unlisted, controller.ReasonAllocationFailed, "no pool assigns addresses automatically to ctl-team-b/web")

	labelNamespace(t, l, "ctl-team-b", map[string]string{"team": "b"})
	teamIP := waitIPs(t, l, unlisted, 1)[0]
	if !netip.MustParsePrefix("198.18.3.0/28").Contains(teamIP) {
		t.Errorf("Service in a selected namespace got %s, want an address of pool team", teamIP)
	}

	applyConfig(t, l, pool("team-open", "{addresses: [198.18.3.128/28]}"), "team-open")
	labelNamespace(t, l, "ctl-team-b", nil)
	waitStatus(t, l, "ctl-team-b", "web", "moves to pool team-open when its namespace loses the label", func(svc *corev1.Service) error {
		ips := statusIPs(svc)
		if len(ips) != 1 || !netip.MustParsePrefix("198.18.3.128/28").Contains(ips[0]) || svc.Annotations[annotations.IPAllocatedFromPool] != "team-open" {
			return fmt.Errorf("status %v, annotations %v", ips, svc.Annotations)
		}
		return nil
	})
	if got := statusIPs(getService(t, l, "ctl-team-a", "web")); len(got) != 1 || !netip.MustParsePrefix("198.18.3.0/28").Contains(got[0]) {
		t.Errorf("the listed namespace's Service now has %v: it must keep its address of pool team", got)
	}
}

// TestServiceSelection: serviceSelectors admit only the selected Services.
func TestServiceSelection(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("selected", "{addresses: [198.18.17.0/28], serviceAllocation: {priority: 10, serviceSelectors: [{matchLabels: {tier: web}}]}}")+
		pool("unselected", "{addresses: [198.18.17.128/28], serviceAllocation: {priority: 50}}"), "selected", "unselected")
	web := l.CreateService(t, newService("default", "sel-web", func(s *corev1.Service) { s.Labels = map[string]string{"tier": "web"} }))
	db := l.CreateService(t, newService("default", "sel-db", func(s *corev1.Service) { s.Labels = map[string]string{"tier": "db"} }))
	if ip := waitIPs(t, l, web, 1)[0]; ip != addr("198.18.17.0") {
		t.Errorf("selected Service got %s, want 198.18.17.0 (pool selected)", ip)
	}
	if ip := waitIPs(t, l, db, 1)[0]; ip != addr("198.18.17.128") {
		t.Errorf("unselected Service got %s, want 198.18.17.128 (pool unselected)", ip)
	}
}

// TestPriority: automatic requests use the pool with the lowest non-zero
// priority first, pools without a priority last.
func TestPriority(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("prio-none", "{addresses: [198.18.4.0/28]}")+
		pool("prio-20", "{addresses: [198.18.4.32/28], serviceAllocation: {priority: 20}}")+
		pool("prio-10", "{addresses: [198.18.4.64/28], serviceAllocation: {priority: 10}}"),
		"prio-none", "prio-20", "prio-10")
	svc := l.CreateService(t, newService("default", "prio"))
	if ip := waitIPs(t, l, svc, 1)[0]; ip != addr("198.18.4.64") {
		t.Errorf("got %s, want 198.18.4.64 from pool prio-10", ip)
	}
	if got := getService(t, l, "default", "prio").Annotations[annotations.IPAllocatedFromPool]; got != "prio-10" {
		t.Errorf("annotation %s = %q, want prio-10", annotations.IPAllocatedFromPool, got)
	}
}

// TestDualStack: RequireDualStack and PreferDualStack get one address per
// family from one pool, in the order of spec.ipFamilies; SingleStack IPv6
// gets one IPv6 address; RequireDualStack from an IPv4-only pool fails with
// an Event naming the families.
func TestDualStack(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("dual", "{addresses: [198.18.5.0/28, 'fd00:18:5::/124']}")+
		pool("v4only", "{addresses: [198.18.5.128/28], autoAssign: false}"), "dual", "v4only")

	require := l.CreateService(t, newService("default", "ds-require",
		withFamilies(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol)))
	prefer := l.CreateService(t, newService("default", "ds-prefer",
		withFamilies(corev1.IPFamilyPolicyPreferDualStack, corev1.IPv6Protocol, corev1.IPv4Protocol)))
	single6 := l.CreateService(t, newService("default", "ds-single6", withFamilies(corev1.IPFamilyPolicySingleStack, corev1.IPv6Protocol)))
	requested := l.CreateService(t, newService("default", "ds-requested",
		withFamilies(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol),
		withAnnotations(annotations.LoadBalancerIPs, "fd00:18:5::9,198.18.5.9")))
	unavailable := l.CreateService(t, newService("default", "ds-unavailable",
		withFamilies(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol),
		withAnnotations(annotations.AddressPool, "v4only")))

	dual4, dual6 := netip.MustParsePrefix("198.18.5.0/28"), netip.MustParsePrefix("fd00:18:5::/124")
	if ips := waitIPs(t, l, require, 2); !dual4.Contains(ips[0]) || !dual6.Contains(ips[1]) {
		t.Errorf("RequireDualStack IPv4,IPv6 got %v, want an IPv4 then an IPv6 address of pool dual", ips)
	}
	if ips := waitIPs(t, l, prefer, 2); !dual6.Contains(ips[0]) || !dual4.Contains(ips[1]) {
		t.Errorf("PreferDualStack IPv6,IPv4 got %v, want an IPv6 then an IPv4 address of pool dual", ips)
	}
	if ips := waitIPs(t, l, single6, 1); !dual6.Contains(ips[0]) {
		t.Errorf("SingleStack IPv6 got %v, want one IPv6 address of pool dual", ips)
	}
	if ips := waitIPs(t, l, requested, 2); !slices.Contains(ips, addr("198.18.5.9")) || !slices.Contains(ips, addr("fd00:18:5::9")) {
		t.Errorf("RequireDualStack with loadBalancerIPs got %v, want 198.18.5.9 and fd00:18:5::9", ips)
	}
	waitEvent(t, l, unavailable, controller.ReasonAllocationFailed, "no pool eligible for default/ds-unavailable has", "IPv6")
	if got := getService(t, l, "default", "ds-unavailable"); len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("RequireDualStack from an IPv4-only pool got %v", got.Status.LoadBalancer.Ingress)
	}
}

// TestSharing: Services with one allow-shared-ip key and distinct ports share
// an address; a request that cannot share gets an Event saying why and no
// address.
func TestSharing(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("share", "{addresses: [198.18.6.0/28]}"), "share")
	postgres := l.CreateService(t, newService("default", "share-postgres", withPorts(5432), withAnnotations(annotations.AllowSharedIP, "db")))
	shared := waitIPs(t, l, postgres, 1)[0]
	mysql := l.CreateService(t, newService("default", "share-mysql", withPorts(3306), withAnnotations(annotations.AllowSharedIP, "db")))
	if ip := waitIPs(t, l, mysql, 1)[0]; ip != shared {
		t.Errorf("Service with the same key and other ports got %s, want the shared %s", ip, shared)
	}
	legacyKey := l.CreateService(t, newService("default", "share-legacy", withPorts(6379),
		withAnnotations(annotations.Legacy(annotations.AllowSharedIP), "db", annotations.LoadBalancerIPs, shared.String())))
	if ip := waitIPs(t, l, legacyKey, 1)[0]; ip != shared {
		t.Errorf("Service with the legacy key annotation got %s, want the shared %s", ip, shared)
	}

	overlap := l.CreateService(t, newService("default", "share-overlap", withPorts(5432),
		withAnnotations(annotations.AllowSharedIP, "db", annotations.LoadBalancerIPs, shared.String())))
	waitEvent(t, l, overlap, controller.ReasonAllocationFailed, "default/share-overlap cannot share "+shared.String(), "both use port TCP/5432")
	otherKey := l.CreateService(t, newService("default", "share-otherkey", withPorts(8080),
		withAnnotations(annotations.AllowSharedIP, "cache", annotations.LoadBalancerIPs, shared.String())))
	waitEvent(t, l, otherKey, controller.ReasonAllocationFailed, "cannot share "+shared.String(), "sharing keys differ")
	noKey := l.CreateService(t, newService("default", "share-nokey", withPorts(9090),
		withAnnotations(annotations.LoadBalancerIPs, shared.String())))
	waitEvent(t, l, noKey, controller.ReasonAllocationFailed, shared.String()+" for default/share-nokey is in use by default/share-")
	for _, name := range []string{"share-overlap", "share-otherkey", "share-nokey"} {
		if got := getService(t, l, "default", name); len(got.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("%s was refused but has status %v", name, got.Status.LoadBalancer.Ingress)
		}
	}
	automatic := l.CreateService(t, newService("default", "share-auto-overlap", withPorts(5432), withAnnotations(annotations.AllowSharedIP, "db")))
	if ip := waitIPs(t, l, automatic, 1)[0]; ip == shared {
		t.Errorf("automatic request with an overlapping port got the shared %s", ip)
	}
}

// TestLoadBalancerClass: Services of another loadBalancerClass are never
// written; a controller started with --lb-class handles only that class and
// leaves classless Services (and the status they have) alone.
func TestLoadBalancerClass(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("class", "{addresses: [198.18.7.0/28]}"), "class")
	const ours = "ironlb.io/lab"
	withClass := func(class string) func(*corev1.Service) {
		return func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To(class) }
	}
	other := l.CreateService(t, newService("default", "class-other", withClass("example.com/other")))
	classless := l.CreateService(t, newService("default", "class-none"))
	classlessIP := waitIPs(t, l, classless, 1)[0]
	// class-other was queued before class-none, which is done.
	if got := getService(t, l, "default", "class-other"); len(got.Status.LoadBalancer.Ingress) != 0 || got.Annotations[annotations.IPAllocatedFromPool] != "" {
		t.Errorf("Service of another class was written: status %v, annotations %v", got.Status.LoadBalancer.Ingress, got.Annotations)
	}

	startController(t, l, "--lb-class", ours)
	laterClassless := l.CreateService(t, newService("default", "class-none-later"))
	classed := l.CreateService(t, newService("default", "class-ours", withClass(ours)))
	// Addresses shown on Services of another class count as in use: the
	// --lb-class controller never hands out class-none's address.
	if ip := waitIPs(t, l, classed, 1)[0]; !netip.MustParsePrefix("198.18.7.0/28").Contains(ip) {
		t.Errorf("Service of class %s got %s, want an address of pool class", ours, ip)
	} else if ip == classlessIP {
		t.Errorf("Service of class %s got %s, which the classless Service shows", ours, ip)
	}
	for _, svc := range []*corev1.Service{other, laterClassless} {
		if got := getService(t, l, "default", svc.Name); len(got.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("--lb-class %s controller wrote %s: %v", ours, svc.Name, got.Status.LoadBalancer.Ingress)
		}
	}
	if got := statusIPs(getService(t, l, "default", "class-none")); !slices.Equal(got, []netip.Addr{classlessIP}) {
		t.Errorf("--lb-class %s controller changed the classless Service's status to %v", ours, got)
	}
}

// TestPoolStatusCounts: each IPAddressPool's status counts distinct
// assigned addresses per family (shared addresses once) and the free ones.
func TestPoolStatusCounts(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("counts", "{addresses: [198.18.15.0/29, 'fd00:18:15::/124']}"), "counts")
	want := func(a4, a6, f4, f6 int64) func(v1beta1.IPAddressPoolStatus) error {
		return func(s v1beta1.IPAddressPoolStatus) error {
			if s != (v1beta1.IPAddressPoolStatus{AssignedIPv4: a4, AssignedIPv6: a6, AvailableIPv4: f4, AvailableIPv6: f6}) {
				return fmt.Errorf("want assigned %d/%d, available %d/%d", a4, a6, f4, f6)
			}
			return nil
		}
	}
	waitPoolStatus(t, "counts", want(0, 0, 8, 16))
	dual := l.CreateService(t, newService("default", "counts-dual",
		withFamilies(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol)))
	a := l.CreateService(t, newService("default", "counts-a", withPorts(80), withAnnotations(annotations.AllowSharedIP, "k")))
	b := l.CreateService(t, newService("default", "counts-b", withPorts(81), withAnnotations(annotations.AllowSharedIP, "k")))
	c := l.CreateService(t, newService("default", "counts-c"))
	for _, svc := range []*corev1.Service{a, b, c} {
		waitIPs(t, l, svc, 1)
	}
	waitIPs(t, l, dual, 2)
	waitPoolStatus(t, "counts", want(3, 1, 5, 15))
	deleteService(t, l, dual)
	waitPoolStatus(t, "counts", want(2, 0, 6, 16))
}

// TestConfigRefused: a configuration the controller refuses (overlapping
// pools, written past the webhook, which refuses it) leaves the last valid
// one serving, and is reported as stale.
func TestConfigRefused(t *testing.T) {
	l := setup(t)
	applyConfig(t, l, pool("good", "{addresses: [198.18.16.0/28]}"), "good")
	overlapping := pool("overlapping", "{addresses: [198.18.16.8/29]}")
	if _, err := l.Kubectl(t.Context(), overlapping, "create", "--dry-run=server", "-f", "-"); err == nil ||
		!strings.Contains(err.Error(), "denied the request") {
		t.Fatalf("the webhook let the overlapping pool through: %v", err)
	}
	bypassWebhook(t, l)
	applyConfig(t, l, strings.Replace(overlapping, "namespace: "+lab.IronLBNamespace,
		"namespace: "+lab.IronLBNamespace+", labels: {"+uncheckedLabel+": \"true\"}", 1))
	lab.Eventually(t, waitTimeout, "the controller reports its configuration stale", func() error {
		stale, err := metric(t.Context(), l.ControllerMetricsURL(), "metallb_k8s_client_config_stale_bool")
		if err == nil && stale != 1 {
			err = fmt.Errorf("metallb_k8s_client_config_stale_bool = %v", stale)
		}
		return err
	})
	asking := l.CreateService(t, newService("default", "refused-asks-new-pool", withAnnotations(annotations.AddressPool, "overlapping")))
	waitEvent(t, l, asking, controller.ReasonAllocationFailed, `requests pool "overlapping", which does not exist`)
	automatic := l.CreateService(t, newService("default", "refused-automatic"))
	if ip := waitIPs(t, l, automatic, 1)[0]; ip != addr("198.18.16.0") {
		t.Errorf("under the last valid configuration the Service got %s, want 198.18.16.0 of pool good", ip)
	}
	if _, err := l.Kubectl(t.Context(), "", "delete", "ipaddresspool", "-n", lab.IronLBNamespace, "overlapping"); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, waitTimeout, "the configuration is current again", func() error {
		stale, err := metric(t.Context(), l.ControllerMetricsURL(), "metallb_k8s_client_config_stale_bool")
		if err == nil && stale != 0 {
			err = fmt.Errorf("metallb_k8s_client_config_stale_bool = %v", stale)
		}
		return err
	})
}

// uncheckedLabel marks the metallb.io objects that bypassWebhook lets past
// the webhook.
const uncheckedLabel = "e2e.ironlb.io/unchecked"

// bypassWebhook makes the API server skip the webhook that judges creations
// and updates for objects labelled uncheckedLabel until the test ends,
// through an objectSelector on it in the ValidatingWebhookConfiguration (the
// manifest's has none).
func bypassWebhook(t *testing.T, l *lab.Lab) {
	t.Helper()
	const config, hook = "metallb-webhook-configuration", "config.metallb.io"
	vwc, err := l.KubeClient().AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(t.Context(), config, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(vwc.Webhooks, func(w admissionregistrationv1.ValidatingWebhook) bool { return w.Name == hook })
	if i < 0 || vwc.Webhooks[i].ObjectSelector != nil && len(vwc.Webhooks[i].ObjectSelector.MatchExpressions)+len(vwc.Webhooks[i].ObjectSelector.MatchLabels) > 0 {
		t.Fatalf("ValidatingWebhookConfiguration %s: no webhook %s without an objectSelector", config, hook)
	}
	patch := func(op string) error {
		selector := fmt.Sprintf(`{"op":"add","path":"/webhooks/%d/objectSelector","value":{"matchExpressions":[{"key":%q,"operator":"DoesNotExist"}]}}`, i, uncheckedLabel)
		if op == "remove" {
			selector = fmt.Sprintf(`{"op":"replace","path":"/webhooks/%d/objectSelector","value":{}}`, i)
		}
		_, err := l.KubeClient().AdmissionregistrationV1().ValidatingWebhookConfigurations().Patch(context.Background(), config,
			types.JSONPatchType, []byte("["+selector+"]"), metav1.PatchOptions{})
		return err
	}
	if err := patch("add"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := patch("remove"); err != nil {
			t.Errorf("restore the webhook's objectSelector: %v", err)
		}
	})
}
