package bgp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

func TestResolveUnnumbered(t *testing.T) {
	unnumbered := func(name, iface string) bgpspec.Peer {
		return bgpspec.Peer{Name: name, MyASN: 64512, PeerASN: 64500, Interface: iface}
	}
	withAddress := func(p bgpspec.Peer, addr string) bgpspec.Peer {
		p.Address = netip.MustParseAddr(addr)
		return p
	}
	routers := map[string]string{"eth1": "fe80::1", "eth3": "10.0.0.1"} // eth2: none found
	lookup := func(iface string) (netip.Addr, error) {
		if addr, ok := routers[iface]; ok {
			return netip.MustParseAddr(addr), nil
		}
		return netip.Addr{}, errors.New("no ipv6 link-local neighbor found")
	}
	numbered := validPeer("numbered", "10.0.0.2")
	tests := []struct {
		name       string
		desired    []bgpspec.Peer
		applied    map[string]bgpspec.Peer
		want       []bgpspec.Peer
		wantFailed map[string]string
	}{
		{
			name:    "numbered peers pass unchanged",
			desired: []bgpspec.Peer{numbered},
			want:    []bgpspec.Peer{numbered},
		},
		{
			name:    "router found: its link-local address with the interface as zone",
			desired: []bgpspec.Peer{unnumbered("tor", "eth1"), numbered},
			want:    []bgpspec.Peer{withAddress(unnumbered("tor", "eth1"), "fe80::1%eth1"), numbered},
		},
		{
			name:       "no router yet: left out with an error, the others kept",
			desired:    []bgpspec.Peer{unnumbered("tor", "eth2"), numbered},
			want:       []bgpspec.Peer{numbered},
			wantFailed: map[string]string{"tor": "unnumbered session over interface eth2: no router found there (no ipv6 link-local neighbor found)"},
		},
		{
			name:    "router gone from the table: an applied session keeps its address",
			desired: []bgpspec.Peer{unnumbered("tor", "eth2")},
			applied: map[string]bgpspec.Peer{"tor": withAddress(unnumbered("tor", "eth2"), "fe80::7%eth2")},
			want:    []bgpspec.Peer{withAddress(unnumbered("tor", "eth2"), "fe80::7%eth2")},
		},
		{
			name:       "moved to an interface without router: not kept",
			desired:    []bgpspec.Peer{unnumbered("tor", "eth2")},
			applied:    map[string]bgpspec.Peer{"tor": withAddress(unnumbered("tor", "eth1"), "fe80::1%eth1")},
			want:       []bgpspec.Peer{},
			wantFailed: map[string]string{"tor": "no router found there"},
		},
		{
			name:    "router replaced: the new address",
			desired: []bgpspec.Peer{unnumbered("tor", "eth1")},
			applied: map[string]bgpspec.Peer{"tor": withAddress(unnumbered("tor", "eth1"), "fe80::7%eth1")},
			want:    []bgpspec.Peer{withAddress(unnumbered("tor", "eth1"), "fe80::1%eth1")},
		},
		{
			name:       "lookup answers no link-local address",
			desired:    []bgpspec.Peer{unnumbered("tor", "eth3")},
			want:       []bgpspec.Peer{},
			wantFailed: map[string]string{"tor": "10.0.0.1 is not an IPv6 link-local address"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, failed := resolveUnnumbered(tt.desired, tt.applied, lookup)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("peers = %+v, want %+v", got, tt.want)
			}
			if len(failed) != len(tt.wantFailed) {
				t.Fatalf("failed = %v, want %v", failed, tt.wantFailed)
			}
			for name, want := range tt.wantFailed {
				if err := failed[name]; err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("failed[%s] = %v, want it to contain %q", name, err, want)
				}
			}
		})
	}
}

// An unnumbered neighbour is given to gobgp by its interface and resolved
// link-local address, dialled from the interface's own (the kernel's choice:
// local address ::), with both families.
func TestNeighborForUnnumbered(t *testing.T) {
	p := bgpspec.Peer{Name: "tor", MyASN: 64512, PeerASN: 64500, Interface: "eth1", Address: netip.MustParseAddr("fe80::1%eth1")}
	n := neighborFor(p, "peer-1", GracefulRestartTime)
	if got := n.GetConf().GetNeighborAddress(); got != "fe80::1%eth1" {
		t.Errorf("NeighborAddress = %q, want fe80::1%%eth1", got)
	}
	if got := n.GetConf().GetNeighborInterface(); got != "eth1" {
		t.Errorf("NeighborInterface = %q, want eth1", got)
	}
	if got := n.GetTransport().GetLocalAddress(); got != "::" {
		t.Errorf("LocalAddress = %q, want :: (the connection's address: the interface's link-local one)", got)
	}
	var families []*api.Family
	for _, a := range n.GetAfiSafis() {
		families = append(families, a.GetConfig().GetFamily())
	}
	if len(families) != 2 || !proto.Equal(families[0], familyIPv4) || !proto.Equal(families[1], familyIPv6) {
		t.Errorf("families = %v, want IPv4 and IPv6 unicast", families)
	}
}
