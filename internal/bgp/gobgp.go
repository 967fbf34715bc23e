package bgp

import (
	"fmt"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// serverASN is the AS number of the embedded gobgp server itself. Every neighbour sets
// its own local AS (Peer.MyASN), so this value is never sent; gobgp only needs a
// non-zero one to start.
const serverASN = 64512

// vrfAdmin is the administrator field of the route distinguishers and route targets
// of the per-peer VRFs. These VRFs never leave the process (no VPN family is ever
// negotiated), so the value only has to be consistent.
const vrfAdmin = 65535

var (
	familyIPv4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	familyIPv6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

// vrfFor describes the gobgp VRF that holds one peer's paths. Its route target is
// imported by that peer's neighbour only, which is how a path reaches exactly one peer.
func vrfFor(name string, id uint32) (*api.Vrf, error) {
	rd, err := apiutil.MarshalRD(bgp.NewRouteDistinguisherTwoOctetAS(vrfAdmin, id))
	if err != nil {
		return nil, fmt.Errorf("route distinguisher for %s: %w", name, err)
	}
	rt, err := apiutil.MarshalRT(bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, vrfAdmin, id, true))
	if err != nil {
		return nil, fmt.Errorf("route target for %s: %w", name, err)
	}
	// Id stays 0: gobgp uses VRF ids only for zebra, and for every path it changes it
	// tests each VRF with a non-zero id against the path (a regexp compilation each).
	return &api.Vrf{Name: name, Rd: rd, ImportRt: []*anypb.Any{rt}, ExportRt: []*anypb.Any{rt}}, nil
}

// neighborFor is the gobgp neighbour configuration of a peer bound to its VRF,
// offering restartTime when the peer has graceful restart.
// An unnumbered peer is given by its interface and the link-local address
// (with the interface as zone) SetPeers found there, which gobgp keys the
// neighbour by; gobgp looks the router up again on the interface the same
// way, dials it from the interface's own link-local address (the kernel's
// choice for a link-local destination) and, as for
// every IPv4 session, offers the extended next hop capability (RFC 8950),
// so IPv4 prefixes go with that IPv6 next hop.
func neighborFor(p bgpspec.Peer, vrf string, restartTime time.Duration) *api.Peer {
	families := []*api.Family{familyIPv4}
	switch {
	case p.DualStackAddressFamily, p.Unnumbered():
		families = []*api.Family{familyIPv4, familyIPv6}
	case p.Address.Is6():
		families = []*api.Family{familyIPv6}
	}
	afiSafis := make([]*api.AfiSafi, 0, len(families))
	for _, f := range families {
		afiSafis = append(afiSafis, &api.AfiSafi{
			Config:            &api.AfiSafiConfig{Family: f, Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: p.GracefulRestart}},
		})
	}
	transport := &api.Transport{RemotePort: uint32(port(p))}
	switch {
	case p.SourceAddress.IsValid():
		transport.LocalAddress = p.SourceAddress.String()
	case p.Unnumbered():
		// Left empty, gobgp would take the interface's link-local address
		// with its zone as local address, which it then fails to parse and
		// advertises "::" as next hop. "::" makes it take the connection's
		// own address (the same link-local address) instead.
		transport.LocalAddress = netip.IPv6Unspecified().String()
	}
	n := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress:   p.Address.String(),
			NeighborInterface: p.Interface,
			PeerAsn:           p.PeerASN,
			LocalAsn:          p.MyASN,
			AuthPassword:      p.Password,
			Description:       p.Name,
			Vrf:               vrf,
		},
		Transport: transport,
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      uint64(connectTime(p) / time.Second),
			HoldTime:          uint64(holdTime(p) / time.Second),
			KeepaliveInterval: uint64(keepaliveTime(p) / time.Second),
			// Only a BFD failure resets a session (resetForBFD): dial again
			// as after any failure, not after gobgp's 30 s default.
			IdleHoldTimeAfterReset: uint64(connectTime(p) / time.Second),
		}},
		AfiSafis: afiSafis,
	}
	if p.EBGPMultiHop && !p.IsInternal() {
		n.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: multiHopTTL}
	}
	if p.GracefulRestart {
		n.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(restartTime / time.Second)}
	}
	return n
}

// pathFor is the gobgp path advertising (or, with withdraw, withdrawing) prefix with a's attributes.
func pathFor(prefix netip.Prefix, a advert, withdraw bool) (*api.Path, error) {
	var nlri bgp.AddrPrefixInterface
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if prefix.Addr().Is4() {
		nlri = bgp.NewIPAddrPrefix(uint8(prefix.Bits()), prefix.Addr().String())
		nextHop := netip.IPv4Unspecified()
		if a.nextHop.IsValid() {
			nextHop = a.nextHop
		}
		attrs = append(attrs, bgp.NewPathAttributeNextHop(nextHop.String()))
	} else {
		nlri = bgp.NewIPv6AddrPrefix(uint8(prefix.Bits()), prefix.Addr().String())
		nextHop := netip.IPv6Unspecified()
		if a.nextHop.IsValid() {
			nextHop = a.nextHop
		}
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(nextHop.String(), []bgp.AddrPrefixInterface{nlri}))
	}
	if a.attrs.LocalPref != 0 {
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(a.attrs.LocalPref))
	}
	if len(a.attrs.Communities) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(a.attrs.Communities))
	}
	if len(a.attrs.LargeCommunities) > 0 {
		large := make([]*bgp.LargeCommunity, 0, len(a.attrs.LargeCommunities))
		for _, c := range a.attrs.LargeCommunities {
			large = append(large, bgp.NewLargeCommunity(c.GlobalAdmin, c.LocalData1, c.LocalData2))
		}
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(large))
	}
	path, err := apiutil.NewPath(nlri, withdraw, attrs, time.Now())
	if err != nil {
		return nil, fmt.Errorf("bgp route %s: encoding path: %w", prefix, err)
	}
	return path, nil
}
