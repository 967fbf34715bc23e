package k8s

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestIsOurs(t *testing.T) {
	mine, theirs := "ironlb", "other"
	cases := []struct {
		name    string
		typ     corev1.ServiceType
		class   *string
		lbClass string
		want    bool
	}{
		{"LoadBalancer without class, default controller", corev1.ServiceTypeLoadBalancer, nil, "", true},
		{"ClusterIP", corev1.ServiceTypeClusterIP, nil, "", false},
		{"other class, default controller", corev1.ServiceTypeLoadBalancer, &theirs, "", false},
		{"our class", corev1.ServiceTypeLoadBalancer, &mine, "ironlb", true},
		{"no class, class-specific controller", corev1.ServiceTypeLoadBalancer, nil, "ironlb", false},
	}
	for _, tc := range cases {
		svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: tc.typ, LoadBalancerClass: tc.class}}
		if got := IsOurs(svc, tc.lbClass); got != tc.want {
			t.Errorf("%s: IsOurs = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStatusIPs(t *testing.T) {
	svc := &corev1.Service{Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
		{IP: "10.0.0.1"}, {Hostname: "lb.example.com"}, {IP: "fd00::1"},
	}}}}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}
	if got := StatusIPs(svc); !slices.Equal(got, want) {
		t.Errorf("StatusIPs = %v, want %v", got, want)
	}
}
