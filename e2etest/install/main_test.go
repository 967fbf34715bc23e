// Package install runs ironlb as users install it: real nodes (containerd,
// kubelet, kube-proxy in every node namespace), RBAC enforced, and
// manifests/metallb-native.yaml applied unchanged with the lab's kubectl.
// The scenarios need root and skip themselves without it.
package install

import (
	"os"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// The lab comes up without ironlb: each scenario installs it.
func TestMain(m *testing.M) {
	os.Exit(lab.Main(m, lab.Options{Pods: true, WithoutIronLB: true}))
}
