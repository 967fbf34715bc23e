// Package controller proves the controller's address management end to end
// against the lab's real kube-apiserver: assignment, requested addresses and
// pools, serviceAllocation, dual-stack, sharing, loadBalancerClass, release,
// configuration changes, restarts and bad input. ironlb runs as users run
// it (pods mode: manifests/metallb-native.yaml on the lab's kubelets, RBAC
// enforced, the API server calling the webhook through its Service); every
// assertion is about API state and Events. A restart rolls out a new
// controller pod, a crash kills the controller's container through
// containerd. Its benchmark BenchmarkControllerAssign measures how fast a
// fresh controller gives thousands of existing Services their addresses.
package controller

import (
	"os"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// One node is enough: nothing here is about announcing addresses, and every
// node's kube-proxy programs every Service IP (work the benchmark does not
// need).
func TestMain(m *testing.M) {
	os.Exit(lab.Main(m, lab.Options{Nodes: 1, Pods: true}))
}
