package members

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	keyA = mustKey("key A: the key the cluster starts with")
	keyB = mustKey("key B: the key the cluster rotates to")
	keyC = mustKey("key C: a third key, accepted for a while")
)

func TestKeyringSteps(t *testing.T) {
	tests := []struct {
		name      string
		installed [][]byte
		want      Keys
		steps     []keyStep
	}{
		{"unchanged", [][]byte{keyA}, Keys{Primary: keyA}, nil},
		{"unchanged with an accepted key", [][]byte{keyA, keyB}, Keys{Primary: keyA, Accepted: [][]byte{keyB}}, nil},
		{"rotation step 1: accept the new key", [][]byte{keyA}, Keys{Primary: keyA, Accepted: [][]byte{keyB}},
			[]keyStep{{addKey, keyB}}},
		{"rotation step 2: send with the new key, accept the old", [][]byte{keyA, keyB}, Keys{Primary: keyB, Accepted: [][]byte{keyA}},
			[]keyStep{{useKey, keyB}}},
		{"rotation step 3: drop the old key", [][]byte{keyB, keyA}, Keys{Primary: keyB},
			[]keyStep{{removeKey, keyA}}},
		{"steps 1 and 2 at once: accepted before used", [][]byte{keyA}, Keys{Primary: keyB, Accepted: [][]byte{keyA}},
			[]keyStep{{addKey, keyB}, {useKey, keyB}}},
		{"unrelated key: added, used, then the old one dropped", [][]byte{keyA}, Keys{Primary: keyB},
			[]keyStep{{addKey, keyB}, {useKey, keyB}, {removeKey, keyA}}},
		{"several dropped: the last one first", [][]byte{keyA, keyB, keyC}, Keys{Primary: keyA},
			[]keyStep{{removeKey, keyC}, {removeKey, keyB}}},
		{"accepted list repeats the primary", [][]byte{keyA}, Keys{Primary: keyA, Accepted: [][]byte{keyA}}, nil},
		{"nothing installed", nil, Keys{Primary: keyA},
			[]keyStep{{addKey, keyA}, {useKey, keyA}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keyringSteps(tt.installed, tt.want)
			if !slices.EqualFunc(got, tt.steps, func(a, b keyStep) bool { return a.op == b.op && bytes.Equal(a.key, b.key) }) {
				t.Fatalf("steps %s, want %s", describeSteps(got), describeSteps(tt.steps))
			}
		})
	}
}

func describeSteps(steps []keyStep) string {
	var out []string
	for _, s := range steps {
		out = append(out, fmt.Sprintf("%s %s", [...]string{"add", "use", "remove"}[s.op], Fingerprint(s.key)))
	}
	return fmt.Sprint(out)
}

func TestKeysEqualIgnoresOrder(t *testing.T) {
	ab := Keys{Primary: keyA, Accepted: [][]byte{keyB, keyC}}
	for _, tt := range []struct {
		other Keys
		equal bool
	}{
		{Keys{Primary: keyA, Accepted: [][]byte{keyC, keyB}}, true},
		{Keys{Primary: keyA, Accepted: [][]byte{keyB, keyC, keyA}}, true},
		{Keys{Primary: keyB, Accepted: [][]byte{keyA, keyC}}, false},
		{Keys{Primary: keyA, Accepted: [][]byte{keyB}}, false},
	} {
		if got := ab.Equal(tt.other); got != tt.equal {
			t.Errorf("%s.Equal(%s) = %v, want %v", ab, tt.other, got, tt.equal)
		}
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeName, cfg.BindAddr, cfg.Port = "a", netip.MustParseAddr("127.0.0.1"), 0
	cfg.Keys = Keys{Primary: keyA, Accepted: [][]byte{[]byte("sixteen bytes!!!")}}
	if l, err := New(cfg); err == nil {
		l.Shutdown()
		t.Fatal("an accepted key of 16 bytes: want an error (keys are 32 bytes)")
	}
}

// keyedMember is a member on loopback with its own decryption-failure
// count.
type keyedMember struct {
	*List
	failures atomic.Int64
}

func startKeyed(t testing.TB, name string, host byte, keys Keys) *keyedMember {
	t.Helper()
	m := &keyedMember{}
	// The fast timing: a member switched to a key the others do not accept
	// is declared dead, and comes back, within the waits of these tests.
	cfg := FastConfig()
	cfg.NodeName = name
	cfg.BindAddr = netip.AddrFrom4([4]byte{127, 0, 0, host})
	cfg.Port = 0
	cfg.Keys = keys
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.OnDecryptFailure = func() { m.failures.Add(1) }
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Shutdown() })
	m.List = l
	return m
}

