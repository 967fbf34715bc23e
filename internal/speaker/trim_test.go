package speaker

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/internal/k8s"
)

// fullMeta is metadata as the API server and kubectl fill it.
func fullMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: "prod", UID: "9b1f", ResourceVersion: "4711", Generation: 3,
		CreationTimestamp: metav1.Now(), Finalizers: []string{"example.com/keep"},
		Labels: map[string]string{"app": name, "tier": "web"},
		Annotations: map[string]string{
			"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"v1"}`,
			"metallb.io/address-pool":                          "bgp",
			"metallb.io/ip-allocated-from-pool":                "bgp",
		},
		OwnerReferences: []metav1.OwnerReference{{Kind: "Service", Name: name, UID: "1"}},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
	}
}

func fullService(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: fullMeta("web"), Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
		Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080}},
		Selector: map[string]string{"app": "web"}, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
		IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, LoadBalancerIP: "198.51.100.7",
	}, Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
		{IP: "198.51.100.7", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP), Ports: []corev1.PortStatus{{Port: 80}}},
		{IP: "2001:db8::7"},
	}}}}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func fullEndpointSlice(name string, endpoints ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	slice := &discoveryv1.EndpointSlice{ObjectMeta: fullMeta(name), AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}}, Endpoints: endpoints}
	slice.Labels = map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	return slice
}

func endpoint(node string, ready, serving, terminating *bool) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{Addresses: []string{"10.244.1.5"}, Hostname: ptr.To("web-0"), Zone: ptr.To("a"),
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: "web-0", Namespace: "prod"},
		Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: serving, Terminating: terminating},
		Hints:      &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "a"}}}}
	if node != "" {
		ep.NodeName = ptr.To(node)
	}
	return ep
}

func fullNode(name string, ready corev1.ConditionStatus) *corev1.Node {
	node := &corev1.Node{ObjectMeta: fullMeta(name), Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", ProviderID: "lab://" + name,
		Taints: []corev1.Taint{{Key: "dedicated", Value: "lb", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: "172.30.0.11"},
				{Type: corev1.NodeInternalIP, Address: "fd00:30::11"}},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: metav1.Now()},
				{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady", Message: "kubelet is posting ready status", LastHeartbeatTime: metav1.Now()},
			},
			Images:   []corev1.ContainerImage{{Names: []string{"ghcr.io/ironlb/speaker:v0.1.0"}, SizeBytes: 1 << 25}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.34.0", OSImage: "lab"},
		}}
	node.Annotations["node.alpha.kubernetes.io/ttl"] = "0"
	return node
}

