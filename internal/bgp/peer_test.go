package bgp

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// validPeer is a minimal valid eBGP peer.
func validPeer(name, addr string) bgpspec.Peer {
	return bgpspec.Peer{Name: name, MyASN: 64500, PeerASN: 64501, Address: netip.MustParseAddr(addr)}
}

func TestPeerCarries(t *testing.T) {
	v4, v6 := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name     string
		peer     bgpspec.Peer
		v4Routes bool
		v6Routes bool
	}{
		{"IPv4 session", validPeer("a", "10.0.0.2"), true, false},
		{"IPv6 session", validPeer("a", "2001:db8::2"), false, true},
		{"dual stack IPv4 session", bgpspec.Peer{Address: netip.MustParseAddr("10.0.0.2"), DualStackAddressFamily: true}, true, true},
		{"dual stack IPv6 session", bgpspec.Peer{Address: netip.MustParseAddr("2001:db8::2"), DualStackAddressFamily: true}, true, true},
		{"unnumbered session, not resolved yet", bgpspec.Peer{Interface: "eth1"}, true, true},
		{"unnumbered session", bgpspec.Peer{Interface: "eth1", Address: netip.MustParseAddr("fe80::1%eth1")}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.peer.Carries(v4); got != tt.v4Routes {
				t.Errorf("Carries(IPv4) = %v, want %v", got, tt.v4Routes)
			}
			if got := tt.peer.Carries(v6); got != tt.v6Routes {
				t.Errorf("Carries(IPv6) = %v, want %v", got, tt.v6Routes)
			}
		})
	}
}

func TestPeerDefaults(t *testing.T) {
	p := validPeer("a", "10.0.0.2")
	if port(p) != 179 || holdTime(p) != 90*time.Second || keepaliveTime(p) != 30*time.Second || connectTime(p) != 10*time.Second {
		t.Errorf("defaults = port %d hold %s keepalive %s connect %s", port(p), holdTime(p), keepaliveTime(p), connectTime(p))
	}
	p.Port, p.HoldTime, p.ConnectTime = 1179, 9*time.Second, time.Second
	if port(p) != 1179 || holdTime(p) != 9*time.Second || keepaliveTime(p) != 3*time.Second || connectTime(p) != time.Second {
		t.Errorf("set = port %d hold %s keepalive %s connect %s", port(p), holdTime(p), keepaliveTime(p), connectTime(p))
	}
}

func TestPlanPeers(t *testing.T) {
	a, b, c := validPeer("a", "10.0.0.2"), validPeer("b", "10.0.0.3"), validPeer("c", "10.0.0.4")
	aSlower := a
	aSlower.HoldTime = 180 * time.Second
	bMoved := b
	bMoved.Address = netip.MustParseAddr("10.0.0.9")
	tests := []struct {
		name    string
		applied map[string]bgpspec.Peer
		desired []bgpspec.Peer
		want    peerPlan
	}{
		{name: "nothing"},
		{name: "unchanged", applied: map[string]bgpspec.Peer{"a": a, "b": b}, desired: []bgpspec.Peer{b, a}},
		{name: "add", applied: map[string]bgpspec.Peer{"a": a}, desired: []bgpspec.Peer{c, a, b}, want: peerPlan{add: []bgpspec.Peer{b, c}}},
		{name: "remove", applied: map[string]bgpspec.Peer{"a": a, "b": b, "c": c}, desired: []bgpspec.Peer{b}, want: peerPlan{remove: []bgpspec.Peer{a, c}}},
		{
			name:    "change in place and move",
			applied: map[string]bgpspec.Peer{"a": a, "b": b, "c": c},
			desired: []bgpspec.Peer{c, bMoved, aSlower},
			want:    peerPlan{change: []peerChange{{old: a, new: aSlower}, {old: b, new: bMoved}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planPeers(tt.applied, tt.desired)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("planPeers() = %+v, want %+v", got, tt.want)
			}
		})
	}
	if (peerChange{old: a, new: aSlower}).needsNewNeighbor() {
		t.Error("a hold time change must not re-create the neighbour")
	}
	if !(peerChange{old: b, new: bMoved}).needsNewNeighbor() {
		t.Error("an address change must re-create the neighbour")
	}
}
