package speaker

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/internal/bgpspec"
	"github.com/ironlb/ironlb/internal/metrics"
)

func TestNewBGPAddresses(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::3")
	plan := func(services map[string][]netip.Addr) announce.BGPPlan {
		p := announce.BGPPlan{Services: map[string]announce.AdvertisedService{}}
		for key, ips := range services {
			p.Services[key] = announce.AdvertisedService{IPs: ips, Peers: []string{"router"}}
		}
		return p
	}
	for _, tc := range []struct {
		name          string
		before, after announce.BGPPlan
		want          []netip.Addr
	}{
		{"first plan", announce.BGPPlan{}, plan(map[string][]netip.Addr{"default/web": {a}}), []netip.Addr{a}},
		{"unchanged", plan(map[string][]netip.Addr{"default/web": {a}}), plan(map[string][]netip.Addr{"default/web": {a}}), nil},
		{"second family added", plan(map[string][]netip.Addr{"default/web": {a}}), plan(map[string][]netip.Addr{"default/web": {a, c}}), []netip.Addr{c}},
		{"shared address counted once", announce.BGPPlan{}, plan(map[string][]netip.Addr{"default/a": {b}, "default/b": {b}}), []netip.Addr{b}},
		{"withdrawal is not an announcement", plan(map[string][]netip.Addr{"default/web": {a}}), announce.BGPPlan{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := newBGPAddresses(tc.before, tc.after); !slices.Equal(got, tc.want) {
				t.Errorf("newBGPAddresses = %v, want %v", got, tc.want)
			}
		})
	}
}

// metallb_bfd_* shows each BFD session by its peer's address: Up or not, and
// the session's own counters.
func TestBFDSnapshot(t *testing.T) {
	got := bfdSnapshot([]bgp.BFDStatus{
		{Name: "a", Address: netip.MustParseAddr("192.0.2.1"), PeerStatus: bfd.PeerStatus{
			Status:   bfd.Status{State: bfd.StateUp},
			Counters: bfd.Counters{ControlIn: 5, ControlOut: 6, UpEvents: 1}}},
		{Name: "b", Address: netip.MustParseAddr("2001:db8::1"), PeerStatus: bfd.PeerStatus{
			Status:   bfd.Status{State: bfd.StateInit},
			Counters: bfd.Counters{ControlOut: 2, UpEvents: 1, DownEvents: 1}}},
	})
	want := map[string]metrics.BFDSession{
		"192.0.2.1":   {Up: true, ControlIn: 5, ControlOut: 6, UpEvents: 1},
		"2001:db8::1": {ControlOut: 2, UpEvents: 1, DownEvents: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("bfdSnapshot = %+v, want %+v", got, want)
	}
}

func TestPeerLabel(t *testing.T) {
	for _, tc := range []struct {
		peer bgpspec.Peer
		want string
	}{
		{bgpspec.Peer{Address: netip.MustParseAddr("192.0.2.1")}, "192.0.2.1:179"},
		{bgpspec.Peer{Address: netip.MustParseAddr("2001:db8::1")}, "[2001:db8::1]:179"},
		// The router's address is only found on the node, and may change.
		{bgpspec.Peer{Interface: "eth1", Address: netip.MustParseAddr("fe80::1%eth1")}, "eth1:179"},
	} {
		if got := peerLabel(tc.peer, 179); got != tc.want {
			t.Errorf("peerLabel(%+v) = %q, want %q", tc.peer, got, tc.want)
		}
	}
}
