package bgp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validPeer is a minimal valid eBGP peer.
func validPeer(name, addr string) Peer {
	return Peer{Name: name, MyASN: 64500, PeerASN: 64501, Address: netip.MustParseAddr(addr)}
}

func TestPeerValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Peer)
		wantErr []string // substrings; empty means valid
	}{
		{name: "minimal", mutate: func(*Peer) {}},
		{name: "all supported fields", mutate: func(p *Peer) {
			p.Port = 1179
			p.SourceAddress = netip.MustParseAddr("10.0.0.1")
			p.RouterID = netip.MustParseAddr("10.0.0.1")
			p.HoldTime, p.KeepaliveTime, p.ConnectTime = 9*time.Second, 3*time.Second, 5*time.Second
			p.EBGPMultiHop, p.GracefulRestart, p.DisableMP = true, true, true
			p.Password = "secret"
		}},
		{name: "dual stack IPv4 session with IPv6 next hop", mutate: func(p *Peer) {
			p.DualStackAddressFamily = true
			p.NextHopIPv6 = netip.MustParseAddr("2001:db8::1")
		}},
		{name: "empty name", mutate: func(p *Peer) { p.Name = "" }, wantErr: []string{"name: must not be empty"}},
		{name: "zero ASNs", mutate: func(p *Peer) { p.MyASN, p.PeerASN = 0, 0 }, wantErr: []string{"myASN: must not be 0", "peerASN: must not be 0"}},
		{name: "no address", mutate: func(p *Peer) { p.Address = netip.Addr{} }, wantErr: []string{"peerAddress: must be a unicast IP address"}},
		{name: "unspecified address", mutate: func(p *Peer) { p.Address = netip.IPv4Unspecified() }, wantErr: []string{"peerAddress"}},
		{name: "link-local address", mutate: func(p *Peer) { p.Address = netip.MustParseAddr("fe80::1") }, wantErr: []string{"peerAddress: link-local"}},
		{name: "IPv4-mapped address", mutate: func(p *Peer) { p.Address = netip.MustParseAddr("::ffff:10.0.0.2") }, wantErr: []string{"plain IPv4 form of 10.0.0.2"}},
		{name: "source of other family", mutate: func(p *Peer) { p.SourceAddress = netip.MustParseAddr("2001:db8::1") }, wantErr: []string{"sourceAddress: 2001:db8::1 is not of the same IP family"}},
		{name: "IPv6 router ID", mutate: func(p *Peer) { p.RouterID = netip.MustParseAddr("2001:db8::1") }, wantErr: []string{"routerID"}},
		{name: "hold time too small", mutate: func(p *Peer) { p.HoldTime = 2 * time.Second }, wantErr: []string{"holdTime: 2s is below the minimum of 3s"}},
		{name: "fractional hold time", mutate: func(p *Peer) { p.HoldTime = 3500 * time.Millisecond }, wantErr: []string{"holdTime: 3.5s is not a whole number of seconds"}},
		{name: "negative connect time", mutate: func(p *Peer) { p.ConnectTime = -time.Second }, wantErr: []string{"connectTime: -1s is negative"}},
		{name: "keepalive not below hold time", mutate: func(p *Peer) { p.HoldTime, p.KeepaliveTime = 9*time.Second, 9*time.Second }, wantErr: []string{"keepaliveTime: 9s must be less than the hold time 9s"}},
		{name: "keepalive above default hold time", mutate: func(p *Peer) { p.KeepaliveTime = 2 * time.Minute }, wantErr: []string{"less than the hold time 1m30s"}},
		{name: "password too long", mutate: func(p *Peer) { p.Password = strings.Repeat("x", 81) }, wantErr: []string{"password: longer than the TCP-MD5 limit of 80 bytes"}},
		{name: "disableMP with dual stack", mutate: func(p *Peer) {
			p.DisableMP, p.DualStackAddressFamily = true, true
			p.NextHopIPv6 = netip.MustParseAddr("2001:db8::1")
		}, wantErr: []string{"disableMP: contradicts dualStackAddressFamily"}},
		{name: "dual stack IPv4 session without IPv6 next hop", mutate: func(p *Peer) { p.DualStackAddressFamily = true }, wantErr: []string{"nextHopIPv6: required"}},
		{name: "dual stack IPv6 session without IPv4 next hop", mutate: func(p *Peer) {
			p.Address = netip.MustParseAddr("2001:db8::2")
			p.DualStackAddressFamily = true
		}, wantErr: []string{"nextHopIPv4: required"}},
		{name: "next hops of wrong family", mutate: func(p *Peer) {
			p.NextHopIPv4 = netip.MustParseAddr("2001:db8::1")
			p.NextHopIPv6 = netip.MustParseAddr("10.0.0.1")
		}, wantErr: []string{"nextHopIPv4: 2001:db8::1 is not an IPv4 address", "nextHopIPv6: 10.0.0.1 is not a global IPv6 address"}},
		{name: "link-local IPv6 next hop", mutate: func(p *Peer) { p.NextHopIPv6 = netip.MustParseAddr("fe80::1") }, wantErr: []string{"nextHopIPv6"}},
		{name: "unnumbered", mutate: func(p *Peer) { p.Interface = "eth0" }, wantErr: []string{"interface: unnumbered BGP sessions are not supported"}},
		{name: "vrf", mutate: func(p *Peer) { p.VRF = "red" }, wantErr: []string{"vrf: sessions inside a VRF are not supported"}},
		{name: "bfd", mutate: func(p *Peer) { p.BFDProfile = "fast" }, wantErr: []string{"bfdProfile: BFD is not supported yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPeer("ns/router", "10.0.0.2")
			tt.mutate(&p)
			err := p.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors containing %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
			if p.Name != "" && !strings.Contains(err.Error(), `bgp peer "ns/router"`) {
				t.Errorf("error %q does not name the peer", err)
			}
		})
	}
}

