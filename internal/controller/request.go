// Package controller is the controller's reconcile loop: it turns each
// LoadBalancer Service into an ipam.Request, asks the allocator, and writes
// the result to the Service's status. The translation from Services and
// configuration to allocator inputs is pure (request.go); the
// Reconciler only moves data between informers, the allocator and the API.
package controller

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/annotations"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/k8s"
)

// RequestFor translates a Service into an allocation request under cfg.
// nsLabels are the labels of the Service's namespace (for namespaceSelectors).
// warnings are deprecation notices to publish as Events; err describes a
// malformed request, naming the annotation or field.
func RequestFor(svc *corev1.Service, nsLabels labels.Set, cfg *config.Config) (req ipam.Request, warnings []string, err error) {
	req = ipam.Request{
		Service: k8s.ServiceKey(svc),
		Policy:  familyPolicy(svc.Spec.IPFamilyPolicy),
		Ports:   ports(svc.Spec.Ports),
		Admits:  admits(cfg, svc, nsLabels),
	}
	for _, f := range svc.Spec.IPFamilies {
		if f == corev1.IPv6Protocol {
			req.Families = append(req.Families, ipam.IPv6)
		} else {
			req.Families = append(req.Families, ipam.IPv4)
		}
	}
	if len(req.Families) == 0 {
		req.Families = []ipam.Family{ipam.IPv4}
	}

	read := func(name string) annotations.Value {
		v := annotations.Get(svc.Annotations, name)
		if w := v.Warning(); w != "" {
			warnings = append(warnings, w)
		}
		return v
	}
	ips := read(annotations.LoadBalancerIPs)
	pool := read(annotations.AddressPool)
	shared := read(annotations.AllowSharedIP)
	req.Pool = pool.Value
	req.SharingKey = shared.Value

	switch {
	case ips.Found() && svc.Spec.LoadBalancerIP != "":
		return req, warnings, fmt.Errorf("both annotation %s and spec.loadBalancerIP are set: use only the annotation", ips.Key)
	case ips.Found():
		if req.IPs, err = ipam.ParseIPs(ips.Value); err != nil {
			return req, warnings, fmt.Errorf("annotation %s: %v", ips.Key, err)
		}
	case svc.Spec.LoadBalancerIP != "":
		if req.IPs, err = ipam.ParseIPs(svc.Spec.LoadBalancerIP); err != nil {
			return req, warnings, fmt.Errorf("spec.loadBalancerIP: %v", err)
		}
	}
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		// Local services answer only where their pods run: they may share an
		// address only with services selecting the same pods. The key is
		// MetalLB's, the selector's label-set string, so that what shared
		// under MetalLB shares here; a selector-less Local Service has the
		// empty key of Cluster ones, as in MetalLB.
		req.BackendKey = labels.Set(svc.Spec.Selector).String()
	}
	return req, warnings, nil
}

func familyPolicy(p *corev1.IPFamilyPolicy) ipam.FamilyPolicy {
	switch {
	case p == nil:
		return ipam.SingleStack
	case *p == corev1.IPFamilyPolicyPreferDualStack:
		return ipam.PreferDualStack
	case *p == corev1.IPFamilyPolicyRequireDualStack:
		return ipam.RequireDualStack
	}
	return ipam.SingleStack
}

func ports(in []corev1.ServicePort) []ipam.Port {
	out := make([]ipam.Port, 0, len(in))
	for _, p := range in {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		out = append(out, ipam.Port{Protocol: proto, Number: uint16(p.Port)})
	}
	return out
}

// admits returns the serviceAllocation check of cfg's pools for svc.
func admits(cfg *config.Config, svc *corev1.Service, nsLabels labels.Set) func(string) bool {
	return func(name string) bool {
		pool, ok := cfg.Pools[name]
		if !ok {
			return false
		}
		return PoolAdmits(pool, svc.Namespace, nsLabels, labels.Set(svc.Labels))
	}
}

// PoolAdmits applies a pool's serviceAllocation: the Service's namespace must
// be listed or selected (when the pool restricts namespaces), and the Service
// must be selected (when the pool restricts services).
func PoolAdmits(pool *config.Pool, namespace string, nsLabels, svcLabels labels.Set) bool {
	if len(pool.Namespaces) > 0 || len(pool.NamespaceSelectors) > 0 {
		listed := slices.Contains(pool.Namespaces, namespace)
		selected := len(pool.NamespaceSelectors) > 0 && pool.NamespaceSelectors.Matches(nsLabels)
		if !listed && !selected {
			return false
		}
	}
	return pool.ServiceSelectors.Matches(svcLabels)
}

// Pools translates the configuration's pools for the allocator.
func Pools(cfg *config.Config) []ipam.Pool {
	out := make([]ipam.Pool, 0, len(cfg.Pools))
	for _, p := range cfg.Pools {
		out = append(out, ipam.Pool{
			Name:          p.Name,
			Ranges:        p.Ranges,
			AutoAssign:    p.AutoAssign,
			AvoidBuggyIPs: p.AvoidBuggyIPs,
			Priority:      p.Priority,
			Restricted:    len(p.Namespaces) > 0 || len(p.NamespaceSelectors) > 0 || len(p.ServiceSelectors) > 0,
		})
	}
	slices.SortFunc(out, func(a, b ipam.Pool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// StatusPatch returns the JSON merge patch that makes svc's
// status.loadBalancer.ingress and metallb.io/ip-allocated-from-pool
// annotation show held (no annotation when held is empty; the annotation
// left as it is when none of held's addresses is in a pool), or nil when
// they already do; ipsChanged tells whether the addresses differ.
//
// The patch is meant for the status subresource, which for Services resets
// only the spec: the annotation is stored with the addresses, in one write,
// and readers never see one without the other.
func StatusPatch(svc *corev1.Service, held ipam.Assignment) (patch []byte, ipsChanged bool, err error) {
	fields := map[string]any{}
	ipsChanged = !slices.Equal(k8s.StatusIPs(svc), held.IPs) || len(svc.Status.LoadBalancer.Ingress) != len(held.IPs)
	if ipsChanged {
		ingress := make([]corev1.LoadBalancerIngress, 0, len(held.IPs))
		for _, ip := range held.IPs {
			ingress = append(ingress, corev1.LoadBalancerIngress{IP: ip.String()})
		}
		fields["status"] = map[string]any{"loadBalancer": map[string]any{"ingress": ingress}}
	}
	// An address outside every pool keeps the pool annotation it has: the
	// pool is missing, not changed.
	poolKnown := held.Pool != "" || len(held.IPs) == 0
	if poolKnown && svc.Annotations[annotations.IPAllocatedFromPool] != held.Pool {
		var value any // null removes the annotation
		if held.Pool != "" {
			value = held.Pool
		}
		fields["metadata"] = map[string]any{"annotations": map[string]any{annotations.IPAllocatedFromPool: value}}
	}
	if len(fields) == 0 {
		return nil, false, nil
	}
	patch, err = json.Marshal(fields)
	return patch, ipsChanged, err
}
