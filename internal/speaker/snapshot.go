package speaker

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ironlb/ironlb/internal/annotations"
	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/k8s"
)

// serviceFor translates a Service and its EndpointSlices for the plan.
func serviceFor(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) announce.Service {
	out := announce.Service{
		Key:                k8s.ServiceKey(svc),
		IPs:                k8s.StatusIPs(svc),
		Labels:             svc.Labels,
		LocalTrafficPolicy: svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
		AllowsSharedIP:     annotations.Get(svc.Annotations, annotations.AllowSharedIP).Key != "",
		EndpointNodes:      map[string]bool{},
	}
	for _, slice := range slices {
		for _, ep := range slice.Endpoints {
			if !k8s.EndpointCanServe(ep.Conditions) {
				continue
			}
			out.HasReadyEndpoint = true
			if ep.NodeName != nil {
				out.EndpointNodes[*ep.NodeName] = true
			}
		}
	}
	return out
}

// nodeFor translates a Node for the plan; interfaces come from the node's
// speaker (memberlist metadata), nil when unknown.
func nodeFor(node *corev1.Node, interfaces []announce.Interface) announce.Node {
	return announce.Node{
		Name:       node.Name,
		Labels:     node.Labels,
		Addresses:  internalIPs(node),
		Interfaces: interfaces,
	}
}

// nodeChangesPlan reports whether a Node update changes what a plan reads
// of the Node: its translation (nodeFor: name, labels, InternalIPs) or its
// Ready condition (the membership signal without memberlist). Heartbeats,
// other conditions, images, capacity and the like change nothing: such an
// update costs no plan.
func nodeChangesPlan(old, updated *corev1.Node) bool {
	return !nodeFor(old, nil).Equal(nodeFor(updated, nil)) || nodeReady(old) != nodeReady(updated)
}

// internalIPs returns a node's InternalIP addresses, in status order.
func internalIPs(node *corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// nodeReady reports whether a Node's Ready condition is true: the membership
// signal when memberlist is disabled.
func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
