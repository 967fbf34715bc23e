package bgp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// restartChildEnv, set to the "address:port" of test routers (comma
// separated), makes the test binary run one speaker process of
// TestSpeakerProcessRestart instead of the tests (runRestartChild).
const restartChildEnv = "IRONLB_BGP_RESTART_CHILD"

// restartChildSourceEnv and restartChildTimeEnv, when set, are the speaker
// process's source address (default speakerAddr) and the restart time it
// offers (a time.Duration; default GracefulRestartTime).
const (
	restartChildSourceEnv = "IRONLB_BGP_RESTART_CHILD_SOURCE"
	restartChildTimeEnv   = "IRONLB_BGP_RESTART_CHILD_TIME"
)

func TestMain(m *testing.M) {
	if router := os.Getenv(restartChildEnv); router != "" {
		if err := runRestartChild(router, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// restartChildRoutes are the routes each speaker process announces to each
// of its peers r0, r1.
var restartChildRoutes = []route{
	{Prefix: pfx("203.0.113.1/32"), Peers: []string{"r0", "r1"}},
	{Prefix: pfx("203.0.113.2/32"), Peers: []string{"r0", "r1"}},
}

// runRestartChild is one speaker process: it announces restartChildRoutes to
// the router (graceful restart on) as the speaker does (routes before the
// first peers), says "established" once its UPDATEs went out, and on a line
// from its parent stops as for a restart (CloseForRestart) and exits: the
// process exit, not gobgp, closes the session.
func runRestartChild(routers string, in io.Reader, out io.Writer) error {
	ctx := context.Background()
	source := speakerAddr
	if env := os.Getenv(restartChildSourceEnv); env != "" {
		source = env
	}
	var restartTime time.Duration
	if env := os.Getenv(restartChildTimeEnv); env != "" {
		var err error
		if restartTime, err = time.ParseDuration(env); err != nil {
			return err
		}
	}
	s, err := New(ctx, Config{RouterID: netip.MustParseAddr("10.255.0.1"), Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), GracefulRestartTime: restartTime})
	if err != nil {
		return err
	}
	var peers []bgpspec.Peer
	for i, router := range strings.Split(routers, ",") {
		ap, err := netip.ParseAddrPort(router)
		if err != nil {
			return err
		}
		peers = append(peers, bgpspec.Peer{Name: fmt.Sprintf("r%d", i), MyASN: speakerASN, PeerASN: 64500, Address: ap.Addr(), Port: ap.Port(),
			SourceAddress: netip.MustParseAddr(source), ConnectTime: time.Second, GracefulRestart: true})
	}
	if err := s.SetRoutes(ctx, unfold(restartChildRoutes)); err != nil {
		return err
	}
	if err := s.SetPeers(ctx, peers); err != nil {
		return err
	}
	sent := func() bool {
		for _, p := range peers {
			if st, ok := statusOf(s, p.Name); !ok || !st.Established() || st.UpdatesSent == 0 {
				return false
			}
		}
		return true
	}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := waitUntil(waitCtx, sent); err != nil {
		return fmt.Errorf("sessions not established with their UPDATEs sent: %w", err)
	}
	fmt.Fprintln(out, "established")
	if _, err := bufio.NewReader(in).ReadString('\n'); err != nil {
		return err
	}
	closeCtx, cancelClose := context.WithTimeout(ctx, 5*time.Second)
	defer cancelClose()
	return s.CloseForRestart(closeCtx)
}

// restartChild is a running speaker process.
type restartChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startRestartChild starts a speaker process towards routers and waits
// until its UPDATEs went out.
func startRestartChild(t *testing.T, routers ...*testRouter) *restartChild {
	t.Helper()
	addrs := make([]string, len(routers))
	for i, r := range routers {
		addrs[i] = netip.AddrPortFrom(r.addr, r.port).String()
	}
	return startRestartChildWith(t, addrs)
}

// startRestartChildWith starts a speaker process towards the routers at
// addrs ("address:port"), with more of its settings in env (restartChild*Env),
// and waits until its UPDATEs went out.
func startRestartChildWith(t *testing.T, addrs []string, env ...string) *restartChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), restartChildEnv+"="+strings.Join(addrs, ",")), env...)
	cmd.Stderr = &testWriter{t: t}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &restartChild{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "established" {
		t.Fatalf("speaker process: %q, %v; want established", line, err)
	}
	return c
}

