// Command memberlab runs one speaker's membership layer (internal/members,
// with the timing of a named profile) for the memberlist scale lab
// (e2etest/memberscale), or, with -hog, burns CPU beside a starved member.
//
// A member writes one line per event to stdout, each starting with the
// CLOCK_MONOTONIC time in nanoseconds so that the lab can compare times
// across processes:
//
//	<ns> ready <addr:port>
//	<ns> members <count>
//	<ns> up <name>
//	<ns> down <name>
//
// It joins the -join peers, and leaves gracefully (Leave, then exits) when
// its stdin reaches end of file; SIGKILL is a crash.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
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
	name := flags.String("name", "", "member (node) name")
	addr := flags.String("addr", "", "address to listen on")
	port := flags.Int("port", members.DefaultPort, "memberlist port")
	profile := flags.String("profile", "default", "timing profile: "+strings.Join(profileNames(), ", ")+", optionally followed by -gossip-<interval>")
	join := flags.String("join", "", "comma-separated addr:port of members to join")
	secret := flags.String("secret", "memberlab-secret-key-0123456789", "memberlist secret (gossip is encrypted as in production)")
	hog := flags.Bool("hog", false, "burn CPU until killed instead of running a member")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *hog {
		burn()
	}
	cfg, err := profileConfig(*profile)
	if err != nil {
		return err
	}
	cfg.NodeName = *name
	cfg.Port = *port
	if cfg.BindAddr, err = netip.ParseAddr(*addr); err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	key, err := members.DeriveKey([]byte(*secret))
	if err != nil {
		return err
	}
	cfg.Keys = members.Keys{Primary: key}
	list, err := members.New(cfg)
	if err != nil {
		return err
	}
	out := &eventWriter{w: bufio.NewWriter(stdout)}
	out.write("ready %s", list.LocalAddr())
	if *join != "" {
		var peers []netip.AddrPort
		for _, s := range strings.Split(*join, ",") {
			p, err := netip.ParseAddrPort(s)
			if err != nil {
				return fmt.Errorf("-join: %w", err)
			}
			peers = append(peers, p)
		}
		go joinUntilMember(list, peers)
	}
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(eof)
	}()
	known := map[string]bool{}
	for {
		select {
		case set := <-list.Changes():
			known = out.diff(known, set)
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
// change its gossip interval.
func profileConfig(name string) (members.Config, error) {
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

// eventWriter writes timestamped event lines and flushes each one.
type eventWriter struct{ w *bufio.Writer }

func (e *eventWriter) write(format string, args ...any) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	fmt.Fprintf(e.w, "%d "+format+"\n", append([]any{ts.Nano()}, args...)...)
	e.w.Flush()
}

// diff writes the members that came and went since known and returns the
// new set of names.
func (e *eventWriter) diff(known map[string]bool, set []members.Member) map[string]bool {
	now := make(map[string]bool, len(set))
	for _, m := range set {
		now[m.Name] = true
		if !known[m.Name] {
			e.write("up %s", m.Name)
		}
	}
	for name := range known {
		if !now[name] {
			e.write("down %s", name)
		}
	}
	e.write("members %d", len(set))
	return now
}

// burn spins forever; the lab kills it.
func burn() {
	for x := 0; ; x++ {
		_ = x * x
	}
}
