package announce

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgpspec"
	"github.com/ironlb/ironlb/internal/config"
)

// A peer's BFDProfile reaches the BGP shell with its timers and role; a
// peer without one has no BFD.
func TestSessionForBFD(t *testing.T) {
	profile := &config.BFDProfile{Name: "fast", ReceiveInterval: 100 * time.Millisecond,
		TransmitInterval: 200 * time.Millisecond, DetectMultiplier: 3, PassiveMode: true, MinimumTTL: 254}
	peer := &config.Peer{Name: "router", MyASN: 64500, PeerASN: 64501, Address: netip.MustParseAddr("192.0.2.1"), BFD: profile}
	got, problem := sessionFor(peer, Node{Name: "node1"})
	want := bgpspec.BFD{Profile: "fast", ReceiveInterval: 100 * time.Millisecond,
		TransmitInterval: 200 * time.Millisecond, DetectMultiplier: 3, PassiveMode: true}
	if problem != nil || got.BFD != want {
		t.Fatalf("BFD = %+v (problem %v), want %+v", got.BFD, problem, want)
	}
	peer.BFD = nil
	if got, _ := sessionFor(peer, Node{Name: "node1"}); got.BFD.Enabled() {
		t.Fatalf("peer without BFDProfile got BFD %+v", got.BFD)
	}
}
