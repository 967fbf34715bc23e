package controller

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/config/configtest"
	"github.com/ironlb/ironlb/internal/ipam"
)

func testConfig(t testing.TB) *config.Config {
	t.Helper()
	return configtest.Build(t, `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: open, namespace: metallb-system}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: team, namespace: metallb-system}
spec:
  addresses: [10.0.1.0/24]
  serviceAllocation:
    priority: 10
    namespaces: [team-a]
    namespaceSelectors: [{matchLabels: {team: b}}]
    serviceSelectors: [{matchLabels: {tier: web}}]
`)
}

func service(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeLoadBalancer,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}},
			Selector:   map[string]string{"app": "web"},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func TestRequestFor(t *testing.T) {
	cfg := testConfig(t)
	dual := corev1.IPFamilyPolicyRequireDualStack
	cases := []struct {
		name     string
		svc      *corev1.Service
		want     ipam.Request
		warnings int
		err      string
	}{
		{name: "automatic", svc: service(nil),
			want: ipam.Request{Service: "default/web", Families: []ipam.Family{ipam.IPv4},
				Ports: []ipam.Port{{Protocol: "TCP", Number: 80}, {Protocol: "UDP", Number: 53}}}},
		{name: "annotations", svc: service(func(s *corev1.Service) {
			s.Annotations = map[string]string{
				"metallb.io/loadBalancerIPs": "10.0.0.5, fd00::5", "metallb.io/address-pool": "open", "metallb.io/allow-shared-ip": "db"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
			s.Spec.IPFamilyPolicy = &dual
		}), want: ipam.Request{Service: "default/web", Families: []ipam.Family{ipam.IPv6, ipam.IPv4}, Policy: ipam.RequireDualStack,
			IPs: []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}, Pool: "open", SharingKey: "db",
			Ports: []ipam.Port{{Protocol: "TCP", Number: 80}, {Protocol: "UDP", Number: 53}}}},
		{name: "legacy annotations warn", svc: service(func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.universe.tf/address-pool": "open", "metallb.universe.tf/allow-shared-ip": "k"}
		}), want: ipam.Request{Service: "default/web", Families: []ipam.Family{ipam.IPv4}, Pool: "open", SharingKey: "k",
			Ports: []ipam.Port{{Protocol: "TCP", Number: 80}, {Protocol: "UDP", Number: 53}}}, warnings: 2},
		{name: "deprecated spec.loadBalancerIP", svc: service(func(s *corev1.Service) { s.Spec.LoadBalancerIP = "10.0.0.7" }),
			want: ipam.Request{Service: "default/web", Families: []ipam.Family{ipam.IPv4}, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.7")},
				Ports: []ipam.Port{{Protocol: "TCP", Number: 80}, {Protocol: "UDP", Number: 53}}}},
		{name: "ETP Local sets the backend key", svc: service(func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}), want: ipam.Request{Service: "default/web", Families: []ipam.Family{ipam.IPv4}, BackendKey: "app=web",
			Ports: []ipam.Port{{Protocol: "TCP", Number: 80}, {Protocol: "UDP", Number: 53}}}},
		{name: "malformed loadBalancerIPs", svc: service(func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.io/loadBalancerIPs": "10.0.0.300"}
		}), err: "annotation metallb.io/loadBalancerIPs: "},
		{name: "malformed legacy loadBalancerIPs names the legacy key", svc: service(func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.universe.tf/loadBalancerIPs": "x"}
		}), warnings: 1, err: "annotation metallb.universe.tf/loadBalancerIPs: "},
		{name: "annotation and spec.loadBalancerIP", svc: service(func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.io/loadBalancerIPs": "10.0.0.5"}
			s.Spec.LoadBalancerIP = "10.0.0.6"
		}), err: "both annotation metallb.io/loadBalancerIPs and spec.loadBalancerIP are set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, warnings, err := RequestFor(tc.svc, nil, cfg)
			if len(warnings) != tc.warnings {
				t.Errorf("warnings = %q, want %d", warnings, tc.warnings)
			}
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("err = %v, want prefix %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Admits == nil {
				t.Fatal("request has no Admits function")
			}
			req.Admits = nil
			if !requestsEqual(req, tc.want) {
				t.Errorf("request =\n %+v\nwant\n %+v", req, tc.want)
			}
		})
	}
}

func requestsEqual(a, b ipam.Request) bool {
	return a.Service == b.Service && slices.Equal(a.Families, b.Families) && a.Policy == b.Policy &&
		slices.Equal(a.IPs, b.IPs) && a.Pool == b.Pool && a.SharingKey == b.SharingKey &&
		a.BackendKey == b.BackendKey && slices.Equal(a.Ports, b.Ports)
}