// stop makes the process stop as for a restart and waits until it exited.
func (c *restartChild) stop(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "stop\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("speaker process: %v", err)
	}
}

// kill kills the process (SIGKILL: it closes nothing itself) and waits
// until it is gone.
func (c *restartChild) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// receivedCount returns how many paths the router holds from the speaker.
func receivedCount(r *testRouter) uint64 {
	var n uint64
	for _, afiSafi := range r.session().GetAfiSafis() {
		n += afiSafi.GetState().GetReceived()
	}
	return n
}

// staleCount returns how many of the router's paths are marked stale.
func staleCount(t *testing.T, r *testRouter) int {
	t.Helper()
	stale := 0
	err := r.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: familyIPv4}, func(d *api.Destination) {
		for _, p := range d.Paths {
			if p.Stale {
				stale++
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return stale
}

// TestSpeakerProcessRestart: a speaker process that stops for a restart
// ends its graceful-restart sessions without a NOTIFICATION nor a
// withdrawal, so the routers keep its routes as stale; the next process
// opens every session with the Restart State and Forwarding State bits
// (also the second one to come up: gobgp ends every neighbour's restart
// when the first has synchronised, hence restartGate), which tells the
// routers to keep the stale routes until its End-of-RIB, and renews them:
// none is stale afterwards.
func TestSpeakerProcessRestart(t *testing.T) {
	routers := []*testRouter{
		newTestRouter(t, "127.0.0.2", 64500, routerOptions{gracefulRestart: true}),
		newTestRouter(t, "127.0.0.3", 64500, routerOptions{gracefulRestart: true}),
	}
	first := startRestartChild(t, routers...)
	// No updateRecorder here: gobgp's WatchEvent reads a path's stale flag
	// while the router marks it (a data race inside gobgp); the R and F bits
	// and the stale counts show that nothing was dropped.
	notifications := make([]uint64, len(routers))
	for i, router := range routers {
		eventually(t, 15*time.Second, func() (bool, string) {
			return len(router.paths()) == 2, fmt.Sprintf("router %s has %d paths", router.addr, len(router.paths()))
		})
		notifications[i] = router.session().GetState().GetMessages().GetReceived().GetNotification()
	}
	first.stop(t)
	// While the session goes down the router marks the paths stale, and
	// gobgp's ListPath reads that flag without its lock (a data race inside
	// gobgp): until the new session, count the kept paths through ListPeer,
	// which runs in the router's own loop.
	for i, router := range routers {
		eventually(t, 15*time.Second, func() (bool, string) {
			return !router.established() && receivedCount(router) == 2,
				fmt.Sprintf("router %s: established=%v, %d paths received; want the session down and both paths kept", router.addr, router.established(), receivedCount(router))
		})
		if got := router.session().GetState().GetMessages().GetReceived().GetNotification(); got != notifications[i] {
			t.Errorf("router %s received %d NOTIFICATIONs during the stop, want none", router.addr, got-notifications[i])
		}
	}

	second := startRestartChild(t, routers...)
	for _, router := range routers {
		if r, f, found := restartFlags(t, router); !found || !r || !f {
			t.Errorf("new process's session to %s: graceful restart capability found=%v, R=%v, F=%v; want R and F set", router.addr, found, r, f)
		}
		eventually(t, 15*time.Second, func() (bool, string) {
			return len(router.paths()) == 2 && staleCount(t, router) == 0,
				fmt.Sprintf("router %s has %d paths, %d stale; want both renewed", router.addr, len(router.paths()), staleCount(t, router))
		})
	}
	second.stop(t)
}
