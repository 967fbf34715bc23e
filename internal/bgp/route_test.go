package bgp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestResolveAdverts(t *testing.T) {
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
	peers := map[string]Peer{"ebgp": ebgp, "ibgp": ibgp, "v6": v6, "dual": dual, "dual6": dual6}

	pfx := netip.MustParsePrefix
	tests := []struct {
		name    string
		routes  []Route
		want    map[string]peerAdverts
		wantErr []string
	}{
		{
			name: "no routes: every peer has an empty set",
			want: map[string]peerAdverts{"ebgp": {}, "ibgp": {}, "v6": {}, "dual": {}, "dual6": {}},
		},
		{
			name: "local preference only for iBGP; communities sorted and deduplicated",
			routes: []Route{{
				Prefix: pfx("203.0.113.10/32"), Peers: []string{"ebgp", "ibgp"}, LocalPref: 150,
				Communities:      []uint32{65000<<16 | 2, 65000<<16 | 1, 65000<<16 | 2},
				LargeCommunities: []LargeCommunity{{1, 2, 4}, {1, 2, 3}, {1, 2, 4}},
			}},
			want: map[string]peerAdverts{
				"ebgp": {pfx("203.0.113.10/32"): {communities: []uint32{65000<<16 | 1, 65000<<16 | 2}, largeCommunities: []LargeCommunity{{1, 2, 3}, {1, 2, 4}}}},
				"ibgp": {pfx("203.0.113.10/32"): {localPref: 150, communities: []uint32{65000<<16 | 1, 65000<<16 | 2}, largeCommunities: []LargeCommunity{{1, 2, 3}, {1, 2, 4}}}},
				"v6":   {}, "dual": {}, "dual6": {},
			},
		},
		{
			name: "same prefix, different attributes for different peers",
			routes: []Route{
				{Prefix: pfx("203.0.113.10/32"), Peers: []string{"ebgp"}, Communities: []uint32{1}},
				{Prefix: pfx("203.0.113.10/32"), Peers: []string{"dual"}, Communities: []uint32{2}},
			},
			want: map[string]peerAdverts{
				"ebgp": {pfx("203.0.113.10/32"): {communities: []uint32{1}}},
				"dual": {pfx("203.0.113.10/32"): {communities: []uint32{2}}},
				"ibgp": {}, "v6": {}, "dual6": {},
			},
		},
		{
			name: "next hop: session address for the session's family, configured address for the other",
			routes: []Route{
				{Prefix: pfx("2001:db8:10::/64"), Peers: []string{"v6", "dual", "dual6"}},
				{Prefix: pfx("203.0.113.0/24"), Peers: []string{"dual", "dual6"}},
			},
			want: map[string]peerAdverts{
				"v6":    {pfx("2001:db8:10::/64"): {}},
				"dual":  {pfx("2001:db8:10::/64"): {nextHop: netip.MustParseAddr("2001:db8::1")}, pfx("203.0.113.0/24"): {}},
				"dual6": {pfx("2001:db8:10::/64"): {}, pfx("203.0.113.0/24"): {nextHop: netip.MustParseAddr("10.9.9.9")}},
				"ebgp":  {}, "ibgp": {},
			},
		},
		{
			name:   "explicit next hop overrides",
			routes: []Route{{Prefix: pfx("2001:db8:10::1/128"), Peers: []string{"v6", "dual"}, NextHop: netip.MustParseAddr("2001:db8::99")}},
			want: map[string]peerAdverts{
				"v6":   {pfx("2001:db8:10::1/128"): {nextHop: netip.MustParseAddr("2001:db8::99")}},
				"dual": {pfx("2001:db8:10::1/128"): {nextHop: netip.MustParseAddr("2001:db8::99")}},
				"ebgp": {}, "ibgp": {}, "dual6": {},
			},
		},
		{
			name:    "unknown peer",
			routes:  []Route{{Prefix: pfx("203.0.113.10/32"), Peers: []string{"nope"}}},
			wantErr: []string{`bgp route 203.0.113.10/32: peers: no peer named "nope"`},
		},
		{
			name:    "family not carried",
			routes:  []Route{{Prefix: pfx("2001:db8::10/128"), Peers: []string{"ebgp"}}},
			wantErr: []string{`bgp route 2001:db8::10/128: peers: peer "ebgp" does not carry this address family`},
		},
		{
			name: "peer listed twice for a prefix",
			routes: []Route{
				{Prefix: pfx("203.0.113.10/32"), Peers: []string{"ebgp"}},
				{Prefix: pfx("203.0.113.10/32"), Peers: []string{"ebgp"}, Communities: []uint32{1}},
			},
			wantErr: []string{`bgp route 203.0.113.10/32: peers: peer "ebgp" is listed for this prefix more than once`},
		},
		{
			name:    "host bits set",
			routes:  []Route{{Prefix: pfx("203.0.113.10/24"), Peers: []string{"ebgp"}}},
			wantErr: []string{"bgp route 203.0.113.10/24: prefix: has host bits set (want 203.0.113.0/24)"},
		},
		{
			name:    "invalid prefix",
			routes:  []Route{{Peers: []string{"ebgp"}}},
			wantErr: []string{"prefix: not a valid prefix"},
		},
		{
			name:    "next hop of the wrong family",
			routes:  []Route{{Prefix: pfx("203.0.113.10/32"), Peers: []string{"ebgp"}, NextHop: netip.MustParseAddr("2001:db8::1")}},
			wantErr: []string{"nextHop: 2001:db8::1 is not of the prefix's address family"},
		},
		{
			name:    "unusable next hop",
			routes:  []Route{{Prefix: pfx("203.0.113.10/32"), Peers: []string{"ebgp"}, NextHop: netip.IPv4Unspecified()}},
			wantErr: []string{"nextHop: 0.0.0.0 is not a usable next hop"},
		},
		{
			name: "every error is reported",
			routes: []Route{
				{Prefix: pfx("203.0.113.10/32"), Peers: []string{"x"}},
				{Prefix: pfx("203.0.113.11/32"), Peers: []string{"y"}},
			},
			wantErr: []string{`"x"`, `"y"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveAdverts(tt.routes, peers)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("resolveAdverts() = nil error, want %q", tt.wantErr)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveAdverts() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("resolveAdverts() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestDiffAdverts(t *testing.T) {
	pfx := netip.MustParsePrefix
	a1 := advert{communities: []uint32{1}}
	a2 := advert{communities: []uint32{2}}
	lp := advert{communities: []uint32{1}, localPref: 200}
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
			desired:      peerAdverts{pfx("203.0.113.1/32"): {communities: []uint32{1}}, pfx("203.0.113.2/32"): a2},
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

func TestRestrictToPeers(t *testing.T) {
	peers := map[string]Peer{"v4": validPeer("v4", "10.0.0.2"), "v6": validPeer("v6", "2001:db8::2")}
	routes := []Route{
		{Prefix: netip.MustParsePrefix("203.0.113.1/32"), Peers: []string{"v4", "gone", "v6"}},
		{Prefix: netip.MustParsePrefix("2001:db8::1/128"), Peers: []string{"v4", "v6"}},
	}
	got := restrictToPeers(routes, peers)
	if !reflect.DeepEqual(got[0].Peers, []string{"v4"}) || !reflect.DeepEqual(got[1].Peers, []string{"v6"}) {
		t.Errorf("restrictToPeers() peers = %v, %v", got[0].Peers, got[1].Peers)
	}
	if len(routes[0].Peers) != 3 {
		t.Errorf("restrictToPeers modified its input: %v", routes[0].Peers)
	}
}

func TestLargeCommunityString(t *testing.T) {
	if got := (LargeCommunity{64500, 1, 4294967295}).String(); got != "64500:1:4294967295" {
		t.Errorf("String() = %q", got)
	}
}