func TestTrimService(t *testing.T) {
	identity := metav1.ObjectMeta{Name: "web", Namespace: "prod", UID: "9b1f", ResourceVersion: "4711",
		Labels: map[string]string{"app": "web", "tier": "web"}}
	withAnnotations := func(a map[string]string) metav1.ObjectMeta {
		m := identity
		m.Annotations = a
		return m
	}
	tests := []struct {
		name string
		in   *corev1.Service
		want *corev1.Service
	}{{
		name: "an announced Service keeps its type, policy, labels and status addresses",
		in:   fullService(nil),
		want: &corev1.Service{ObjectMeta: identity, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "198.51.100.7"}, {IP: "2001:db8::7"}}}}},
	}, {
		name: "its class and local policy stay",
		in: fullService(func(s *corev1.Service) {
			s.Spec.LoadBalancerClass = ptr.To("ironlb")
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Status = corev1.ServiceStatus{}
		}),
		want: &corev1.Service{ObjectMeta: identity, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			LoadBalancerClass: ptr.To("ironlb"), ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal}},
	}, {
		name: "the allow-shared-ip annotation stays in both spellings, no other",
		in: fullService(func(s *corev1.Service) {
			s.Annotations["metallb.io/allow-shared-ip"] = "key"
			s.Annotations["metallb.universe.tf/allow-shared-ip"] = "old"
			s.Status = corev1.ServiceStatus{}
		}),
		want: &corev1.Service{ObjectMeta: withAnnotations(map[string]string{"metallb.io/allow-shared-ip": "key",
			"metallb.universe.tf/allow-shared-ip": "old"}),
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster}},
	}, {
		name: "a ClusterIP Service keeps its type",
		in: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dns", Namespace: "kube-system"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10"}},
		want: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dns", Namespace: "kube-system"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trimService(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("trimService() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestTrimEndpointSlice(t *testing.T) {
	identity := metav1.ObjectMeta{Name: "web-abcde", Namespace: "prod", UID: "9b1f", ResourceVersion: "4711",
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}
	tests := []struct {
		name string
		in   *discoveryv1.EndpointSlice
		want *discoveryv1.EndpointSlice
	}{{
		name: "endpoints keep their node and ready and serving conditions",
		in: fullEndpointSlice("web-abcde", endpoint("node1", ptr.To(true), ptr.To(true), ptr.To(false)),
			endpoint("node2", ptr.To(false), ptr.To(true), ptr.To(true)), endpoint("", nil, nil, nil)),
		want: &discoveryv1.EndpointSlice{ObjectMeta: identity, Endpoints: []discoveryv1.Endpoint{
			{NodeName: ptr.To("node1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true)}},
			{NodeName: ptr.To("node2"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true)}},
			{},
		}},
	}, {
		name: "a slice of no Service keeps no label",
		in: &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "prod",
			Labels: map[string]string{"app": "x"}}},
		want: &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "prod"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trimEndpointSlice(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("trimEndpointSlice() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestTrimNode(t *testing.T) {
	in := fullNode("node1", corev1.ConditionTrue)
	want := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Namespace: "prod", UID: "9b1f", ResourceVersion: "4711",
		Labels: map[string]string{"app": "node1", "tier": "web"}},
		Spec: corev1.NodeSpec{Taints: in.Spec.Taints},
		Status: corev1.NodeStatus{Addresses: in.Status.Addresses,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if got := trimNode(in); !reflect.DeepEqual(got, want) {
		t.Errorf("trimNode() =\n%+v\nwant\n%+v", got, want)
	}
	noConditions := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "new"}}
	if got := trimNode(noConditions); !reflect.DeepEqual(got, noConditions) {
		t.Errorf("trimNode() of a new Node = %+v, want it as it was", got)
	}
}

func TestTrimForSpeakerByType(t *testing.T) {
	svc, slice, node := fullService(nil), fullEndpointSlice("web-abcde"), fullNode("node1", corev1.ConditionTrue)
	for _, tt := range []struct{ in, want any }{
		{svc, trimService(svc)}, {slice, trimEndpointSlice(slice)}, {node, trimNode(node)},
	} {
		if got, err := trimForSpeaker(tt.in); err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("trimForSpeaker(%T) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	tombstone := cache.DeletedFinalStateUnknown{Key: "prod/web", Obj: svc}
	if got, err := trimForSpeaker(tombstone); err != nil || !reflect.DeepEqual(got, tombstone) {
		t.Errorf("trimForSpeaker(tombstone) = %+v, %v; want it unchanged", got, err)
	}
}

// TestTrimKeepsWhatTheSpeakerReads is the seam: every reader of the
// informers' objects (the plan's translation, the class check, the
// EndpointSlice index, the Nodes' translation, readiness, memberlist
// peers and whether a restart follows a stop, the Events' references) reads the same from a trimmed object as
// from the API server's.
func TestTrimKeepsWhatTheSpeakerReads(t *testing.T) {
	services := []*corev1.Service{
		fullService(nil),
		fullService(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }),
		fullService(func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("ironlb") }),
		fullService(func(s *corev1.Service) { s.Annotations["metallb.io/allow-shared-ip"] = "k" }),
		fullService(func(s *corev1.Service) { s.Annotations["metallb.universe.tf/allow-shared-ip"] = "k" }),
		fullService(func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{Hostname: "lb.example.com"})
		}),
		fullService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }),
	}
	slices := []*discoveryv1.EndpointSlice{
		fullEndpointSlice("web-a", endpoint("node1", ptr.To(true), ptr.To(true), ptr.To(false)), endpoint("", nil, nil, nil)),
		fullEndpointSlice("web-b", endpoint("node2", ptr.To(false), ptr.To(true), ptr.To(true)),
			endpoint("node3", ptr.To(false), ptr.To(false), ptr.To(true))),
	}
	trimmedSlices := []*discoveryv1.EndpointSlice{trimEndpointSlice(slices[0]), trimEndpointSlice(slices[1])}
	for _, svc := range services {
		trimmed := trimService(svc)
		if got, want := serviceFor(trimmed, trimmedSlices), serviceFor(svc, slices); !reflect.DeepEqual(got, want) {
			t.Errorf("serviceFor(trimmed) = %+v, want %+v", got, want)
		}
		for _, class := range []string{"", "ironlb"} {
			if got, want := k8s.IsOurs(trimmed, class), k8s.IsOurs(svc, class); got != want {
				t.Errorf("IsOurs(trimmed, %q) = %v, want %v", class, got, want)
			}
		}
		sameReference(t, trimmed, svc)
	}
	for i, slice := range slices {
		got, _ := indexByService(trimmedSlices[i])
		want, _ := indexByService(slice)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("indexByService(trimmed %s) = %v, want %v", slice.Name, got, want)
		}
	}
	cordoned, leaving, deleted := fullNode("node4", corev1.ConditionTrue), fullNode("node5", corev1.ConditionTrue), fullNode("node6", corev1.ConditionTrue)
	cordoned.Spec.Unschedulable = true
	leaving.Spec.Taints = append(leaving.Spec.Taints, corev1.Taint{Key: "ToBeDeletedByClusterAutoscaler", Effect: corev1.TaintEffectNoSchedule})
	deleted.DeletionTimestamp = ptr.To(metav1.Now())
	nodes := []*corev1.Node{fullNode("node1", corev1.ConditionTrue), fullNode("node2", corev1.ConditionFalse), fullNode("node3", corev1.ConditionUnknown), cordoned, leaving, deleted}
	trimmedNodes := make([]*corev1.Node, len(nodes))
	for i, node := range nodes {
		trimmedNodes[i] = trimNode(node)
		if got, want := nodeFor(trimmedNodes[i], nil), nodeFor(node, nil); !got.Equal(want) {
			t.Errorf("nodeFor(trimmed %s) = %+v, want %+v", node.Name, got, want)
		}
		if got, want := nodeReady(trimmedNodes[i]), nodeReady(node); got != want {
			t.Errorf("nodeReady(trimmed %s) = %v, want %v", node.Name, got, want)
		}
		gotFollows, gotWhy := restartFollows(trimmedNodes[i])
		wantFollows, wantWhy := restartFollows(node)
		if gotFollows != wantFollows || gotWhy != wantWhy {
			t.Errorf("restartFollows(trimmed %s) = %v %q, want %v %q", node.Name, gotFollows, gotWhy, wantFollows, wantWhy)
		}
		sameReference(t, trimmedNodes[i], node)
	}
	running := map[string]bool{"node2": true}
	if got, want := peersOf(trimmedNodes, "node1", 7946, running), peersOf(nodes, "node1", 7946, running); !reflect.DeepEqual(got, want) {
		t.Errorf("peersOf(trimmed) = %+v, want %+v", got, want)
	}
}

