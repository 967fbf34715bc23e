package speaker

import (
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// speakerPod returns a speaker pod on node, Ready or not, being deleted or
// not.
func speakerPod(node string, ready, deleting bool) *corev1.Pod {
	p := &corev1.Pod{Spec: corev1.PodSpec{NodeName: node}}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: status}}
	if deleting {
		p.DeletionTimestamp = &metav1.Time{}
	}
	return p
}

func TestLiveMembers(t *testing.T) {
	abc := map[string]bool{"a": true, "b": true, "c": true}
	readyABC := []*corev1.Pod{speakerPod("a", true, false), speakerPod("b", true, false), speakerPod("c", true, false)}
	tests := []struct {
		name    string
		members map[string]bool
		pods    []*corev1.Pod
		want    []string
	}{
		{"every member's pod Ready", abc, readyABC, []string{"a", "b", "c"}},
		{"no pods listed (speakers outside pods, or not known yet): memberlist alone", abc, nil, []string{"a", "b", "c"}},
		{"a member whose pod is not known yet counts", abc, readyABC[:2], []string{"a", "b", "c"}},
		{"pod NotReady (crashed, or new and not Ready yet), still a member", abc,
			[]*corev1.Pod{speakerPod("a", true, false), speakerPod("b", true, false), speakerPod("c", false, false)}, []string{"a", "b"}},
		{"pod being deleted", abc,
			[]*corev1.Pod{speakerPod("a", true, false), speakerPod("b", true, true), speakerPod("c", true, false)}, []string{"a", "c"}},
		{"rollout: old pod deleting, new pod Ready on the node", abc,
			[]*corev1.Pod{speakerPod("a", true, false), speakerPod("b", true, false), speakerPod("c", true, true), speakerPod("c", true, false)}, []string{"a", "b", "c"}},
		{"rollout: old pod deleting, new one not Ready", abc,
			[]*corev1.Pod{speakerPod("a", true, false), speakerPod("b", true, false), speakerPod("c", true, true), speakerPod("c", false, false)}, []string{"a", "b"}},
		{"a Ready pod does not make a node a member", map[string]bool{"a": true}, readyABC, []string{"a"}},
		{"memberlist's dead member stays out", map[string]bool{"a": true, "b": true, "c": false}, readyABC, []string{"a", "b"}},
		{"unscheduled pod says nothing of any node", abc, []*corev1.Pod{speakerPod("", false, false)}, []string{"a", "b", "c"}},
		{"every pod NotReady: nobody", abc,
			[]*corev1.Pod{speakerPod("a", false, false), speakerPod("b", false, false), speakerPod("c", false, false)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Sorted(maps.Keys(liveMembers(tt.members, tt.pods)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("liveMembers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPodChangesLiveness(t *testing.T) {
	ready := speakerPod("a", true, false)
	relabelled := ready.DeepCopy()
	relabelled.Labels = map[string]string{"x": "y"}
	relabelled.ResourceVersion = "2"
	tests := []struct {
		name         string
		old, updated *corev1.Pod
		want         bool
	}{
		{"Ready to NotReady (crash)", ready, speakerPod("a", false, false), true},
		{"NotReady to Ready", speakerPod("a", false, false), ready, true},
		{"deletion starts", ready, speakerPod("a", true, true), true},
		{"scheduled", speakerPod("", false, false), speakerPod("a", false, false), true},
		{"metadata only", ready, relabelled, false},
		{"NotReady stays NotReady", speakerPod("a", false, false), speakerPod("a", false, false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podChangesLiveness(tt.old, tt.updated); got != tt.want {
				t.Errorf("podChangesLiveness = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMemberLeft(t *testing.T) {
	tests := []struct {
		name          string
		before, after map[string]bool
		want          bool
	}{
		{"first plan", nil, map[string]bool{"a": true}, false},
		{"unchanged", map[string]bool{"a": true, "b": true}, map[string]bool{"a": true, "b": true}, false},
		{"one joined", map[string]bool{"a": true}, map[string]bool{"a": true, "b": true}, false},
		{"one left", map[string]bool{"a": true, "b": true}, map[string]bool{"a": true}, true},
		{"one left, another joined", map[string]bool{"a": true, "b": true}, map[string]bool{"a": true, "c": true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := memberLeft(tt.before, tt.after); got != tt.want {
				t.Errorf("memberLeft = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSpeakerPodUpdateAsksForPlan: the pod informer's update handler asks
// for a plan when a pod stops or starts running, and only then.
func TestSpeakerPodUpdateAsksForPlan(t *testing.T) {
	ready := speakerPod("a", true, false)
	relabelled := ready.DeepCopy()
	relabelled.Labels = map[string]string{"x": "y"}
	tests := []struct {
		name         string
		old, updated any
		want         bool
	}{
		{"crash: NotReady", ready, speakerPod("a", false, false), true},
		{"metadata only", ready, relabelled, false},
		{"not a pod (a tombstone)", ready, cache.DeletedFinalStateUnknown{Obj: ready}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Speaker{changed: make(chan struct{}, 1)}
			s.speakerPodUpdated(tt.old, tt.updated)
			asked := len(s.changed) == 1
			if asked != tt.want {
				t.Errorf("plan asked: %v, want %v", asked, tt.want)
			}
			if asked && !s.contextChanged {
				t.Error("a pod change is not marked as a change of the plan's context (contextChanged): the plan would be skipped")
			}
		})
	}
}
