// Command memberlab runs speakers' membership layers (internal/members,
// with the timing of a named profile) for the memberlist scale lab
// (e2etest/memberscale): one member, or several in one process, each on its
// own address; or, with -hog, it burns CPU beside a starved member.
//
// A member writes one line per event to stdout, each starting with the
// CLOCK_MONOTONIC time in nanoseconds so that the lab can compare times
// across processes, then the member's name:
//
//	<ns> <name> ready <addr:port>
//	<ns> <name> members <count>
//	<ns> <name> up <other>
//	<ns> <name> down <other>
//
// The first member joins the -join peers, each next one those and the
// member before it. Every member leaves gracefully (Leave, then exits) when
// stdin reaches end of file; SIGKILL is a crash of them all.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironlb/ironlb/internal/members"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "memberlab:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	flags := flag.NewFlagSet("memberlab", flag.ContinueOnError)
	memberList := flags.String("members", "", "comma-separated members to run, each name@address")
	port := flags.Int("port", members.DefaultPort, "memberlist port")
	profile := flags.String("profile", "default", "timing profile: "+strings.Join(profileNames(), ", ")+", optionally followed by -gossip-<interval>, then -probes-only (no exit watch)")
	join := flags.String("join", "", "comma-separated addr:port of members to join")
	secret := flags.String("secret", "memberlab-secret-key-0123456789", "memberlist secret (gossip is encrypted as in production)")
	hog := flags.Bool("hog", false, "burn CPU until killed instead of running a member")
	startGap := flags.Duration("start-gap", 10*time.Millisecond, "time between the starts of this process's members, so that they do not all join at once")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *hog {
		burn()
	}
	specs, err := parseMembers(*memberList)
	if err != nil {
		return err
	}
	cfg, err := profileConfig(*profile)
	if err != nil {
		return err
	}
	cfg.Port = *port
	key, err := members.DeriveKey([]byte(*secret))
	if err != nil {
		return err
	}
	cfg.Keys = members.Keys{Primary: key}
	var peers []netip.AddrPort
	if *join != "" {
		for _, s := range strings.Split(*join, ",") {
			p, err := netip.ParseAddrPort(s)
			if err != nil {
				return fmt.Errorf("-join: %w", err)
			}
			peers = append(peers, p)
		}
	}
	out := &eventWriter{w: bufio.NewWriter(stdout)}
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(eof)
	}()
	errs := make(chan error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		if i > 0 {
			time.Sleep(*startGap)
		}
		mc := cfg
		mc.NodeName, mc.BindAddr = spec.name, spec.addr
		list, err := members.New(mc)
		if err != nil {
			return err
		}
		out.write(spec.name, "ready %s", list.LocalAddr())
		if len(peers) > 0 {
			go joinUntilMember(list, peers)
		}
		peers = append(peers, list.LocalAddr())
		wg.Go(func() { errs <- follow(list, spec.name, out, eof) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

type memberSpec struct {
	name string
	addr netip.Addr
}

// parseMembers parses -members: name@address, comma-separated.
func parseMembers(s string) ([]memberSpec, error) {
	var specs []memberSpec
	for _, field := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(field, "@")
		if !ok || name == "" {
			return nil, fmt.Errorf("-members: %q is not name@address", field)
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return nil, fmt.Errorf("-members: %q: %w", field, err)
		}
		specs = append(specs, memberSpec{name: name, addr: a})
	}
	return specs, nil
}

// follow reports list's member changes until eof, then leaves.
func follow(list *members.List, name string, out *eventWriter, eof <-chan struct{}) error {
	known := map[string]bool{}
	for {
		select {
		case set := <-list.Changes():
			known = out.diff(name, known, set)
		case <-eof:
			if err := list.Leave(time.Second); err != nil {
				return err
			}
			return list.Shutdown()
		}
	}
}

// joinUntilMember retries the join until some peer answered: the peers
// start at the same time as this member and may not listen yet.
func joinUntilMember(list *members.List, peers []netip.AddrPort) {
	for {
		if n, err := list.Join(peers); n > 0 || (err == nil && len(list.Members()) > 1) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// profileConfig returns the timing of a profile: "default" is ironlb's
// shipped timing (members.DefaultConfig), "fast" its option
// (members.FastConfig), "metallb" memberlist's DefaultLANConfig, which
// MetalLB's speaker uses unchanged, without the exit watch.
// A profile name may end in -gossip-<duration> (default-gossip-100ms) to
// change its gossip interval, and in -probes-only to run it without the
// exit watch (default-probes-only).
func profileConfig(name string) (members.Config, error) {
	if base, ok := strings.CutSuffix(name, "-probes-only"); ok {
		cfg, err := profileConfig(base)
		cfg.ProbesOnly = true
		return cfg, err
	}
	if base, interval, ok := strings.Cut(name, "-gossip-"); ok {
		cfg, err := profileConfig(base)
		if err != nil {
			return cfg, err
		}
		if cfg.GossipInterval, err = time.ParseDuration(interval); err != nil || cfg.GossipInterval <= 0 {
			return members.Config{}, fmt.Errorf("profile %q: gossip interval %q is not a positive duration", name, interval)
		}
		return cfg, nil
	}
	switch name {
	case "default":
		return members.DefaultConfig(), nil
	case "fast":
		return members.FastConfig(), nil
	case "metallb":
		cfg := members.DefaultConfig()
		cfg.ProbeInterval = time.Second
		cfg.ProbeTimeout = 500 * time.Millisecond
		cfg.SuspicionMult = 4
		cfg.GossipInterval = 200 * time.Millisecond
		cfg.StreamTimeout = 10 * time.Second
		cfg.ProbesOnly = true // MetalLB holds no streams
		return cfg, nil
	}
	return members.Config{}, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(profileNames(), ", "))
}

func profileNames() []string { return []string{"default", "fast", "metallb"} }

// eventWriter writes timestamped event lines and flushes each one; the
// members of one process share it.
type eventWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (e *eventWriter) write(member, format string, args ...any) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.w, "%d %s "+format+"\n", append([]any{ts.Nano(), member}, args...)...)
	e.w.Flush()
}

// diff writes the members that member saw come and go since known and
// returns the new set of names.
func (e *eventWriter) diff(member string, known map[string]bool, set []members.Member) map[string]bool {
	now := make(map[string]bool, len(set))
	for _, m := range set {
		now[m.Name] = true
		if !known[m.Name] {
			e.write(member, "up %s", m.Name)
		}
	}
	for name := range known {
		if !now[name] {
			e.write(member, "down %s", name)
		}
	}
	e.write(member, "members %d", len(set))
	return now
}

// burn spins forever; the lab kills it.
func burn() {
	for x := 0; ; x++ {
		_ = x * x
	}
}
