package speaker

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/annotations"
)

// The speaker's informers keep, for each object, only what the speaker
// reads, in a fresh object, so that the decoded one (managed fields,
// kubectl's last-applied copy, ports, endpoint addresses, images…) is
// garbage at once. What each reader needs:
//   - serviceFor and k8s.IsOurs: the Service's labels, type, class,
//     external traffic policy, status addresses, and the allow-shared-ip
//     annotation (either spelling);
//   - the Events on Services and Nodes: kind, namespace, name, UID and
//     resource version;
//   - indexByService and serviceFor: the EndpointSlice's service-name label
//     and its endpoints' node names and conditions;
//   - nodeFor, nodeReady and peersOf: the Node's labels, addresses and Ready
//     condition.
// TestTrimKeepsWhatTheSpeakerReads checks each reader across the trim.

// trimForSpeaker is the speaker's informer transform: trimService,
// trimEndpointSlice or trimNode by type; any other object (a tombstone)
// passes unchanged.
func trimForSpeaker(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return trimService(o), nil
	case *discoveryv1.EndpointSlice:
		return trimEndpointSlice(o), nil
	case *corev1.Node:
		return trimNode(o), nil
	}
	return obj, nil
}

// identity is the part of an object's metadata that names it and Events
// refer to.
func identity(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
}

// trimService keeps what the speaker reads of a Service.
func trimService(svc *corev1.Service) *corev1.Service {
	out := &corev1.Service{ObjectMeta: identity(svc.ObjectMeta), Spec: corev1.ServiceSpec{
		Type:                  svc.Spec.Type,
		LoadBalancerClass:     svc.Spec.LoadBalancerClass,
		ExternalTrafficPolicy: svc.Spec.ExternalTrafficPolicy,
	}}
	out.Labels = svc.Labels
	for _, name := range []string{annotations.AllowSharedIP, annotations.Legacy(annotations.AllowSharedIP)} {
		if value, ok := svc.Annotations[name]; ok {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[name] = value
		}
	}
	if ingress := svc.Status.LoadBalancer.Ingress; len(ingress) > 0 {
		out.Status.LoadBalancer.Ingress = make([]corev1.LoadBalancerIngress, len(ingress))
		for i, ing := range ingress {
			out.Status.LoadBalancer.Ingress[i] = corev1.LoadBalancerIngress{IP: ing.IP}
		}
	}
	return out
}

// trimEndpointSlice keeps what the speaker reads of an EndpointSlice.
func trimEndpointSlice(slice *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	out := &discoveryv1.EndpointSlice{ObjectMeta: identity(slice.ObjectMeta)}
	if name, ok := slice.Labels[discoveryv1.LabelServiceName]; ok {
		out.Labels = map[string]string{discoveryv1.LabelServiceName: name}
	}
	if len(slice.Endpoints) > 0 {
		out.Endpoints = make([]discoveryv1.Endpoint, len(slice.Endpoints))
		for i, ep := range slice.Endpoints {
			out.Endpoints[i] = discoveryv1.Endpoint{NodeName: sharedNodeName(ep.NodeName), Conditions: discoveryv1.EndpointConditions{
				Ready: sharedBool(ep.Conditions.Ready), Serving: sharedBool(ep.Conditions.Serving),
			}}
		}
	}
	return out
}

// Endpoints repeat a few node names and two truth values many thousand
// times; the trimmed slices point to one shared copy of each instead of
// holding the decoded ones (two small objects per field and endpoint).
// What an informer holds is read-only, so sharing is safe.
var (
	sharedTrue, sharedFalse = true, false
	nodeNames               struct {
		sync.Mutex
		shared map[string]*string
	}
)

// maxSharedNodeNames bounds the node names kept for sharing: Kubernetes'
// largest supported cluster. A cluster that keeps replacing its nodes
// starts a new set rather than growing one forever.
const maxSharedNodeNames = 5000

// sharedBool returns the shared pointer to *b's value, nil for nil.
func sharedBool(b *bool) *bool {
	switch {
	case b == nil:
		return nil
	case *b:
		return &sharedTrue
	}
	return &sharedFalse
}

// sharedNodeName returns a shared pointer to the node name *name, nil for
// nil.
func sharedNodeName(name *string) *string {
	if name == nil {
		return nil
	}
	nodeNames.Lock()
	defer nodeNames.Unlock()
	if shared, ok := nodeNames.shared[*name]; ok {
		return shared
	}
	if len(nodeNames.shared) >= maxSharedNodeNames || nodeNames.shared == nil {
		nodeNames.shared = map[string]*string{}
	}
	nodeNames.shared[*name] = name
	return name
}

// trimNode keeps what the speaker reads of a Node.
func trimNode(node *corev1.Node) *corev1.Node {
	out := &corev1.Node{ObjectMeta: identity(node.ObjectMeta)}
	out.Labels = node.Labels
	// Whether a new speaker will follow a stop (restartFollows).
	out.DeletionTimestamp = node.DeletionTimestamp
	out.Spec.Unschedulable = node.Spec.Unschedulable
	out.Spec.Taints = node.Spec.Taints
	out.Status.Addresses = node.Status.Addresses
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			out.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return out
}
