package bgp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

const birdBinary = "/usr/sbin/bird"

// birdLab is a network namespace joined to the test's namespace by a veth pair, with
// BIRD 2 running inside it, exporting what it learns by BGP to the namespace's kernel
// routing table.
type birdLab struct {
	t        *testing.T
	netns    string
	socket   string
	hostV4   string // our end of the veth
	birdV4   string // BIRD's end
	hostV6   string
	birdV6   string
	birdASN  uint32
	birdCmd  *exec.Cmd
	birdDone chan struct{}
	// bfd, when set, is BIRD's "protocol bfd" body; the IPv4 session then
	// has "bfd on" and waits 1 s after an error instead of 60.
	bfd string
}

// newBirdLab builds the namespace and starts BIRD; everything is torn down at cleanup.
// It skips the test when not root or when BIRD or iproute2 are missing.
func newBirdLab(t *testing.T) *birdLab { return newBirdLabWithBFD(t, "") }

// newBirdLabWithBFD is newBirdLab with BIRD's BFD configured by bfd (see birdLab.bfd).
func newBirdLabWithBFD(t *testing.T, bfd string) *birdLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := os.Stat(birdBinary); err != nil {
		t.Skipf("BIRD 2 is not installed (%s): %v", birdBinary, err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) is not installed")
	}
	n := rand.IntN(250) + 1
	tag := fmt.Sprintf("%d%03d", os.Getpid()%10000, n)
	lab := &birdLab{
		t:       t,
		netns:   "ilbbgp" + tag,
		hostV4:  fmt.Sprintf("198.18.%d.1", n),
		birdV4:  fmt.Sprintf("198.18.%d.2", n),
		hostV6:  fmt.Sprintf("fd4c:b9d0:%x::1", n),
		birdV6:  fmt.Sprintf("fd4c:b9d0:%x::2", n),
		birdASN: 64500,
		bfd:     bfd,
	}
	hostIf, birdIf := "ilbh"+tag, "ilbr"+tag
	lab.run("ip", "netns", "add", lab.netns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", lab.netns).Run() })
	lab.run("ip", "link", "add", hostIf, "type", "veth", "peer", "name", birdIf)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", hostIf).Run() })
	lab.run("ip", "link", "set", birdIf, "netns", lab.netns)
	lab.run("ip", "addr", "add", lab.hostV4+"/30", "dev", hostIf)
	lab.run("ip", "addr", "add", lab.hostV6+"/64", "dev", hostIf, "nodad")
	lab.run("ip", "link", "set", hostIf, "up")
	lab.run("ip", "-n", lab.netns, "addr", "add", lab.birdV4+"/30", "dev", birdIf)
	lab.run("ip", "-n", lab.netns, "addr", "add", lab.birdV6+"/64", "dev", birdIf, "nodad")
	lab.run("ip", "-n", lab.netns, "link", "set", birdIf, "up")
	lab.run("ip", "-n", lab.netns, "link", "set", "lo", "up")
	lab.startBird()
	return lab
}

// run runs a command that must succeed.
func (l *birdLab) run(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startBird writes BIRD's configuration and runs it in the namespace, in the foreground
// so that the test owns the process and stops it by PID.
func (l *birdLab) startBird() {
	l.t.Helper()
	dir := l.t.TempDir()
	l.socket = filepath.Join(dir, "bird.ctl")
	bfdProtocol, bfdOn := "", ""
	if l.bfd != "" {
		// BIRD waits 60 s by default before it takes a session again after
		// an error such as a BFD failure.
		bfdProtocol, bfdOn = "protocol bfd {\n"+l.bfd+"\n}", "bfd on; error wait time 1, 5;"
	}
	config := fmt.Sprintf(`
router id 10.255.255.2;
%[7]s
protocol device {}
protocol kernel kernel4 { ipv4 { import none; export all; }; }
protocol kernel kernel6 { ipv6 { import none; export all; }; }
protocol bgp speaker4 {
	local %[1]s as %[5]d;
	neighbor %[2]s as %[6]d;
	passive on;
	graceful restart on;
	%[8]s
	ipv4 { import all; export none; };
	ipv6 { import all; export none; };
}
protocol bgp speaker6 {
	local %[3]s as %[5]d;
	neighbor %[4]s as %[6]d;
	passive on;
	ipv6 { import all; export none; };
}
`, l.birdV4, l.hostV4, l.birdV6, l.hostV6, l.birdASN, speakerASN, bfdProtocol, bfdOn)
	l.birdCmd, l.birdDone = runBIRD(l.t, l.netns, dir, config)
}

// runBIRD writes config to dir and runs BIRD 2 with it in netns, in the
// foreground so that the test owns the process and stops it by PID at
// cleanup; its control socket is dir/bird.ctl. It returns once BIRD is up.
func runBIRD(t *testing.T, netns, dir, config string) (*exec.Cmd, chan struct{}) {
	t.Helper()
	conf, socket := filepath.Join(dir, "bird.conf"), filepath.Join(dir, "bird.ctl")
	if err := os.WriteFile(conf, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", netns, birdBinary, "-f", "-c", conf, "-s", socket, "-P", filepath.Join(dir, "bird.pid"))
	cmd.Stdout, cmd.Stderr = testWriterFor(t), testWriterFor(t)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting BIRD: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the PID we started (ip netns exec execs BIRD in place)
		<-done
	})
	eventually(t, 10*time.Second, func() (bool, string) {
		out, err := exec.Command("/usr/sbin/birdc", "-s", socket, "show", "status").CombinedOutput()
		return err == nil && strings.Contains(string(out), "Daemon is up and running"), "BIRD not up: " + string(out)
	})
	return cmd, done
}

