package members

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"
)

// slowProbes is a timing under which memberlist's probes cannot declare a
// member dead in less than a suspicion timeout of 3 × 5 s: whatever drops
// a member sooner is the exit watch.
func slowProbes(cfg *Config) {
	cfg.ProbeInterval = 5 * time.Second
	cfg.ProbeTimeout = 2 * time.Second
}

// startWith is start with cfg changed by change.
func startWith(t testing.TB, name string, host byte, change func(*Config)) *List {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeName = name
	cfg.BindAddr = netip.AddrFrom4([4]byte{127, 0, 0, host})
	cfg.Port = 0
	cfg.Keys = Keys{Primary: clusterKey}
	change(&cfg)
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Shutdown() })
	return l
}

// slowCluster is cluster with slowProbes.
func slowCluster(t testing.TB) (a, b, c *List) {
	t.Helper()
	a = startWith(t, "a", 31, slowProbes)
	b = startWith(t, "b", 32, slowProbes)
	c = startWith(t, "c", 33, slowProbes)
	for _, l := range []*List{b, c} {
		if _, err := l.Join([]netip.AddrPort{a.LocalAddr()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []*List{a, b, c} {
		waitMembers(t, l, "a", "b", "c")
	}
	return a, b, c
}

// waitMembersWithin is waitMembers with its own deadline.
func waitMembersWithin(t testing.TB, within time.Duration, l *List, want ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !slices.Equal(names(l.Members()), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s sees members %v after %v, want %v", l.cfg.NodeName, names(l.Members()), within, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// keepsMembers checks, for the given time, that l never sees fewer than want.
func keepsMembers(t testing.TB, l *List, during time.Duration, want ...string) {
	t.Helper()
	for end := time.Now().Add(during); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if got := names(l.Members()); !slices.Equal(got, want) {
			t.Fatalf("%s sees members %v, want %v", l.cfg.NodeName, got, want)
		}
	}
}

// TestExitedMemberIsGoneAtOnce: a member whose process exits (Shutdown
// closes its listener and streams) is dropped by the others before
// memberlist's slowed probes could have declared it dead — by the dialing
// member (a dials c) and the accepting one (c dials b) alike.
func TestExitedMemberIsGoneAtOnce(t *testing.T) {
	a, b, c := slowCluster(t)
	c.Shutdown()
	waitMembersWithin(t, c.cfg.ProbeInterval, a, "a", "b")
	waitMembersWithin(t, c.cfg.ProbeInterval, b, "a", "b")
}

// TestCutStreamsAreNoVerdict: c keeps running but its streams end (its
// watch closes them). b dials c's port and c answers; a's dials at c time
// out, as when a firewall drops them. Neither is a verdict: both keep c.
func TestCutStreamsAreNoVerdict(t *testing.T) {
	a, b, c := slowCluster(t)
	dropped := make(chan struct{})
	a.watch.mu.Lock()
	a.watch.dial = func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
		if addr != c.LocalAddr() {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr.String())
		}
		select {
		case dropped <- struct{}{}:
		default:
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ETIMEDOUT}
	}
	a.watch.mu.Unlock()
	c.watch.shutdown()
	<-dropped // a's stream to c ended and a dialed c
	keepsMembers(t, a, 3*redialInterval, "a", "b", "c")
	keepsMembers(t, b, redialInterval, "a", "b", "c")
}

// TestGoneMemberComesBack: c exits and is gone; a process listening at its
// address again brings it back before memberlist, which still lists c
// alive (slow probes), notices anything.
func TestGoneMemberComesBack(t *testing.T) {
	a, b, c := slowCluster(t)
	port := int(c.LocalAddr().Port())
	c.Shutdown()
	waitMembersWithin(t, c.cfg.ProbeInterval, a, "a", "b")
	waitMembersWithin(t, c.cfg.ProbeInterval, b, "a", "b")
	startWith(t, "c", 33, func(cfg *Config) { slowProbes(cfg); cfg.Port = port })
	waitMembers(t, a, "a", "b", "c")
	waitMembers(t, b, "a", "b", "c")
}

// TestHeldStreamsAreBounded: on the memberlist port, a held stream from an
// address that is not a member's is closed at once, and a connection that
// sends nothing is closed after the stream timeout, as memberlist closes
// its own.
func TestHeldStreamsAreBounded(t *testing.T) {
	l := startWith(t, "a", 41, func(cfg *Config) { cfg.StreamTimeout = 200 * time.Millisecond })
	stranger := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 42)}}
	for _, send := range [][]byte{{heldStreamMarker}, nil} {
		conn, err := stranger.Dial("tcp", l.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(send); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(converge))
		var b [1]byte
		if n, err := conn.Read(b[:]); n != 0 || err == nil {
			t.Errorf("after sending %v: read %d bytes (%v), want the member to close the connection", send, n, err)
		}
		conn.Close()
	}
}