func TestPeerCarries(t *testing.T) {
	v4, v6 := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name     string
		peer     Peer
		v4Routes bool
		v6Routes bool
	}{
		{"IPv4 session", validPeer("a", "10.0.0.2"), true, false},
		{"IPv6 session", validPeer("a", "2001:db8::2"), false, true},
		{"IPv4 session with disableMP", Peer{Address: netip.MustParseAddr("10.0.0.2"), DisableMP: true}, true, false},
		{"dual stack IPv4 session", Peer{Address: netip.MustParseAddr("10.0.0.2"), DualStackAddressFamily: true}, true, true},
		{"dual stack IPv6 session", Peer{Address: netip.MustParseAddr("2001:db8::2"), DualStackAddressFamily: true}, true, true},
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
	if p.port() != 179 || p.holdTime() != 90*time.Second || p.keepaliveTime() != 30*time.Second || p.connectTime() != 10*time.Second {
		t.Errorf("defaults = port %d hold %s keepalive %s connect %s", p.port(), p.holdTime(), p.keepaliveTime(), p.connectTime())
	}
	p.Port, p.HoldTime, p.ConnectTime = 1179, 9*time.Second, time.Second
	if p.port() != 1179 || p.holdTime() != 9*time.Second || p.keepaliveTime() != 3*time.Second || p.connectTime() != time.Second {
		t.Errorf("set = port %d hold %s keepalive %s connect %s", p.port(), p.holdTime(), p.keepaliveTime(), p.connectTime())
	}
}

func TestValidatePeers(t *testing.T) {
	withRouterID := func(p Peer, id string) Peer {
		p.RouterID = netip.MustParseAddr(id)
		return p
	}
	tests := []struct {
		name         string
		peers        []Peer
		wantRouterID netip.Addr
		wantErr      []string
	}{
		{name: "none"},
		{name: "two peers, no router ID", peers: []Peer{validPeer("a", "10.0.0.2"), validPeer("b", "10.0.0.3")}},
		{
			name:         "agreeing router IDs",
			peers:        []Peer{withRouterID(validPeer("a", "10.0.0.2"), "10.1.1.1"), validPeer("b", "10.0.0.3"), withRouterID(validPeer("c", "10.0.0.4"), "10.1.1.1")},
			wantRouterID: netip.MustParseAddr("10.1.1.1"),
		},
		{
			name:    "conflicting router IDs",
			peers:   []Peer{withRouterID(validPeer("a", "10.0.0.2"), "10.1.1.1"), withRouterID(validPeer("b", "10.0.0.3"), "10.2.2.2")},
			wantErr: []string{`bgp peer "b": routerID: 10.2.2.2 differs from 10.1.1.1 set by peer "a"`},
		},
		{
			name:    "duplicate name",
			peers:   []Peer{validPeer("a", "10.0.0.2"), validPeer("a", "10.0.0.3")},
			wantErr: []string{`bgp peer "a": name: listed twice`},
		},
		{
			name:    "duplicate address",
			peers:   []Peer{validPeer("a", "10.0.0.2"), validPeer("b", "10.0.0.2")},
			wantErr: []string{`bgp peer "b": peerAddress: 10.0.0.2 is also the address of peer "a"`},
		},
		{
			name:    "invalid peer among valid ones",
			peers:   []Peer{validPeer("a", "10.0.0.2"), {Name: "b"}},
			wantErr: []string{`bgp peer "b": myASN`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := validatePeers(tt.peers)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("validatePeers() error = %v", err)
				}
				if id != tt.wantRouterID {
					t.Errorf("router ID = %v, want %v", id, tt.wantRouterID)
				}
				return
			}
			if err == nil {
				t.Fatalf("validatePeers() = nil error, want %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
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
		applied map[string]Peer
		desired []Peer
		want    peerPlan
	}{
		{name: "nothing"},
		{name: "unchanged", applied: map[string]Peer{"a": a, "b": b}, desired: []Peer{b, a}},
		{name: "add", applied: map[string]Peer{"a": a}, desired: []Peer{c, a, b}, want: peerPlan{add: []Peer{b, c}}},
		{name: "remove", applied: map[string]Peer{"a": a, "b": b, "c": c}, desired: []Peer{b}, want: peerPlan{remove: []Peer{a, c}}},
		{
			name:    "change in place and move",
			applied: map[string]Peer{"a": a, "b": b, "c": c},
			desired: []Peer{c, bMoved, aSlower},
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
