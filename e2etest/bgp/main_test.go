// Package bgp proves the speaker's BGP mode end to end in the lab, against
// the routers people run: BIRD 2 (eBGP, IPv4 and IPv6, multipath), BIRD
// 1.6.8 (iBGP in AS 65000 with an import filter like seed 000's) and FRR's
// bgpd with zebra. Routes are checked where they matter, in the router
// namespace's kernel table, and traffic from the ext host behind the router
// must reach a node. The benchmarks (make bench-lab) time routes from the
// API write to the router's kernel table.
package bgp

import (
	"flag"
	"os"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// TestMain brings the package's lab up, in process mode: in pods mode
// (tried on 2026-12-06) the tests' cleanups delete configuration in an
// order the webhook refuses (the process-mode lab runs no webhook here),
// and the router saw no Cease from a speaker stopped through its pod
// (TestGracefulRestartAndSIGTERM; likely the manifest's 2 s termination
// grace period, which issue 14 finds shorter than the graceful stop). The benchmarks need
// processes anyway: BenchmarkBGPFrozenSpeaker SIGSTOPs a speaker,
// BenchmarkBGPScale reads its memory from /proc. Benchmarks run the
// controller and speakers at log level info, as deployed; tests keep the
// lab's debug logs.
func TestMain(m *testing.M) {
	flag.Parse()
	var opts lab.Options
	if bench := flag.Lookup("test.bench"); bench != nil && bench.Value.String() != "" {
		opts.ControllerArgs = []string{"--log-level", "info"}
		opts.SpeakerArgs = []string{"--log-level", "info"}
	}
	os.Exit(lab.Main(m, opts))
}
