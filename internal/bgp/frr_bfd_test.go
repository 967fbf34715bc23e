package bgp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgpspec"
)

const frrDir = "/usr/lib/frr"

// startFRRBFD runs FRR's zebra and bfdd in the lab's namespace, as user frr,
// with their own sockets in a temporary directory, and returns that
// directory (vtysh's --vty_socket). bfdd keeps one session with the host's
// end of the veth: receive 200 ms, transmit 300 ms, multiplier 4.
func (l *birdLab) startFRRBFD() string {
	l.t.Helper()
	if _, err := os.Stat(filepath.Join(frrDir, "bfdd")); err != nil {
		l.t.Skipf("FRR's bfdd is not installed: %v", err)
	}
	dir, _ := runFRR(l.t, l.netns, map[string]string{
		"zebra": "hostname router\nlog stdout\n",
		"bfdd": fmt.Sprintf("hostname router\nlog stdout\nbfd\n peer %s local-address %s\n  receive-interval 200\n  transmit-interval 300\n  detect-multiplier 4\n !\n!\n",
			l.hostV4, l.birdV4),
	}, "zebra", "bfdd")
	return dir
}

// runFRR runs FRR's daemons (in this order; zebra first) in netns as user
// frr, each with its configs entry, and with their own sockets in a
// temporary directory, which it returns (vtysh's --vty_socket) with a
// function that kills them, by PID, and waits for them; cleanup calls it.
func runFRR(t *testing.T, netns string, configs map[string]string, daemons ...string) (string, func()) {
	t.Helper()
	// Not t.TempDir(): user frr must traverse the path, and its parent is 0700.
	dir, err := os.MkdirTemp("", "ironlb-frr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, daemon := range daemons {
		if err := os.WriteFile(filepath.Join(dir, daemon+".conf"), []byte(configs[daemon]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chown", "-R", "frr:frr", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v: %s", dir, err, out)
	}
	var stops []func()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			for _, f := range stops {
				f()
			}
		})
	}
	t.Cleanup(stop)
	for _, daemon := range daemons {
		cmd := exec.Command("ip", "netns", "exec", netns, filepath.Join(frrDir, daemon),
			"-u", "frr", "-g", "frr", "-f", filepath.Join(dir, daemon+".conf"), "-i", filepath.Join(dir, daemon+".pid"),
			"-z", filepath.Join(dir, "zserv.api"), "--vty_socket", dir, "-P", "0", "--log", "stdout")
		if daemon == "bfdd" {
			cmd.Args = append(cmd.Args, "--bfdctl", filepath.Join(dir, "bfdd.sock"))
		}
		cmd.Stdout, cmd.Stderr = testWriterFor(t), testWriterFor(t)
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", daemon, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stops = append(stops, func() {
			// The PID we started (ip netns exec execs the daemon in place),
			// stopped as the lab's router stops it: SIGTERM, then SIGKILL.
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
		eventually(t, 10*time.Second, func() (bool, string) {
			_, err := os.Stat(filepath.Join(dir, daemon+".vty"))
			return err == nil, daemon + " has no vty socket yet"
		})
	}
	return dir, stop
}

// frrBFDPeer is what "show bfd peers json" says of one peer.
type frrBFDPeer struct {
	Peer                   string `json:"peer"`
	Status                 string `json:"status"`
	DetectMultiplier       int    `json:"detect-multiplier"`
	ReceiveInterval        int    `json:"receive-interval"`
	TransmitInterval       int    `json:"transmit-interval"`
	RemoteDetectMultiplier int    `json:"remote-detect-multiplier"`
	RemoteReceiveInterval  int    `json:"remote-receive-interval"`
	RemoteTransmitInterval int    `json:"remote-transmit-interval"`
}

