package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgpspec"
)

// BIRD's side of the BFD session: it sends every 200 ms at the slowest and
// wants our packets no faster than every 100 ms, 5 packets lost.
const birdBFD = `interface "*" { min rx interval 100 ms; min tx interval 200 ms; multiplier 5; };`

// Our side: send every 100 ms, receive every 150 ms, 3 packets lost.
var birdTestBFD = bgpspec.BFD{Profile: "bird", TransmitInterval: 100 * time.Millisecond, ReceiveInterval: 150 * time.Millisecond, DetectMultiplier: 3}

// startBFDWithBIRD brings a BGP session with BFD up to BIRD and one prefix
// into BIRD's kernel table.
func startBFDWithBIRD(t *testing.T) (*birdLab, *Speaker) {
	t.Helper()
	lab := newBirdLabWithBFD(t, birdBFD)
	ctx := context.Background()
	s, err := New(ctx, Config{RouterID: ip("10.255.0.1"), Logger: testLogger(t), BFDListenAddrs: []netip.Addr{ip(lab.hostV4)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	peer := bgpspec.Peer{Name: "bird4", MyASN: speakerASN, PeerASN: lab.birdASN,
		Address: ip(lab.birdV4), SourceAddress: ip(lab.hostV4), ConnectTime: time.Second, BFD: birdTestBFD}
	if err := s.SetPeers(ctx, []bgpspec.Peer{peer}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	if err := s.SetRoutes(ctx, unfold([]route{{Prefix: pfx("203.0.113.10/32"), Peers: []string{"bird4"}}})); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		r := lab.kernelRoute("203.0.113.10/32")
		return strings.Contains(r, "proto bird"), "kernel route: " + r
	})
	return lab, s
}

// birdBFDSession is BIRD's line for our session in "show bfd sessions":
// state, transmit interval and detection time in seconds.
var birdBFDSession = regexp.MustCompile(`(?m)^(\S+)\s+\S+\s+(\w+)\s+\S+\s+([\d.]+)\s+([\d.]+)\s*$`)

// RFC 5880 §6.8.2–§6.8.4 against BIRD 2 with different intervals on each
// side: each system sends at the larger of its DesiredMinTx and the other's
// RequiredMinRx and detects after the other's multiplier times the larger of
// its RequiredMinRx and the other's DesiredMinTx.
func TestBFDWithBIRDNegotiatedIntervals(t *testing.T) {
	lab, s := startBFDWithBIRD(t)
	waitBFD(t, s, "bird4", func(st BFDStatus) bool {
		// ours: max(100, 100) ms; 5 × max(150, 200) ms
		return st.State == bfd.StateUp && st.TxInterval == 100*time.Millisecond && st.DetectionTime == time.Second
	})
	eventually(t, 10*time.Second, func() (bool, string) {
		out := lab.birdc("show", "bfd", "sessions")
		for _, m := range birdBFDSession.FindAllStringSubmatch(out, -1) {
			// BIRD's: max(200, 150) ms; 3 × max(100, 100) ms
			if m[1] == lab.hostV4 && m[2] == "Up" && m[3] == "0.200" && m[4] == "0.300" {
				return true, ""
			}
		}
		return false, "BIRD's sessions:\n" + out
	})
}

// A speaker whose BFD goes silent (its packets dropped on the way, as for a
// frozen speaker) loses its route in BIRD's kernel table within BIRD's
// detection time, not its BGP hold time; BIRD's Down then resets our BGP session.
func TestBFDWithBIRDSpeakerSilent(t *testing.T) {
	lab, s := startBFDWithBIRD(t)
	waitBFD(t, s, "bird4", func(st BFDStatus) bool { return st.State == bfd.StateUp && st.TxInterval == 100*time.Millisecond })
	rule := []string{"INPUT", "-p", "udp", "--dport", "3784", "-j", "DROP"}
	lab.run("ip", append([]string{"netns", "exec", lab.netns, "iptables", "-I"}, rule...)...)
	start := time.Now()
	eventually(t, 10*time.Second, func() (bool, string) {
		r := lab.kernelRoute("203.0.113.10/32")
		return r == "", "route still in BIRD's kernel table: " + r
	})
	t.Logf("route gone from BIRD's kernel table %s after our BFD packets were dropped (BIRD's detection time 300 ms)", time.Since(start).Round(time.Millisecond))
	lab.run("ip", append([]string{"netns", "exec", lab.netns, "iptables", "-D"}, rule...)...)
	// BIRD tells us its BFD session went down and closes BGP itself; the
	// speaker resets the session on BFD's word with a NOTIFICATION of its
	// own. Which of the two ends up as LastError is a race, the
	// NOTIFICATION sent is not.
	eventually(t, 10*time.Second, func() (bool, string) {
		st, _ := statusOf(s, "bird4")
		return st.NotificationsSent > 0 || strings.Contains(st.LastError, "BFD session down: neighbor signaled session down"), fmt.Sprintf("status %+v", st)
	})
	// Back: BFD Up again, BGP re-established, the route returns.
	eventually(t, 20*time.Second, func() (bool, string) {
		r := lab.kernelRoute("203.0.113.10/32")
		return strings.Contains(r, "proto bird"), "route not back: " + r
	})
}

// A frozen router: the speaker's BFD detects it within its detection time
// and resets the BGP session.
func TestBFDWithBIRDRouterFrozen(t *testing.T) {
	lab, s := startBFDWithBIRD(t)
	waitBFD(t, s, "bird4", func(st BFDStatus) bool { return st.State == bfd.StateUp && st.DetectionTime == time.Second })
	if err := lab.birdCmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.birdCmd.Process.Signal(syscall.SIGCONT) })
	start := time.Now()
	eventually(t, 10*time.Second, func() (bool, string) {
		st, _ := statusOf(s, "bird4")
		return strings.Contains(st.LastError, "BFD session down: control detection time expired"), fmt.Sprintf("status %+v", st)
	})
	t.Logf("BGP session reset %s after BIRD froze (our detection time 1 s)", time.Since(start).Round(time.Millisecond))
}
