package controller

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/ipam"
)

// FuzzRequestFor turns arbitrary Service annotations and fields into an
// allocation request: it never panics, an accepted request is well formed,
// and the allocator takes it without panicking, handing out only addresses
// of its pools.
func FuzzRequestFor(f *testing.F) {
	f.Add("10.0.0.5", "", "", "", "", "IPv4", "SingleStack", "Cluster")
	f.Add("10.0.0.5,fd00::5", "open", "key", "", "", "IPv4,IPv6", "RequireDualStack", "Local")
	f.Add("", "team", "", "10.0.1.9", "10.0.1.8", "IPv6", "PreferDualStack", "")
	f.Add(",,", "missing", "k", "not-an-ip", "::ffff:10.0.0.1", "", "Bogus", "Local")
	cfg := testConfig(f)
	pools := Pools(cfg)
	f.Fuzz(func(t *testing.T, ips, pool, sharingKey, lbIP, legacyIPs, families, policy, traffic string) {
		svc := service(func(s *corev1.Service) {
			s.Annotations = map[string]string{}
			set := func(key, value string) {
				if value != "" {
					s.Annotations[key] = value
				}
			}
			set("metallb.io/loadBalancerIPs", ips)
			set("metallb.io/address-pool", pool)
			set("metallb.io/allow-shared-ip", sharingKey)
			set("metallb.universe.tf/loadBalancerIPs", legacyIPs)
			s.Spec.LoadBalancerIP = lbIP
			s.Spec.IPFamilies = nil
			for _, fam := range strings.FieldsFunc(families, func(r rune) bool { return r == ',' }) {
				s.Spec.IPFamilies = append(s.Spec.IPFamilies, corev1.IPFamily(fam))
			}
			if policy != "" {
				p := corev1.IPFamilyPolicy(policy)
				s.Spec.IPFamilyPolicy = &p
			}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicy(traffic)
		})
		req, _, err := RequestFor(svc, labels.Set{"team": "b"}, cfg)
		if err != nil {
			return
		}
		if req.Service != "default/web" || len(req.Families) == 0 || len(req.IPs) > 2 {
			t.Fatalf("accepted request is malformed: %+v", req)
		}
		for _, ip := range req.IPs {
			if !ip.IsValid() || ip.Zone() != "" {
				t.Fatalf("accepted request asks for %v", ip)
			}
		}
		alloc, err := ipam.New(pools)
		if err != nil {
			t.Fatal(err)
		}
		asg, err := alloc.Assign(req)
		if err != nil {
			return
		}
		for _, ip := range asg.IPs {
			if _, ok := alloc.PoolOf(ip); !ok || slices.Contains(asg.Unpooled, ip) {
				t.Fatalf("assigned %v, in no pool", ip)
			}
			if len(req.IPs) > 0 && !slices.Contains(req.IPs, ip) {
				t.Fatalf("assigned %v, not among the requested %v", ip, req.IPs)
			}
		}
	})
}
