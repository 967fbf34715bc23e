package bgp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

func TestAdvertsFor(t *testing.T) {
	ebgp := validPeer("ebgp", "10.0.0.2")
	ibgp := validPeer("ibgp", "10.0.0.3")
	ibgp.PeerASN = ibgp.MyASN
	v6 := validPeer("v6", "2001:db8::2")
	dual := validPeer("dual", "10.0.0.4")
	dual.DualStackAddressFamily = true
	dual.NextHopIPv6 = netip.MustParseAddr("2001:db8::1")
	dual6 := validPeer("dual6", "2001:db8::3")
	dual6.DualStackAddressFamily = true
	dual6.NextHopIPv4 = netip.MustParseAddr("10.9.9.9")
	dualNoNextHop := validPeer("dual", "10.0.0.4")
	dualNoNextHop.DualStackAddressFamily = true
	unnumbered := validPeer("tor", "fe80::1%eth1")
	unnumbered.Interface = "eth1"
	unnumbered.NextHopIPv4 = netip.MustParseAddr("10.9.9.9") // the planner's, for dual stack: unused

	pfx := netip.MustParsePrefix
	attrs := bgpspec.Attributes{LocalPref: 150, Communities: []uint32{1, 2}, LargeCommunities: []bgpspec.LargeCommunity{{GlobalAdmin: 1, LocalData1: 2, LocalData2: 3}}}
	tests := []struct {
		name    string
		peer    bgpspec.Peer
		planned bgpspec.Adverts
		want    peerAdverts
		wantErr []string
	}{
		{name: "nothing planned", peer: ebgp, want: peerAdverts{}},
		{
			name: "local preference dropped for eBGP", peer: ebgp,
			planned: bgpspec.Adverts{pfx("203.0.113.10/32"): attrs},
			want:    peerAdverts{pfx("203.0.113.10/32"): {attrs: bgpspec.Attributes{Communities: []uint32{1, 2}, LargeCommunities: []bgpspec.LargeCommunity{{GlobalAdmin: 1, LocalData1: 2, LocalData2: 3}}}}},
		},
		{
			name: "local preference kept for iBGP", peer: ibgp,
			planned: bgpspec.Adverts{pfx("203.0.113.10/32"): attrs},
			want:    peerAdverts{pfx("203.0.113.10/32"): {attrs: attrs}},
		},
		{
			name: "next hop: session address for the session's family, the node's for the other", peer: dual,
			planned: bgpspec.Adverts{pfx("2001:db8:10::/64"): {}, pfx("203.0.113.0/24"): {}},
			want:    peerAdverts{pfx("2001:db8:10::/64"): {nextHop: netip.MustParseAddr("2001:db8::1")}, pfx("203.0.113.0/24"): {}},
		},
		{
			name: "IPv6 session with IPv4 prefixes", peer: dual6,
			planned: bgpspec.Adverts{pfx("2001:db8:10::/64"): {}, pfx("203.0.113.0/24"): {}},
			want:    peerAdverts{pfx("2001:db8:10::/64"): {}, pfx("203.0.113.0/24"): {nextHop: netip.MustParseAddr("10.9.9.9")}},
		},
		{
			name: "unnumbered: both families, the session's link-local address as next hop (RFC 8950 for IPv4)", peer: unnumbered,
			planned: bgpspec.Adverts{pfx("2001:db8:10::1/128"): {}, pfx("203.0.113.10/32"): {}},
			want:    peerAdverts{pfx("2001:db8:10::1/128"): {}, pfx("203.0.113.10/32"): {}},
		},
		{
			name: "family not carried: left out, the rest kept", peer: ebgp,
			planned: bgpspec.Adverts{pfx("2001:db8::10/128"): {}, pfx("203.0.113.10/32"): {}},
			want:    peerAdverts{pfx("203.0.113.10/32"): {}},
			wantErr: []string{"route 2001:db8::10/128: the session to 10.0.0.2 does not carry this address family"},
		},
		{
			name: "dual stack without a next hop of the other family", peer: dualNoNextHop,
			planned: bgpspec.Adverts{pfx("2001:db8::10/128"): {}},
			want:    peerAdverts{},
			wantErr: []string{"no next hop of this family"},
		},
		{
			name: "malformed prefixes", peer: v6,
			planned: bgpspec.Adverts{pfx("2001:db8::10/64"): {}, {}: {}},
			want:    peerAdverts{},
			wantErr: []string{"route 2001:db8::10/64: not a masked IPv4 or IPv6 prefix", "route invalid Prefix: not a masked"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := advertsFor(tt.peer, tt.planned)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("advertsFor() =\n%+v\nwant\n%+v", got, tt.want)
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("advertsFor() error = %v", err)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("advertsFor() error = %v, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestDiffAdverts(t *testing.T) {
	pfx := netip.MustParsePrefix
	a1 := advert{attrs: bgpspec.Attributes{Communities: []uint32{1}}}
	a2 := advert{attrs: bgpspec.Attributes{Communities: []uint32{2}}}
	lp := advert{attrs: bgpspec.Attributes{Communities: []uint32{1}, LocalPref: 200}}
	tests := []struct {
		name             string
		applied, desired peerAdverts
		wantAnnounce     map[netip.Prefix]advert
		wantWithdraw     []netip.Prefix
	}{
		{name: "both empty", wantAnnounce: map[netip.Prefix]advert{}},
		{
			name:         "unchanged adverts are not re-sent",
			applied:      peerAdverts{pfx("203.0.113.1/32"): a1, pfx("203.0.113.2/32"): a2},
			desired:      peerAdverts{pfx("203.0.113.1/32"): {attrs: bgpspec.Attributes{Communities: []uint32{1}}}, pfx("203.0.113.2/32"): a2},
			wantAnnounce: map[netip.Prefix]advert{},
		},
		{
			name:         "new, changed and removed",
			applied:      peerAdverts{pfx("203.0.113.1/32"): a1, pfx("203.0.113.2/32"): a1, pfx("203.0.113.3/32"): a1, pfx("203.0.113.0/32"): a1},
			desired:      peerAdverts{pfx("203.0.113.1/32"): a1, pfx("203.0.113.2/32"): lp, pfx("203.0.113.4/32"): a2},
			wantAnnounce: map[netip.Prefix]advert{pfx("203.0.113.2/32"): lp, pfx("203.0.113.4/32"): a2},
			wantWithdraw: []netip.Prefix{pfx("203.0.113.0/32"), pfx("203.0.113.3/32")},
		},
		{
			name:         "next hop change re-advertises",
			applied:      peerAdverts{pfx("2001:db8::1/128"): {}},
			desired:      peerAdverts{pfx("2001:db8::1/128"): {nextHop: netip.MustParseAddr("2001:db8::9")}},
			wantAnnounce: map[netip.Prefix]advert{pfx("2001:db8::1/128"): {nextHop: netip.MustParseAddr("2001:db8::9")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffAdverts(tt.applied, tt.desired)
			if !reflect.DeepEqual(got.announce, tt.wantAnnounce) || !reflect.DeepEqual(got.withdraw, tt.wantWithdraw) {
				t.Errorf("diffAdverts() = announce %v withdraw %v, want announce %v withdraw %v", got.announce, got.withdraw, tt.wantAnnounce, tt.wantWithdraw)
			}
			if got.empty() != (len(tt.wantAnnounce) == 0 && len(tt.wantWithdraw) == 0) {
				t.Errorf("empty() = %v", got.empty())
			}
		})
	}
}