func TestPoolAdmits(t *testing.T) {
	cfg := testConfig(t)
	team := cfg.Pools["team"]
	cases := []struct {
		name      string
		namespace string
		nsLabels  labels.Set
		svcLabels labels.Set
		want      bool
	}{
		{"listed namespace and selected service", "team-a", nil, labels.Set{"tier": "web"}, true},
		{"selected namespace", "other", labels.Set{"team": "b"}, labels.Set{"tier": "web"}, true},
		{"namespace neither listed nor selected", "other", labels.Set{"team": "c"}, labels.Set{"tier": "web"}, false},
		{"service not selected", "team-a", nil, labels.Set{"tier": "db"}, false},
	}
	for _, tc := range cases {
		if got := PoolAdmits(team, tc.namespace, tc.nsLabels, tc.svcLabels); got != tc.want {
			t.Errorf("%s: admits = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !PoolAdmits(cfg.Pools["open"], "anything", nil, nil) {
		t.Error("an unrestricted pool must admit every service")
	}
}

func TestPoolsForAllocator(t *testing.T) {
	pools := Pools(testConfig(t))
	if len(pools) != 2 || pools[0].Name != "open" || pools[1].Name != "team" {
		t.Fatalf("pools = %+v, want open and team in name order", pools)
	}
	if pools[0].Restricted || !pools[1].Restricted || pools[1].Priority != 10 || !pools[0].AutoAssign {
		t.Errorf("pools = %+v: restriction, priority or autoAssign lost", pools)
	}
}

func TestStatusPatch(t *testing.T) {
	withStatus := func(pool string, ips ...string) *corev1.Service {
		return service(func(s *corev1.Service) {
			for _, ip := range ips {
				s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
			}
			if pool != "" {
				s.Annotations = map[string]string{"metallb.io/ip-allocated-from-pool": pool, "other": "kept"}
			}
		})
	}
	held := func(pool string, ips ...string) ipam.Assignment {
		a := ipam.Assignment{Pool: pool}
		for _, ip := range ips {
			a.IPs = append(a.IPs, netip.MustParseAddr(ip))
		}
		return a
	}
	cases := []struct {
		name       string
		svc        *corev1.Service
		held       ipam.Assignment
		want       string
		ipsChanged bool
	}{
		{"nothing to write", withStatus("open", "10.0.0.1", "fd00::1"), held("open", "10.0.0.1", "fd00::1"), "", false},
		{"nothing held, nothing shown", withStatus(""), held(""), "", false},
		{"first assignment", withStatus(""), held("open", "10.0.0.1"),
			`{"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"open"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1"}]}}}`, true},
		{"new address, same pool", withStatus("open", "10.0.0.1"), held("open", "10.0.0.2"),
			`{"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.2"}]}}}`, true},
		{"family order changed", withStatus("open", "10.0.0.1", "fd00::1"), held("open", "fd00::1", "10.0.0.1"),
			`{"status":{"loadBalancer":{"ingress":[{"ip":"fd00::1"},{"ip":"10.0.0.1"}]}}}`, true},
		{"same addresses, pool renamed", withStatus("open", "10.0.0.1"), held("renamed", "10.0.0.1"),
			`{"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":"renamed"}}}`, false},
		{"released", withStatus("open", "10.0.0.1"), held(""),
			`{"metadata":{"annotations":{"metallb.io/ip-allocated-from-pool":null}},"status":{"loadBalancer":{"ingress":[]}}}`, true},
		{"address outside every pool: annotation kept", withStatus("gone", "10.9.0.1"),
			ipam.Assignment{IPs: []netip.Addr{netip.MustParseAddr("10.9.0.1")}, Unpooled: []netip.Addr{netip.MustParseAddr("10.9.0.1")}}, "", false},
		{"hostname entry replaced", service(func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}}
			s.Annotations = map[string]string{"metallb.io/ip-allocated-from-pool": "open"}
		}), held("open", "10.0.0.1"), `{"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1"}]}}}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			patch, ipsChanged, err := StatusPatch(tc.svc, tc.held)
			if err != nil {
				t.Fatal(err)
			}
			if string(patch) != tc.want || ipsChanged != tc.ipsChanged {
				t.Errorf("patch %s, ipsChanged %v; want %s, %v", patch, ipsChanged, tc.want, tc.ipsChanged)
			}
		})
	}
}
