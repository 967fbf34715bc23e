package speaker

import (
	corev1 "k8s.io/api/core/v1"
)

// Taints that announce the node is going away rather than the speaker
// restarting on it.
var nodeLeavingTaints = []string{
	"ToBeDeletedByClusterAutoscaler",    // cluster-autoscaler scales the node down
	"node.kubernetes.io/out-of-service", // the node is shut down (non-graceful node shutdown)
}

// restartFollows reports whether a stop of the speaker on node is expected
// to be followed by a new speaker on the same node (a rolling update, a
// deleted pod), so that the BGP sessions to graceful-restart peers are left
// to the routers' graceful restart instead of withdrawn; and, when not,
// why. It reads only the Node from the informer's cache (nil: the Node is
// gone): a Node being deleted, cordoned (drained, scaled down, shut down for
// maintenance) or tainted as leaving gets no new speaker soon, and its
// routes are withdrawn at once. What it cannot see cheaply (the DaemonSet
// deleted, the node no longer matching its node selector, the machine
// powering off without a cordon) leaves the routes stale at the router
// for the restart time offered (bgp.GracefulRestartTime), during which
// the node's forwarding still works until it is actually gone.
func restartFollows(node *corev1.Node) (bool, string) {
	switch {
	case node == nil:
		return false, "the node is deleted"
	case node.DeletionTimestamp != nil:
		return false, "the node is being deleted"
	case node.Spec.Unschedulable:
		return false, "the node is cordoned"
	}
	for _, taint := range node.Spec.Taints {
		for _, leaving := range nodeLeavingTaints {
			if taint.Key == leaving {
				return false, "the node has the taint " + leaving
			}
		}
	}
	return true, ""
}
