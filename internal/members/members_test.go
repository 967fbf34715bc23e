package members

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// converge is how long a test waits for gossip to settle; the tuned timing
// needs about a second, the margin absorbs a loaded CI machine.
const converge = 15 * time.Second

var (
	clusterKey = mustKey("the cluster's secret key, as stored in the Secret")
	otherKey   = mustKey("another cluster's secret key, not this one's at all")
)

func mustKey(secret string) []byte {
	k, err := DeriveKey([]byte(secret))
	if err != nil {
		panic(err)
	}
	return k
}

// start creates a member on 127.0.0.<host> with a free port and shuts it down
// at the end of the test.
func start(t testing.TB, name string, host byte, key []byte) *List {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeName = name
	cfg.BindAddr = netip.AddrFrom4([4]byte{127, 0, 0, host})
	cfg.Port = 0
	cfg.Keys = Keys{Primary: key}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Shutdown() })
	return l
}

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// waitMembers waits until l sees exactly want (sorted names).
func waitMembers(t testing.TB, l *List, want ...string) {
	t.Helper()
	deadline := time.Now().Add(converge)
	for {
		got := names(l.Members())
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s sees members %v, want %v", l.cfg.NodeName, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cluster starts members a, b and c with the cluster key and joins them.
func cluster(t testing.TB) (a, b, c *List) {
	t.Helper()
	a = start(t, "a", 11, clusterKey)
	b = start(t, "b", 12, clusterKey)
	c = start(t, "c", 13, clusterKey)
	for _, l := range []*List{b, c} {
		if n, err := l.Join([]netip.AddrPort{a.LocalAddr()}); err != nil || n != 1 {
			t.Fatalf("%s joining a: joined %d, err %v", l.cfg.NodeName, n, err)
		}
	}
	for _, l := range []*List{a, b, c} {
		waitMembers(t, l, "a", "b", "c")
	}
	return a, b, c
}

func TestDeriveKey(t *testing.T) {
	empty := sha256.Sum256(nil)
	tests := []struct {
		name   string
		secret string
		want   []byte
	}{
		{"long secret: its first 32 bytes", strings.Repeat("k", 40), []byte(strings.Repeat("k", 32))},
		{"short secret: padded with SHA-256 of nothing", "sixteen bytes ok", append([]byte("sixteen bytes ok"), empty[:16]...)},
		{"exactly 32 bytes", strings.Repeat("x", 32), []byte(strings.Repeat("x", 32))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DeriveKey([]byte(tt.secret))
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("DeriveKey(%q) = %x, %v; want %x", tt.secret, got, err, tt.want)
			}
		})
	}
	for _, short := range []string{"", "abc", strings.Repeat("k", MinSecretSize-1)} {
		if _, err := DeriveKey([]byte(short)); err == nil {
			t.Errorf("DeriveKey of a %d-byte secret: want an error", len(short))
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	base := DefaultConfig()
	base.NodeName, base.BindAddr, base.Port = "a", netip.MustParseAddr("127.0.0.1"), 0
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no name", func(c *Config) { c.NodeName = "" }, "node name is empty"},
		{"no address", func(c *Config) { c.BindAddr = netip.Addr{} }, "bind address"},
		{"meta too large", func(c *Config) { c.Meta = make([]byte, MaxMetaSize+1) }, "limit 512"},
		{"timeout not below interval", func(c *Config) { c.ProbeTimeout = c.ProbeInterval }, "probe timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.change(&cfg)
			l, err := New(cfg)
			if err == nil {
				l.Shutdown()
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestMembersConverge(t *testing.T) {
	a, _, _ := cluster(t)
	// Changes carries the latest member set.
	select {
	case ms := <-a.Changes():
		if got := names(ms); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("latest change %v, want [a b c]", got)
		}
	default:
		t.Fatal("no member set on Changes after joins")
	}
	// Joining known members again is a no-op.
	if n, err := a.Join([]netip.AddrPort{a.LocalAddr()}); n != 0 || err != nil {
		t.Fatalf("rejoining a known member: joined %d, err %v", n, err)
	}
}

func TestCrashedMemberIsDetected(t *testing.T) {
	a, b, c := cluster(t)
	c.Shutdown() // no Leave: looks like a crash
	waitMembers(t, a, "a", "b")
	waitMembers(t, b, "a", "b")
}

func TestLeavingMemberIsDetected(t *testing.T) {
	a, b, c := cluster(t)
	if err := c.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, a, "a", "b")
	waitMembers(t, b, "a", "b")
	c.Shutdown()
	if err := c.Leave(time.Second); err == nil {
		t.Fatal("Leave after Shutdown: want an error")
	}
}

func TestMetaIsGossiped(t *testing.T) {
	a, b, _ := cluster(t)
	meta := []byte("eth0 192.0.2.0/24")
	if err := a.SetMeta(meta); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(converge)
	for {
		i := slices.IndexFunc(b.Members(), func(m Member) bool { return m.Name == "a" })
		if i >= 0 && bytes.Equal(b.Members()[i].Meta, meta) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never saw a's metadata %q", meta)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.SetMeta(make([]byte, MaxMetaSize+1)); err == nil {
		t.Fatal("oversized metadata: want an error")
	}
}

// TestWrongKeyCannotJoin checks that a process without the cluster's key —
// with another key, or with none — cannot join, and that its attempts leave
// every member's view unchanged, so it cannot sway elections.
func TestWrongKeyCannotJoin(t *testing.T) {
	a, b, c := cluster(t)
	intruders := []struct {
		name string
		key  []byte
	}{
		{"other-key", otherKey},
		{"no-key", nil},
	}
	for i, in := range intruders {
		l := start(t, in.name, byte(20+i), in.key)
		if n, err := l.Join([]netip.AddrPort{a.LocalAddr(), b.LocalAddr()}); err == nil || n != 0 {
			t.Fatalf("%s joined %d members (err %v), want none", in.name, n, err)
		}
	}
	// The intruders keep sending while several probe and gossip rounds pass;
	// the members still see only each other.
	time.Sleep(2 * time.Second)
	for _, l := range []*List{a, b, c} {
		if got := names(l.Members()); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("%s sees %v after intruders tried to join, want [a b c]", l.cfg.NodeName, got)
		}
	}
}

func TestLogLinesGoToSlog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	std := newLogLogger(logger, nil, nil)
	std.Printf("[WARN] memberlist: Was able to connect to %s over TCP", "b")
	std.Printf("[ERR] memberlist: Failed to decrypt")
	std.Printf("no prefix")
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{
		`level=WARN msg="Was able to connect to b over TCP" component=memberlist`,
		`level=ERROR msg="Failed to decrypt" component=memberlist`,
		`level=INFO msg="no prefix" component=memberlist`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %q:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestAccusationsSignalled feeds the writer the lines memberlist v0.5 writes
// (state.go) when this node refutes being declared suspect or dead.
func TestAccusationsSignalled(t *testing.T) {
	l := &List{accused: make(chan struct{}, 1)}
	std := newLogLogger(slog.New(slog.DiscardHandler), l.signalAccused, nil)
	std.Printf("[WARN] memberlist: Was able to connect to b over TCP but UDP probes failed")
	select {
	case <-l.Accused():
		t.Fatal("an ordinary line signalled an accusation")
	default:
	}
	for _, line := range []string{
		"[WARN] memberlist: Refuting a suspect message (from: b)",
		"[WARN] memberlist: Refuting a dead message (from: c)",
	} {
		std.Print(line)
		std.Print(line) // a second one before the first is received merges
		select {
		case <-l.Accused():
		default:
			t.Errorf("%q did not signal an accusation", line)
		}
		select {
		case <-l.Accused():
			t.Errorf("%q signalled twice; pending signals must merge", line)
		default:
		}
	}
}

// TestWarningsRateLimited writes a burst of failures, as memberlist does for
// every probe of a peer behind a blocked port: at most logBurst per window
// reach the log, and the next window's first line says how many were left
// out. The clock is the test's.
func TestWarningsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &slogWriter{logger: logger, now: func() time.Time { return now }}
	std := log.New(w, "", 0)
	for range 3 * logBurst {
		std.Print("[ERR] memberlist: Failed to send ping: connection refused")
		std.Print("[DEBUG] memberlist: Stream connection")
	}
	now = now.Add(logWindow)
	std.Print("[WARN] memberlist: Failed fallback ping")
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if n := strings.Count(out, "Failed to send ping"); n != logBurst {
		t.Errorf("%d errors written in one window, want %d", n, logBurst)
	}
	if n := strings.Count(out, "Stream connection"); n != 3*logBurst {
		t.Errorf("%d debug lines written, want all %d (only warnings and errors are limited)", n, 3*logBurst)
	}
	if want := fmt.Sprintf(`msg="Failed fallback ping" component=memberlist suppressed=%d`, 2*logBurst); !strings.Contains(out, want) {
		t.Errorf("log lacks %q:\n%s", want, out)
	}
}