// birdc runs a BIRD client command and returns its output.
func (l *birdLab) birdc(args ...string) string {
	l.t.Helper()
	out, err := exec.Command("/usr/sbin/birdc", append([]string{"-s", l.socket}, args...)...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("birdc %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// kernelRoute returns the namespace's kernel route for prefix ("" if none).
func (l *birdLab) kernelRoute(prefix string) string {
	l.t.Helper()
	family := "-4"
	if strings.Contains(prefix, ":") {
		family = "-6"
	}
	return strings.TrimSpace(l.run("ip", "-n", l.netns, family, "route", "show", prefix))
}

// testWriterFor adapts the test log for a process's output.
func testWriterFor(t *testing.T) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return w
}

// TestSpeakerWithBIRD checks interoperability with BIRD 2: IPv4 and IPv6 prefixes land
// in the router's kernel table with the right next hops and attributes; a withdrawn
// prefix leaves it; a router ID change restarts the sessions with the new identifier;
// Close removes everything.
func TestSpeakerWithBIRD(t *testing.T) {
	lab := newBirdLab(t)
	s := newTestSpeaker(t, nil)
	ctx := context.Background()

	v4 := bgpspec.Peer{
		Name: "bird4", MyASN: speakerASN, PeerASN: lab.birdASN,
		Address: ip(lab.birdV4), SourceAddress: ip(lab.hostV4), ConnectTime: time.Second,
		DualStackAddressFamily: true, NextHopIPv6: ip(lab.hostV6), GracefulRestart: true,
	}
	v6 := bgpspec.Peer{
		Name: "bird6", MyASN: speakerASN, PeerASN: lab.birdASN,
		Address: ip(lab.birdV6), SourceAddress: ip(lab.hostV6), ConnectTime: time.Second,
	}
	if err := s.SetPeers(ctx, []bgpspec.Peer{v4, v6}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	routes := []route{
		{Prefix: pfx("203.0.113.10/32"), Peers: []string{"bird4"}, Communities: []uint32{65000<<16 | 100}, LargeCommunities: []bgpspec.LargeCommunity{{GlobalAdmin: 64501, LocalData1: 7, LocalData2: 8}}},
		{Prefix: pfx("203.0.113.11/32"), Peers: []string{"bird4"}},
		{Prefix: pfx("2001:db8:10::1/128"), Peers: []string{"bird4"}},
		{Prefix: pfx("2001:db8:20::1/128"), Peers: []string{"bird6"}},
	}
	start := time.Now()
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	want := map[string]string{
		"203.0.113.10/32":    "via " + lab.hostV4,
		"203.0.113.11/32":    "via " + lab.hostV4,
		"2001:db8:10::1/128": "via " + lab.hostV6,
		"2001:db8:20::1/128": "via " + lab.hostV6,
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		for prefix, via := range want {
			if r := lab.kernelRoute(prefix); !strings.Contains(r, via) || !strings.Contains(r, "proto bird") {
				return false, fmt.Sprintf("kernel route for %s is %q, want %q from BIRD; status %+v", prefix, r, via, s.Status())
			}
		}
		return true, ""
	})
	t.Logf("4 prefixes in BIRD's kernel table %s after SetRoutes (includes session set-up)", time.Since(start).Round(time.Millisecond))
	attrs := lab.birdc("show", "route", "all", "203.0.113.10/32")
	for _, wantAttr := range []string{"BGP.community: (65000,100)", "BGP.large_community: (64501, 7, 8)", "BGP.as_path: 64501"} {
		if !strings.Contains(attrs, wantAttr) {
			t.Errorf("BIRD's route lacks %q:\n%s", wantAttr, attrs)
		}
	}

	// Withdrawing one prefix removes it from the kernel and leaves the others.
	start = time.Now()
	if err := s.SetRoutes(ctx, unfold(routes[1:])); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		r := lab.kernelRoute("203.0.113.10/32")
		return r == "", "route still present: " + r
	})
	t.Logf("withdrawn prefix left BIRD's kernel table after %s", time.Since(start).Round(time.Millisecond))
	if r := lab.kernelRoute("203.0.113.11/32"); r == "" {
		t.Error("203.0.113.11/32 vanished with the withdrawal of another prefix")
	}

	// A new router ID restarts the sessions under the new identifier.
	if err := s.SetRouterID(ctx, ip("10.1.2.3")); err != nil {
		t.Fatalf("SetRouterID() error = %v", err)
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		out := lab.birdc("show", "protocols", "all", "speaker4")
		return strings.Contains(out, "Neighbor ID:      10.1.2.3") && strings.Contains(out, "Established"), "BIRD does not see the new router ID yet:\n" + out
	})
	eventually(t, 10*time.Second, func() (bool, string) {
		r := lab.kernelRoute("2001:db8:20::1/128")
		return strings.Contains(r, "via "+lab.hostV6), "route not back after the restart: " + r
	})

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		for prefix := range want {
			if r := lab.kernelRoute(prefix); r != "" {
				return false, fmt.Sprintf("route for %s still in the kernel after Close: %q", prefix, r)
			}
		}
		return true, ""
	})
}
