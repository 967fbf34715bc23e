package speaker

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestServiceForEndpoints(t *testing.T) {
	endpoint := func(node *string, ready *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, NodeName: node, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	serving := func(ep discoveryv1.Endpoint, serving bool) discoveryv1.Endpoint {
		ep.Conditions.Serving, ep.Conditions.Terminating = ptr.To(serving), ptr.To(true)
		return ep
	}
	tests := []struct {
		name      string
		endpoints []discoveryv1.Endpoint
		wantNodes map[string]bool
		wantReady bool
	}{
		{"none", nil, map[string]bool{}, false},
		{"ready on a node", []discoveryv1.Endpoint{endpoint(ptr.To("node1"), ptr.To(true))}, map[string]bool{"node1": true}, true},
		{"unknown readiness counts as ready", []discoveryv1.Endpoint{endpoint(ptr.To("node2"), nil)}, map[string]bool{"node2": true}, true},
		{"not ready", []discoveryv1.Endpoint{endpoint(ptr.To("node1"), ptr.To(false))}, map[string]bool{}, false},
		{"ready outside any node", []discoveryv1.Endpoint{endpoint(nil, ptr.To(true))}, map[string]bool{}, true},
		{"terminating but serving counts", []discoveryv1.Endpoint{serving(endpoint(ptr.To("node1"), ptr.To(false)), true)}, map[string]bool{"node1": true}, true},
		{"terminating, not serving", []discoveryv1.Endpoint{serving(endpoint(ptr.To("node1"), ptr.To(false)), false)}, map[string]bool{}, false},
		{"mixed", []discoveryv1.Endpoint{endpoint(ptr.To("node1"), ptr.To(false)), endpoint(ptr.To("node3"), ptr.To(true))}, map[string]bool{"node3": true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}
			slice := &discoveryv1.EndpointSlice{Endpoints: tt.endpoints}
			got := serviceFor(svc, []*discoveryv1.EndpointSlice{slice})
			if !maps.Equal(got.EndpointNodes, tt.wantNodes) || got.HasReadyEndpoint != tt.wantReady {
				t.Errorf("EndpointNodes %v, HasReadyEndpoint %v; want %v, %v", got.EndpointNodes, got.HasReadyEndpoint, tt.wantNodes, tt.wantReady)
			}
		})
	}
}
