// Package e2etest holds ironlb's smoke scenarios: the lab's control plane,
// real nodes (kubelets, kube-proxy), network and routers are up, and a
// Service gets a reachable IP from ironlb installed as users install it
// (pods mode: manifests/metallb-native.yaml on the lab's kubelets). Scenarios
// of each area live in the sub-packages (controller, layer2, bgp,
// operations, install), each around a lab of its own (see package lab);
// they need root, and skip themselves without it.
package e2etest

import (
	"os"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
)

func TestMain(m *testing.M) { os.Exit(lab.Main(m, lab.Options{Pods: true})) }
