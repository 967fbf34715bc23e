package speaker

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestRunningSpeakers(t *testing.T) {
	pod := speakerPod
	tests := []struct {
		name string
		pods []*corev1.Pod
		want int
	}{
		{"none", nil, 0},
		{"ready pods, one per node", []*corev1.Pod{pod("a", true, false), pod("b", true, false), pod("c", true, false)}, 3},
		{"a pod not ready (starting, or its node lost)", []*corev1.Pod{pod("a", true, false), pod("b", false, false)}, 1},
		{"a terminating pod during a rollout", []*corev1.Pod{pod("a", true, false), pod("b", true, true)}, 1},
		{"old and new pod on one node count once", []*corev1.Pod{pod("a", true, false), pod("a", true, false)}, 1},
		{"unscheduled", []*corev1.Pod{pod("", true, false)}, 0},
		{"no Ready condition", []*corev1.Pod{{Spec: corev1.PodSpec{NodeName: "a"}}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runningSpeakers(tt.pods); got != tt.want {
				t.Errorf("runningSpeakers = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSettleWait(t *testing.T) {
	tests := []struct {
		name       string
		lost       bool
		sinceFirst time.Duration
		want       time.Duration
	}{
		{"a member lost: at once", true, 0, 0},
		{"a member lost while joins wait: at once", true, 30 * time.Millisecond, 0},
		{"a join: wait for the set to settle", false, 0, joinSettle},
		{"joins keep coming: wait again", false, 200 * time.Millisecond, joinSettle},
		{"joins kept coming: no longer than maxJoinSettle", false, maxJoinSettle - 10*time.Millisecond, 10 * time.Millisecond},
		{"past maxJoinSettle: at once", false, maxJoinSettle + time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := settleWait(tt.lost, tt.sinceFirst); got != tt.want {
				t.Errorf("settleWait(%v, %v) = %v, want %v", tt.lost, tt.sinceFirst, got, tt.want)
			}
		})
	}
}
