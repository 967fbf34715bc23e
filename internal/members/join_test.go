package members

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func addr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func peerNames(peers []Peer) []string {
	var out []string
	for _, p := range peers {
		out = append(out, p.Name)
	}
	return out
}

func TestUnknownPeers(t *testing.T) {
	self := Member{Name: "a", Addr: addr("10.0.0.1:7946")}
	dualB := Peer{Name: "b", Addrs: []netip.AddrPort{addr("10.0.0.2:7946"), addr("[fd00::2]:7946")}}
	tests := []struct {
		name    string
		members []Member
		peers   []Peer
		want    []Peer
	}{
		{"alone: every other node", []Member{self}, []Peer{dualB, {Name: "c", Addrs: []netip.AddrPort{addr("10.0.0.3:7946")}}},
			[]Peer{dualB, {Name: "c", Addrs: []netip.AddrPort{addr("10.0.0.3:7946")}}}},
		{"a dual-stack member is not joined at its second address",
			[]Member{self, {Name: "b", Addr: addr("10.0.0.2:7946")}}, []Peer{dualB}, nil},
		{"a member gossiping from its IPv6 address",
			[]Member{self, {Name: "b", Addr: addr("[fd00::2]:7946")}}, []Peer{dualB}, nil},
		{"a member known by address under another name (bind address)",
			[]Member{self, {Name: "b-speaker", Addr: addr("10.0.0.2:7946")}}, []Peer{dualB}, nil},
		{"a member known by name at another address (--memberlist-bind-addr)",
			[]Member{self, {Name: "b", Addr: addr("192.168.0.2:7946")}}, []Peer{dualB}, nil},
		{"a node without addresses", []Member{self}, []Peer{{Name: "d"}}, nil},
		{"only the missing one", []Member{self, {Name: "b", Addr: addr("10.0.0.2:7946")}},
			[]Peer{dualB, {Name: "c", Addrs: []netip.AddrPort{addr("10.0.0.3:7946")}}},
			[]Peer{{Name: "c", Addrs: []netip.AddrPort{addr("10.0.0.3:7946")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unknownPeers(tt.members, tt.peers)
			if !slices.EqualFunc(got, tt.want, func(a, b Peer) bool { return a.Name == b.Name && slices.Equal(a.Addrs, b.Addrs) }) {
				t.Errorf("unknownPeers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJoinBackoff(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	self := Member{Name: "a", Addr: addr("10.0.0.1:7946")}
	noSpeaker := Peer{Name: "c", Addrs: []netip.AddrPort{addr("10.0.0.3:7946")}}
	peers := []Peer{noSpeaker}
	failed := errors.New("connection refused")

	b := NewJoinBackoff()
	steps := []struct {
		at      time.Duration
		members []Member
		peers   []Peer
		want    []string
		outcome error // recorded for every due peer
	}{
		{0, []Member{self}, peers, []string{"c"}, failed},
		{joinRetryMin - time.Second, []Member{self}, peers, nil, nil},
		{joinRetryMin, []Member{self}, peers, []string{"c"}, failed},                  // second failure: 10 s
		{joinRetryMin + 9*time.Second, []Member{self}, peers, nil, nil},               // still backing off
		{joinRetryMin + 10*time.Second, []Member{self}, peers, []string{"c"}, failed}, // third: 20 s
		{joinRetryMin + 29*time.Second, []Member{self}, peers, nil, nil},
		// The node's speaker started and joined us: its history is dropped.
		{joinRetryMin + 30*time.Second, []Member{self, {Name: "c", Addr: addr("10.0.0.3:7946")}}, peers, nil, nil},
		// It died: it is contacted again at once.
		{joinRetryMin + 31*time.Second, []Member{self}, peers, []string{"c"}, nil},
		{joinRetryMin + 32*time.Second, []Member{self}, peers, []string{"c"}, nil},
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		got := peerNames(b.Due(now, st.members, st.peers))
		if !slices.Equal(got, st.want) {
			t.Fatalf("step %d (%v): due %v, want %v", i, st.at, got, st.want)
		}
		for _, name := range got {
			b.Record(name, st.outcome)
		}
	}
}

// TestJoinBackoffRunningSpeaker: a node whose speaker pod is Ready but which
// is not a member (cut off by a partition) is tried every joinRetryRunning
// however often it failed, so the speakers find each other about a second
// after the partition heals, not after up to five minutes of backoff; a
// node whose speaker is not running still backs off.
func TestJoinBackoffRunningSpeaker(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	self := []Member{{Name: "a", Addr: addr("10.0.0.1:7946")}}
	cut := Peer{Name: "b", Addrs: []netip.AddrPort{addr("10.0.0.2:7946")}, Running: true}
	gone := Peer{Name: "c", Addrs: []netip.AddrPort{addr("10.0.0.3:7946")}}
	peers := []Peer{cut, gone}
	failed := errors.New("i/o timeout")

	b := NewJoinBackoff()
	dueAt := map[string][]time.Duration{}
	for at := time.Duration(0); at <= 2*time.Minute; at += 100 * time.Millisecond {
		for _, p := range b.Due(t0.Add(at), self, peers) {
			dueAt[p.Name] = append(dueAt[p.Name], at)
			b.Record(p.Name, failed)
		}
	}
	for i, at := range dueAt["b"] {
		if want := time.Duration(i) * joinRetryRunning; at != want {
			t.Fatalf("attempt %d at the running speaker at %v, want %v (attempts %v)", i, at, want, dueAt["b"])
		}
	}
	if got, want := len(dueAt["b"]), int(2*time.Minute/joinRetryRunning)+1; got != want {
		t.Errorf("%d attempts at the running speaker in 2 minutes, want %d", got, want)
	}
	// 0, 5, 15, 35, 75 s: exponential backoff.
	if got := len(dueAt["c"]); got != 5 {
		t.Errorf("attempts at a node without a running speaker at %v, want 5 (backing off)", dueAt["c"])
	}
}

// TestJoinBackoffOverlappingAttempts: an attempt not answered yet does not
// make the peer due again before its retry time.
func TestJoinBackoffOverlappingAttempts(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	self := []Member{{Name: "a", Addr: addr("10.0.0.1:7946")}}
	peers := []Peer{{Name: "b", Addrs: []netip.AddrPort{addr("10.0.0.2:7946")}, Running: true}}
	b := NewJoinBackoff()
	if got := peerNames(b.Due(t0, self, peers)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("due %v, want [b]", got)
	}
	// No outcome recorded yet (the attempt hangs on a dropped SYN).
	if got := b.Due(t0.Add(joinRetryRunning/2), self, peers); len(got) != 0 {
		t.Errorf("due again while the attempt is in flight: %v", peerNames(got))
	}
	if got := peerNames(b.Due(t0.Add(joinRetryRunning), self, peers)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("due %v a retry interval later, want [b]", got)
	}
}

func TestRetryDelayIsBounded(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{1, joinRetryMin}, {2, 2 * joinRetryMin}, {3, 4 * joinRetryMin}, {7, joinRetryMax}, {1000, joinRetryMax},
	}
	for _, tt := range tests {
		if got := retryDelay(tt.failures); got != tt.want {
			t.Errorf("retryDelay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

// TestJoinPeersTriesEveryAddress joins a member listed with an address
// nobody answers first; the failure of a peer without a speaker is
// reported by name and does not stop the others.
func TestJoinPeersTriesEveryAddress(t *testing.T) {
	a := start(t, "a", 1, clusterKey)
	b := start(t, "b", 2, clusterKey)
	silent := start(t, "silent", 3, clusterKey)
	silentAddr := silent.LocalAddr()
	silent.Shutdown() // nothing listens there any more

	failed := a.JoinPeers([]Peer{
		{Name: "b", Addrs: []netip.AddrPort{silentAddr, b.LocalAddr()}},
		{Name: "gone", Addrs: []netip.AddrPort{silentAddr}},
	})
	if _, ok := failed["gone"]; !ok || len(failed) != 1 {
		t.Errorf("failed = %v, want only node gone", failed)
	}
	waitMembers(t, a, "a", "b")
}
