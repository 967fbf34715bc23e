package speaker

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/bgpspec"
)

func TestRestartFollows(t *testing.T) {
	now := metav1.Now()
	node := func(edit func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node2"}}
		edit(n)
		return n
	}
	tests := []struct {
		name string
		node *corev1.Node
		want bool
	}{
		{"schedulable node", node(func(*corev1.Node) {}), true},
		{"unrelated taint", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
		}), true},
		{"node gone from the cache", nil, false},
		{"node being deleted", node(func(n *corev1.Node) { n.DeletionTimestamp = &now }), false},
		{"cordoned", node(func(n *corev1.Node) { n.Spec.Unschedulable = true }), false},
		{"scaled down by the cluster autoscaler", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "ToBeDeletedByClusterAutoscaler", Effect: corev1.TaintEffectNoSchedule}}
		}), false},
		{"out of service", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/out-of-service", Effect: corev1.TaintEffectNoExecute}}
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := restartFollows(tt.node)
			if got != tt.want {
				t.Errorf("restartFollows() = %v (%q), want %v", got, why, tt.want)
			}
			if !got && why == "" {
				t.Error("restartFollows() = false without a reason")
			}
		})
	}
}

func TestRoutesFirst(t *testing.T) {
	peer := bgpspec.Peer{Name: "router", Address: netip.MustParseAddr("192.0.2.1")}
	other := bgpspec.Peer{Name: "other", Address: netip.MustParseAddr("192.0.2.2")}
	tests := []struct {
		name             string
		applied, desired []bgpspec.Peer
		want             bool
	}{
		{"first peers", nil, []bgpspec.Peer{peer}, true},
		{"still no peers", nil, nil, false},
		{"a peer added to applied ones", []bgpspec.Peer{peer}, []bgpspec.Peer{peer, other}, false},
		{"unchanged peers", []bgpspec.Peer{peer}, []bgpspec.Peer{peer}, false},
		{"every peer removed", []bgpspec.Peer{peer}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := routesFirst(announce.BGPPlan{Peers: tt.applied}, announce.BGPPlan{Peers: tt.desired})
			if got != tt.want {
				t.Errorf("routesFirst() = %v, want %v", got, tt.want)
			}
		})
	}
}
