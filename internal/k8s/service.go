package k8s

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// IsOurs reports whether ironlb handles svc: a LoadBalancer Service whose
// loadBalancerClass is unset when lbClass is empty, or equal to lbClass.
func IsOurs(svc *corev1.Service, lbClass string) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if svc.Spec.LoadBalancerClass == nil {
		return lbClass == ""
	}
	return *svc.Spec.LoadBalancerClass == lbClass
}

// ServiceKey returns the "namespace/name" identity of a Service.
func ServiceKey(svc *corev1.Service) string {
	return svc.Namespace + "/" + svc.Name
}

// StatusIPs returns the addresses in a Service's status.loadBalancer.ingress,
// skipping entries that are not IP addresses (hostnames).
func StatusIPs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// EndpointCanServe reports whether an endpoint may receive traffic: it is
// ready (a nil Ready condition means ready), or it is terminating but still
// serving. MetalLB counts endpoints the same way for layer 2 and BGP.
func EndpointCanServe(c discoveryv1.EndpointConditions) bool {
	return c.Ready == nil || *c.Ready || (c.Serving != nil && *c.Serving)
}
