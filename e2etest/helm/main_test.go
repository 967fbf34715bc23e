// Package helm installs, upgrades, uninstalls and adopts ironlb with its
// Helm chart (charts/ironlb) on real nodes (containerd, kubelet, kube-proxy
// in every node namespace), with the helm that the lab builds from the Go
// module proxy. The scenarios need root and skip themselves without it.
package helm

import (
	"os"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// The lab comes up without ironlb: each scenario installs it.
func TestMain(m *testing.M) {
	os.Exit(lab.Main(m, lab.Options{Pods: true, WithoutIronLB: true}))
}