// startSpeakerWithFRRBFD starts FRR's bfdd in a lab namespace and a speaker
// with one BFD peer "frr" there; it returns the lab, bfdd's vty socket
// directory and the speaker.
func startSpeakerWithFRRBFD(t *testing.T) (*birdLab, string, *Speaker) {
	t.Helper()
	lab := newBirdLab(t)
	vty := lab.startFRRBFD()
	ctx := context.Background()
	s, err := New(ctx, Config{RouterID: ip("10.255.0.1"), Logger: testLogger(t), BFDListenAddrs: []netip.Addr{ip(lab.hostV4)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	peer := bgpspec.Peer{Name: "frr", MyASN: speakerASN, PeerASN: lab.birdASN,
		Address: ip(lab.birdV4), SourceAddress: ip(lab.hostV4), ConnectTime: time.Second, BFD: birdTestBFD}
	if err := s.SetPeers(ctx, []bgpspec.Peer{peer}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	return lab, vty, s
}

// TestBFDWithFRR: a session with FRR's bfdd (receive 200 ms, transmit 300 ms
// × 4 there; 150 ms, 100 ms × 3 here) comes Up; FRR sees our intervals and
// we negotiate as RFC 5880 §6.8.2–§6.8.4 prescribe: send every max(100, 200)
// ms, detect after 4 × max(150, 300) ms.
func TestBFDWithFRR(t *testing.T) {
	lab, vty, s := startSpeakerWithFRRBFD(t)
	waitBFD(t, s, "frr", func(st BFDStatus) bool {
		return st.State == bfd.StateUp && st.TxInterval == 200*time.Millisecond && st.DetectionTime == 1200*time.Millisecond
	})
	eventually(t, 10*time.Second, func() (bool, string) {
		out, err := exec.Command("vtysh", "--vty_socket", vty, "-c", "show bfd peers json").CombinedOutput()
		if err != nil {
			return false, fmt.Sprintf("vtysh: %v: %s", err, out)
		}
		var peers []frrBFDPeer
		if err := json.Unmarshal(out, &peers); err != nil {
			return false, fmt.Sprintf("%v: %s", err, out)
		}
		want := frrBFDPeer{Peer: lab.hostV4, Status: "up", DetectMultiplier: 4, ReceiveInterval: 200, TransmitInterval: 300,
			RemoteDetectMultiplier: 3, RemoteReceiveInterval: 150, RemoteTransmitInterval: 100}
		for _, p := range peers {
			if p == want {
				return true, ""
			}
		}
		return false, fmt.Sprintf("FRR's peers %+v, want %+v", peers, want)
	})
}

// TestBFDWithFRRComesBackUp: once FRR's side of the session has gone Down
// (our packets dropped on their way in), both sides come Up again when the
// path heals.
func TestBFDWithFRRComesBackUp(t *testing.T) {
	lab, vty, s := startSpeakerWithFRRBFD(t)
	frrStatus := func() string {
		out, err := exec.Command("vtysh", "--vty_socket", vty, "-c", "show bfd peers json").CombinedOutput()
		if err != nil {
			return fmt.Sprintf("vtysh: %v: %s", err, out)
		}
		var peers []frrBFDPeer
		if err := json.Unmarshal(out, &peers); err != nil || len(peers) != 1 {
			return fmt.Sprintf("%v: %s", err, out)
		}
		return peers[0].Status
	}
	eventually(t, 10*time.Second, func() (bool, string) { return frrStatus() == "up", "FRR: " + frrStatus() })
	rule := []string{"INPUT", "-p", "udp", "--dport", "3784", "-j", "DROP"}
	lab.run("ip", append([]string{"netns", "exec", lab.netns, "iptables", "-I"}, rule...)...)
	eventually(t, 10*time.Second, func() (bool, string) { return frrStatus() == "down", "FRR: " + frrStatus() })
	lab.run("ip", append([]string{"netns", "exec", lab.netns, "iptables", "-D"}, rule...)...)
	eventually(t, 15*time.Second, func() (bool, string) { return frrStatus() == "up", "FRR: " + frrStatus() })
	waitBFD(t, s, "frr", func(st BFDStatus) bool { return st.State == bfd.StateUp })
}

// frrBFDStatuses returns the status of each of bfdd's peers, by address.
func frrBFDStatuses(vty string) (map[string]string, string) {
	out, err := exec.Command("vtysh", "--vty_socket", vty, "-c", "show bfd peers json").CombinedOutput()
	if err != nil {
		return nil, fmt.Sprintf("vtysh: %v: %s", err, out)
	}
	var peers []frrBFDPeer
	if err := json.Unmarshal(out, &peers); err != nil {
		return nil, fmt.Sprintf("%v: %s", err, out)
	}
	all := map[string]string{}
	for _, p := range peers {
		all[p.Peer] = p.Status
	}
	return all, string(out)
}

// newFRRLab is newBirdLab's namespace and link with BIRD stopped, for the
// test to run FRR's daemons there (runFRR).
func newFRRLab(t *testing.T) *birdLab {
	t.Helper()
	if _, err := os.Stat(filepath.Join(frrDir, "bgpd")); err != nil {
		t.Skipf("FRR is not installed: %v", err)
	}
	lab := newBirdLab(t)
	_ = lab.birdCmd.Process.Kill() // FRR's bgpd takes port 179 in the namespace
	<-lab.birdDone
	return lab
}

// TestBFDWithFRRRestart: FRR's bgpd asks bfdd for the session of its BGP
// neighbour (`neighbor … bfd profile`), 100 ms × 3 on both sides, as the
// lab's router does; after FRR restarts (every daemon, as the lab's
// Router.Use does), the session comes Up again on both sides.
func TestBFDWithFRRRestart(t *testing.T) {
	lab := newFRRLab(t)
	configs := map[string]string{
		"zebra": "hostname router\nlog stdout\n",
		"bfdd":  "hostname router\nlog stdout\nbfd\n profile lab\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\n",
		"bgpd": fmt.Sprintf("frr defaults traditional\nhostname router\nlog stdout\n!\nrouter bgp %d\n bgp router-id 10.255.255.2\n no bgp ebgp-requires-policy\n"+
			" neighbor %[2]s remote-as %[3]d\n neighbor %[2]s timers connect 1\n neighbor %[2]s bfd profile lab\n!\n", lab.birdASN, lab.hostV4, speakerASN),
	}
	vty, stop := runFRR(t, lab.netns, configs, "zebra", "bfdd", "bgpd")
	ctx := context.Background()
	s, err := New(ctx, Config{RouterID: ip("10.255.0.1"), Logger: testLogger(t), BFDListenAddrs: []netip.Addr{ip(lab.hostV4)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	peer := bgpspec.Peer{Name: "frr", MyASN: speakerASN, PeerASN: lab.birdASN, Address: ip(lab.birdV4), SourceAddress: ip(lab.hostV4), ConnectTime: time.Second,
		BFD: bgpspec.BFD{Profile: "lab", TransmitInterval: 100 * time.Millisecond, ReceiveInterval: 100 * time.Millisecond, DetectMultiplier: 3}}
	if err := s.SetPeers(ctx, []bgpspec.Peer{peer}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	frrUp := func(vty string) func() (bool, string) {
		return func() (bool, string) {
			all, out := frrBFDStatuses(vty)
			return all[lab.hostV4] == "up", "FRR's BFD peers: " + out
		}
	}
	eventually(t, 30*time.Second, frrUp(vty))
	waitBFD(t, s, "frr", func(st BFDStatus) bool { return st.State == bfd.StateUp })
	for restart := 1; restart <= 3; restart++ {
		stop()
		start := time.Now()
		vty, stop = runFRR(t, lab.netns, configs, "zebra", "bfdd", "bgpd")
		eventually(t, 30*time.Second, frrUp(vty))
		waitBFD(t, s, "frr", func(st BFDStatus) bool { return st.State == bfd.StateUp })
		t.Logf("restart %d: BFD Up on both sides %s after FRR started again", restart, time.Since(start).Round(time.Millisecond))
	}
}