// ringWatch samples every member's view while a test changes keys and
// records each moment a member saw fewer than all of them: a split ring.
type ringWatch struct {
	stop chan struct{}
	done sync.WaitGroup
	mu   sync.Mutex
	seen []string
}

func watchRing(members []*keyedMember) *ringWatch {
	w := &ringWatch{stop: make(chan struct{})}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for {
			for _, m := range members {
				if n := len(m.Members()); n != len(members) {
					w.mu.Lock()
					w.seen = append(w.seen, fmt.Sprintf("%s saw %d members", m.cfg.NodeName, n))
					w.mu.Unlock()
				}
			}
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *ringWatch) splits() []string {
	close(w.stop)
	w.done.Wait()
	return w.seen
}

// rotate installs each step's keys on the members one at a time, as
// kubelets update a Secret volume node by node, and lets several probe and
// gossip rounds pass after each member.
func rotate(t *testing.T, members []*keyedMember, steps ...Keys) {
	t.Helper()
	for _, keys := range steps {
		for _, m := range members {
			if err := m.SetKeys(keys); err != nil {
				t.Fatal(err)
			}
			if got := m.Keys(); !got.Equal(keys) {
				t.Fatalf("%s has keys %s after SetKeys(%s)", m.cfg.NodeName, got, keys)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

func keyedCluster(t *testing.T, keys Keys) []*keyedMember {
	t.Helper()
	members := []*keyedMember{startKeyed(t, "a", 31, keys), startKeyed(t, "b", 32, keys), startKeyed(t, "c", 33, keys)}
	for _, m := range members[1:] {
		if n, err := m.Join([]netip.AddrPort{members[0].LocalAddr()}); err != nil || n != 1 {
			t.Fatalf("%s joining a: joined %d, err %v", m.cfg.NodeName, n, err)
		}
	}
	for _, m := range members {
		waitMembers(t, m.List, "a", "b", "c")
	}
	return members
}

// TestKeyRotationNeverSplitsTheRing rotates the gossip key of a running
// cluster in the documented three steps, one member at a time: every member
// sees every other throughout and no message fails to decrypt.
func TestKeyRotationNeverSplitsTheRing(t *testing.T) {
	members := keyedCluster(t, Keys{Primary: keyA})
	watch := watchRing(members)
	rotate(t, members,
		Keys{Primary: keyA, Accepted: [][]byte{keyB}}, // 1: accept the new key everywhere
		Keys{Primary: keyB, Accepted: [][]byte{keyA}}, // 2: send with it everywhere
		Keys{Primary: keyB},                           // 3: drop the old key
	)
	if splits := watch.splits(); len(splits) > 0 {
		t.Errorf("the ring split during the rotation: %v", splits[:min(len(splits), 10)])
	}
	for _, m := range members {
		if n := m.failures.Load(); n != 0 {
			t.Errorf("%s counted %d messages it could not decrypt during the rotation, want 0", m.cfg.NodeName, n)
		}
	}
	// A member started with the new key alone joins the rotated ring.
	d := startKeyed(t, "d", 34, Keys{Primary: keyB})
	if _, err := d.Join([]netip.AddrPort{members[0].LocalAddr()}); err != nil {
		t.Fatalf("a member with the new key joining the rotated ring: %v", err)
	}
	waitMembers(t, members[0].List, "a", "b", "c", "d")
}

// TestSkippedRotationStepIsCounted is the rotation done wrong: one member
// switches straight to a key the others do not accept. The ring loses it and
// the decryption failures are counted, on its side and on theirs; once each
// side accepts the other's key the ring heals. It used to stay split in
// about 1 run in 6: a member held dead by another while it held that one
// alive was never told so, and stayed dead in its view until memberlist's
// push/pull, 30 s or more later (reclaim.go).
func TestSkippedRotationStepIsCounted(t *testing.T) {
	members := keyedCluster(t, Keys{Primary: keyA})
	a, b, c := members[0], members[1], members[2]
	if err := c.SetKeys(Keys{Primary: keyB}); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, a.List, "a", "b")
	waitCount(t, "a's and b's decryption failures", func() int64 { return a.failures.Load() + b.failures.Load() })
	waitCount(t, "c's decryption failures", c.failures.Load)
	for _, m := range []*keyedMember{a, b} {
		if err := m.SetKeys(Keys{Primary: keyA, Accepted: [][]byte{keyB}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetKeys(Keys{Primary: keyB, Accepted: [][]byte{keyA}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join([]netip.AddrPort{a.LocalAddr()}); err != nil {
		t.Fatalf("c rejoining once its key is accepted: %v", err)
	}
	// c keeps joining a every second, as a speaker's join loop does (a
	// no-op once c sees a); nobody else joins anyone.
	deadline := time.Now().Add(converge)
	for lastJoin := time.Now(); !everyMemberSees(members, "a", "b", "c"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the ring did not heal within %v of the keys being fixed: %s", converge, views(members))
		}
		if time.Since(lastJoin) >= time.Second {
			c.Join([]netip.AddrPort{a.LocalAddr()}) //nolint:errcheck // retried, as the speaker's join loop does
			lastJoin = time.Now()
		}
	}
}

// views describes what each member sees.
func views(members []*keyedMember) string {
	var out []string
	for _, m := range members {
		out = append(out, fmt.Sprintf("%s sees %v", m.cfg.NodeName, names(m.Members())))
	}
	return strings.Join(out, "; ")
}

// everyMemberSees reports whether every member's list is exactly want.
func everyMemberSees(members []*keyedMember, want ...string) bool {
	for _, m := range members {
		if !slices.Equal(names(m.Members()), want) {
			return false
		}
	}
	return true
}

// TestStrangerWithOtherKeyIsCounted: a process with another cluster's key
// trying to join is counted by the member it contacts and by itself.
func TestStrangerWithOtherKeyIsCounted(t *testing.T) {
	members := keyedCluster(t, Keys{Primary: keyA})
	stranger := startKeyed(t, "stranger", 39, Keys{Primary: otherKey})
	if n, err := stranger.Join([]netip.AddrPort{members[0].LocalAddr()}); err == nil || n != 0 {
		t.Fatalf("the stranger joined %d members (err %v), want none", n, err)
	}
	if failed := stranger.JoinPeers([]Peer{{Name: "a", Addrs: []netip.AddrPort{members[0].LocalAddr()}}}); failed["a"] == nil {
		t.Fatal("JoinPeers with another key: want a failure")
	}
	waitCount(t, "a's decryption failures", members[0].failures.Load)
	waitCount(t, "the stranger's decryption failures", stranger.failures.Load)
	if n := members[1].failures.Load() + members[2].failures.Load(); n != 0 {
		t.Errorf("b and c, never contacted, counted %d failures", n)
	}
}

// waitCount waits until count returns more than zero.
func waitCount(t *testing.T, what string, count func() int64) {
	t.Helper()
	deadline := time.Now().Add(converge)
	for count() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: none counted", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSetKeysRefusals(t *testing.T) {
	plain := startKeyed(t, "plain", 40, Keys{})
	if err := plain.SetKeys(Keys{Primary: keyA}); err == nil {
		t.Error("SetKeys on a member without encryption: want an error")
	}
	keyed := startKeyed(t, "keyed", 41, Keys{Primary: keyA})
	for _, bad := range []Keys{{}, {Primary: []byte("short")}, {Primary: keyA, Accepted: [][]byte{[]byte("short")}}} {
		if err := keyed.SetKeys(bad); err == nil {
			t.Errorf("SetKeys(%d-byte primary, %d accepted): want an error", len(bad.Primary), len(bad.Accepted))
		}
	}
	if got := keyed.Keys(); !got.Equal(Keys{Primary: keyA}) {
		t.Errorf("keys after refused changes: %s, want %s", got, Keys{Primary: keyA})
	}
}

func TestDecryptFailureLinesCountedDespiteRateLimit(t *testing.T) {
	var n int
	std := newLogLogger(slog.New(slog.DiscardHandler), nil, func() { n++ })
	for range 3 * logBurst {
		std.Print("[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=127.0.0.1:7946")
	}
	std.Print("[ERR] memberlist: failed to receive: No installed keys could decrypt the message from=127.0.0.1:7946")
	std.Print("[ERR] memberlist: Failed to send ping: connection refused")
	if n != 3*logBurst+1 {
		t.Errorf("counted %d decryption failures, want %d (every one, logged or not)", n, 3*logBurst+1)
	}
}
