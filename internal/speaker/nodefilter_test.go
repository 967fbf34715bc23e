package speaker

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/announce"
)

// realisticNode is a worker Node as a kubelet writes it: labels, addresses,
// five conditions, images.
func realisticNode() *corev1.Node {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "worker-17", ResourceVersion: "100", Labels: map[string]string{
			"kubernetes.io/hostname": "worker-17", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"topology.kubernetes.io/zone": "zone-b", "node.kubernetes.io/instance-type": "metal", "rack": "r12",
		}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.3.17"},
				{Type: corev1.NodeInternalIP, Address: "fd00::317"}, {Type: corev1.NodeHostName, Address: "worker-17"}},
		},
	}
	for _, c := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeNetworkUnavailable} {
		node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: c, Status: corev1.ConditionFalse})
	}
	node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue})
	for i := range 20 {
		node.Status.Images = append(node.Status.Images, corev1.ContainerImage{Names: []string{fmt.Sprintf("registry.example/app-%d:v1", i)}, SizeBytes: 1 << 20})
	}
	return node
}

// heartbeat returns node as its kubelet's next status update writes it:
// new heartbeat times and resource version, nothing else.
func heartbeat(node *corev1.Node) *corev1.Node {
	next := node.DeepCopy()
	next.ResourceVersion += "1"
	for i := range next.Status.Conditions {
		next.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(time.Unix(1_800_000_000, 0))
	}
	return next
}

// planRequested reports, and forgets, whether the speaker was asked for a
// plan.
func planRequested(s *Speaker) bool {
	select {
	case <-s.changed:
		return true
	default:
		return false
	}
}

func TestNodeUpdatesThatPlan(t *testing.T) {
	tests := []struct {
		name   string
		change func(*corev1.Node)
		plans  bool
	}{
		{"heartbeat", func(*corev1.Node) {}, false},
		{"a condition the plan does not read", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionTrue }, false},
		{"images, capacity, taints", func(n *corev1.Node) {
			n.Status.Images = n.Status.Images[1:]
			n.Status.Capacity = corev1.ResourceList{}
			n.Spec.Taints = []corev1.Taint{{Key: "maintenance", Effect: corev1.TaintEffectNoSchedule}}
			n.Spec.Unschedulable = true
		}, false},
		{"an annotation", func(n *corev1.Node) { n.Annotations = map[string]string{"note": "x"} }, false},
		{"a hostname address", func(n *corev1.Node) { n.Status.Addresses[2].Address = "worker-17.example" }, false},
		{"a label", func(n *corev1.Node) { n.Labels["rack"] = "r13" }, true},
		{"the exclusion label", func(n *corev1.Node) { n.Labels[announce.ExcludeLabel] = "" }, true},
		{"an InternalIP", func(n *corev1.Node) { n.Status.Addresses[1].Address = "fd00::318" }, true},
		{"InternalIPs reordered", func(n *corev1.Node) {
			n.Status.Addresses[0], n.Status.Addresses[1] = n.Status.Addresses[1], n.Status.Addresses[0]
		}, true},
		{"Ready", func(n *corev1.Node) { n.Status.Conditions[4].Status = corev1.ConditionUnknown }, true},
	}
	for _, tt := range tests {
		s := &Speaker{changed: make(chan struct{}, 1)}
		old := realisticNode()
		updated := heartbeat(old)
		tt.change(updated)
		s.nodeUpdated(old, updated)
		if got := planRequested(s); got != tt.plans {
			t.Errorf("%s: plan requested %v, want %v", tt.name, got, tt.plans)
		}
	}
}

// BenchmarkPlanEvent/node-heartbeat is a kubelet's status update reaching
// the speaker's Node handler: filtered out, no plan. Its cost does not
// depend on the cluster's size.
func BenchmarkPlanEvent(b *testing.B) {
	b.Run("node-heartbeat", func(b *testing.B) {
		s := &Speaker{changed: make(chan struct{}, 1)}
		old := realisticNode()
		updated := heartbeat(old)
		b.ReportAllocs()
		for b.Loop() {
			s.nodeUpdated(old, updated)
		}
		if planRequested(s) {
			b.Fatal("a heartbeat asked for a plan")
		}
	})
}
