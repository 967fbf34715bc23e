// Package controller proves the controller's address management end to end
// against the lab's real kube-apiserver: assignment, requested addresses and
// pools, serviceAllocation, dual-stack, sharing, loadBalancerClass, release,
// configuration changes, restarts and bad input. Only the controller runs
// (no speakers): every assertion is about API state and Events. Its benchmark
// BenchmarkControllerAssign measures how fast a fresh controller gives
// thousands of existing Services their addresses.
package controller

import (
	"os"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// One node is enough: nothing here announces addresses, and every node's
// kube-ipvs0 receives every Service IP (work the benchmark does not need).
func TestMain(m *testing.M) {
	os.Exit(lab.Main(m, lab.Options{Nodes: 1, WithoutIronLB: true}))
}
