package controller

import (
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/internal/ipam"
)

// TestSharingAcrossTrafficPolicies crosses the seam between RequestFor and
// the allocator: two Services with one sharing key claim one address, as
// MetalLB left them. Whether they may share follows MetalLB's backend key:
// the pod selector's label-set string for externalTrafficPolicy: Local, ""
// for Cluster, so a selector-less Local Service shares with Cluster ones.
func TestSharingAcrossTrafficPolicies(t *testing.T) {
	cfg := testConfig(t)
	local := corev1.ServiceExternalTrafficPolicyLocal
	cluster := corev1.ServiceExternalTrafficPolicyCluster
	type side struct {
		policy   corev1.ServiceExternalTrafficPolicy
		selector map[string]string
	}
	cases := []struct {
		name       string
		first, sec side
		share      bool
	}{
		{"Cluster and Cluster", side{cluster, map[string]string{"app": "a"}}, side{cluster, map[string]string{"app": "b"}}, true},
		{"Local, same selector", side{local, map[string]string{"app": "a"}}, side{local, map[string]string{"app": "a"}}, true},
		{"Local, same selector in another order", side{local, map[string]string{"app": "a", "tier": "web"}},
			side{local, map[string]string{"tier": "web", "app": "a"}}, true},
		{"Local, different selectors", side{local, map[string]string{"app": "a"}}, side{local, map[string]string{"app": "b"}}, false},
		{"Local with a selector and Cluster", side{local, map[string]string{"app": "a"}}, side{cluster, map[string]string{"app": "a"}}, false},
		{"selector-less Local and Cluster", side{local, nil}, side{cluster, map[string]string{"app": "a"}}, true},
		{"selector-less Local twice", side{local, nil}, side{local, nil}, true},
	}
	ip := netip.MustParseAddr("10.0.0.9")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var claims []ipam.Claim
			for i, s := range []side{tc.first, tc.sec} {
				svc := service(func(svc *corev1.Service) {
					svc.Name = []string{"first", "second"}[i]
					svc.Annotations = map[string]string{"metallb.universe.tf/allow-shared-ip": "k"}
					svc.Spec.Ports = []corev1.ServicePort{{Port: int32(80 + i)}}
					svc.Spec.ExternalTrafficPolicy = s.policy
					svc.Spec.Selector = s.selector
				})
				req, _, err := RequestFor(svc, nil, cfg)
				if err != nil {
					t.Fatal(err)
				}
				claims = append(claims, ipam.Claim{Request: req, IPs: []netip.Addr{ip}, Created: time.Unix(int64(i), 0)})
			}
			alloc, err := ipam.New(Pools(cfg))
			if err != nil {
				t.Fatal(err)
			}
			errs := alloc.RestoreAll(claims)
			if errs[0] != nil {
				t.Fatalf("the older claim was refused: %v", errs[0])
			}
			if shared := errs[1] == nil; shared != tc.share {
				t.Errorf("second claim on %s: err %v; want shared = %v", ip, errs[1], tc.share)
			}
		})
	}
}
