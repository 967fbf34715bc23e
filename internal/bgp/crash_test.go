package bgp

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// crashRestartTime is the restart time the crashing speaker offers: short,
// so the router's timer runs out within the test.
const crashRestartTime = 5 * time.Second

// checkCrashWithoutRestart runs a speaker process offering graceful restart
// (crashRestartTime) to the router of lab, which already runs, and kills it
// (SIGKILL) without starting another: the router keeps its routes as stale
// while its restart timer runs (they are still in the router's kernel table
// a second after the kill, when without graceful restart they would be gone
// at once: the kernel closed the connection), then withdraws them once the
// restart time has passed without a new session.
func checkCrashWithoutRestart(t *testing.T, lab *birdLab, routeProto string) {
	t.Helper()
	child := startRestartChildWith(t, []string{lab.birdV4 + ":179"},
		restartChildSourceEnv+"="+lab.hostV4, restartChildTimeEnv+"="+crashRestartTime.String())
	prefixes := []string{"203.0.113.1/32", "203.0.113.2/32"}
	routes := func() []string {
		out := make([]string, len(prefixes))
		for i, prefix := range prefixes {
			out[i] = lab.kernelRoute(prefix)
		}
		return out
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		for _, r := range routes() {
			if !strings.Contains(r, "via "+lab.hostV4) || !strings.Contains(r, "proto "+routeProto) {
				return false, fmt.Sprintf("router's kernel routes %q, want them via %s from %s", routes(), lab.hostV4, routeProto)
			}
		}
		return true, ""
	})
	child.kill()
	killed := time.Now()
	time.Sleep(time.Second)
	for i, r := range routes() {
		if r == "" {
			t.Errorf("route %s gone %s after the kill, before the %s restart time", prefixes[i], time.Since(killed).Round(time.Millisecond), crashRestartTime)
		}
	}
	eventually(t, crashRestartTime+60*time.Second, func() (bool, string) {
		for _, r := range routes() {
			if r != "" {
				return false, fmt.Sprintf("router's kernel routes %q still there %s after the kill", routes(), time.Since(killed).Round(time.Millisecond))
			}
		}
		return true, ""
	})
	t.Logf("routes withdrawn %s after the kill (restart time %s)", time.Since(killed).Round(time.Millisecond), crashRestartTime)
}

// TestCrashWithoutRestartWithBIRD: BIRD 2 (graceful restart on) as helper
// of a speaker that crashed and did not come back.
func TestCrashWithoutRestartWithBIRD(t *testing.T) {
	checkCrashWithoutRestart(t, newBirdLab(t), "bird")
}

// TestCrashWithoutRestartWithFRR: FRR's bgpd (graceful restart helper, its
// default) likewise.
func TestCrashWithoutRestartWithFRR(t *testing.T) {
	lab := newFRRLab(t)
	runFRR(t, lab.netns, map[string]string{
		"zebra": "hostname router\nlog stdout\n",
		"bgpd": fmt.Sprintf("frr defaults traditional\nhostname router\nlog stdout\n!\nrouter bgp %d\n bgp router-id 10.255.255.2\n no bgp ebgp-requires-policy\n"+
			" neighbor %[2]s remote-as %[3]d\n neighbor %[2]s timers connect 1\n!\n", lab.birdASN, lab.hostV4, speakerASN),
	}, "zebra", "bgpd")
	checkCrashWithoutRestart(t, lab, "bgp")
}