// sameReference checks that an Event on the trimmed object refers to the
// original.
func sameReference(t *testing.T, trimmed, original interface {
	runtime.Object
	metav1.Object
}) {
	t.Helper()
	got, err := reference.GetReference(scheme.Scheme, trimmed)
	if err != nil {
		t.Fatal(err)
	}
	want, err := reference.GetReference(scheme.Scheme, original)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Event reference of trimmed %s = %+v, want %+v", original.GetName(), got, want)
	}
}

// TestTrimmedEndpointSlicesShareNodeNamesAndConditions: two slices'
// endpoints on one node point to one node name and one value per
// condition, and the values stay right.
func TestTrimmedEndpointSlicesShareNodeNamesAndConditions(t *testing.T) {
	a := trimEndpointSlice(fullEndpointSlice("a", endpoint("node1", ptr.To(true), ptr.To(false), nil)))
	b := trimEndpointSlice(fullEndpointSlice("b", endpoint("node1", ptr.To(true), ptr.To(false), nil)))
	ea, eb := a.Endpoints[0], b.Endpoints[0]
	if ea.NodeName != eb.NodeName || ea.Conditions.Ready != eb.Conditions.Ready || ea.Conditions.Serving != eb.Conditions.Serving {
		t.Errorf("the endpoints hold their own copies: node %p %p, ready %p %p, serving %p %p",
			ea.NodeName, eb.NodeName, ea.Conditions.Ready, eb.Conditions.Ready, ea.Conditions.Serving, eb.Conditions.Serving)
	}
	if *eb.NodeName != "node1" || !*eb.Conditions.Ready || *eb.Conditions.Serving {
		t.Errorf("shared values changed: node %q ready %v serving %v", *eb.NodeName, *eb.Conditions.Ready, *eb.Conditions.Serving)
	}
}

// TestSharedNodeNamesAreBounded: past maxSharedNodeNames names the set
// starts over instead of growing.
func TestSharedNodeNamesAreBounded(t *testing.T) {
	for i := range maxSharedNodeNames + 10 {
		name := fmt.Sprintf("node%d", i)
		if got := sharedNodeName(&name); *got != name {
			t.Fatalf("sharedNodeName(%q) = %q", name, *got)
		}
	}
	nodeNames.Lock()
	defer nodeNames.Unlock()
	if n := len(nodeNames.shared); n > maxSharedNodeNames {
		t.Errorf("%d node names kept, want at most %d", n, maxSharedNodeNames)
	}
}
