// Package bgp proves the speaker's BGP mode end to end in the lab, against
// the routers people run: BIRD 2 (eBGP, IPv4 and IPv6, multipath), BIRD
// 1.6.8 (iBGP in AS 65000 with an import filter like seed 000's) and FRR's
// bgpd with zebra. Routes are checked where they matter, in the router
// namespace's kernel table, and traffic from the ext host behind the router
// must reach a node. The benchmarks (make bench-lab) time routes from the
// API write to the router's kernel table.
package bgp

import (
	"os"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// TestMain brings the package's lab up in pods mode, as users run ironlb:
// manifests/metallb-native.yaml on the lab's kubelets, the webhook reached
// through its Service, the speakers at the manifest's log level (info).
// Stopping a speaker deletes its pod, crashing it kills its container; the
// benchmarks freeze a speaker's container (SIGSTOP through containerd) and
// read its memory in /proc at the host PID containerd lists for it.
func TestMain(m *testing.M) { os.Exit(lab.Main(m, lab.Options{Pods: true})) }
