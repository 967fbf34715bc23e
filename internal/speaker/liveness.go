package speaker

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/internal/k8s"
)

// speakerRunning reports whether pod is a speaker the API server lists as
// running: scheduled, Ready and not being deleted. It is the one definition
// of a running speaker, for the quorum, the joins and the live members.
func speakerRunning(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && pod.Spec.NodeName != "" && k8s.PodReady(pod)
}

// liveMembers returns the nodes the layer 2 election counts as live: the
// memberlist members, less those whose speaker the API server shows as not
// running — a speaker pod is known on the node and none there is Ready and
// not being deleted. A speaker whose process exited is no member within
// milliseconds (members' exit watch); the pods add what memberlist cannot
// see: a speaker that runs but is not ready, and a deleted pod's speaker on
// its way out. Every speaker applies this rule to the same pods, so the
// owner itself, if it merely went NotReady, yields as the others take
// over. A node with
// no speaker pod known (none listed yet, or speakers run outside pods)
// counts as memberlist says. A new speaker joins memberlist before its pod
// is Ready and is elected only once it is: an address never moves to a
// speaker the API server does not call ready, nor back and forth while one
// crash-loops. With the API server unreachable, the informer's last known
// pods keep deciding.
func liveMembers(members map[string]bool, pods []*corev1.Pod) map[string]bool {
	known := make(map[string]bool, len(pods))
	for _, pod := range pods {
		if pod.Spec.NodeName != "" {
			known[pod.Spec.NodeName] = true
		}
	}
	running := nodesWithRunningSpeaker(pods)
	live := make(map[string]bool, len(members))
	for name, member := range members {
		if member && (!known[name] || running[name]) {
			live[name] = true
		}
	}
	return live
}

// podChangesLiveness reports whether a speaker pod's update changes what
// liveMembers and the quorum read of it: its node, or whether it runs.
func podChangesLiveness(old, updated *corev1.Pod) bool {
	return old.Spec.NodeName != updated.Spec.NodeName || speakerRunning(old) != speakerRunning(updated)
}

// memberLeft reports whether a node live in before is not in after.
func memberLeft(before, after map[string]bool) bool {
	for name, live := range before {
		if live && !after[name] {
			return true
		}
	}
	return false
}
