// Package bgpspec is the vocabulary in which the planner (package announce)
// tells the BGP shell (package bgp) what one node does over BGP: the
// sessions it keeps and, per peer, the prefixes it advertises with their
// attributes. It holds plain data and no rules: package config judges the
// BGPPeers and BGPAdvertisements, package announce resolves them for a node,
// and package bgp converts what it is given into GoBGP calls.
package bgpspec

import (
	"fmt"
	"net/netip"
	"time"
)

// Peer is one BGP session a node keeps: a BGPPeer resolved for the node.
// The speaker always dials out; it never accepts inbound connections.
type Peer struct {
	// Name identifies the peer ("namespace/name" or the BGPPeer's name);
	// Routes are keyed by it.
	Name string
	// MyASN and PeerASN are the local and remote AS numbers; equal means
	// iBGP. PeerASN 0 (dynamicASN external) takes the router's AS from its
	// OPEN, and refuses the session when that AS is MyASN.
	MyASN, PeerASN uint32
	// Address is the peer's IP; Port the TCP port dialled (0: 179).
	// For an unnumbered peer the planner leaves it zero and the BGP shell
	// fills in the router's IPv6 link-local address found on Interface
	// (with that zone).
	Address netip.Addr
	// Interface, when set, makes the session unnumbered (BGPPeer
	// spec.interface): it runs over the IPv6 link-local addresses of this
	// node interface, a point-to-point link to the router, and carries both
	// families, IPv4 prefixes with an IPv6 next hop (RFC 8950).
	Interface string
	Port      uint16
	// SourceAddress, if set, is the local address the session is dialled from.
	SourceAddress netip.Addr
	// HoldTime and KeepaliveTime are proposed in OPEN, in whole seconds;
	// ConnectTime is the wait between connection attempts. Zero values take
	// the BGP layer's defaults (90s, a third of the hold time, 10s).
	HoldTime, KeepaliveTime, ConnectTime time.Duration
	// EBGPMultiHop sends eBGP packets with TTL 255 instead of 1.
	EBGPMultiHop bool
	// Password enables TCP-MD5 (RFC 2385) on the session.
	Password string
	// DualStackAddressFamily carries both IPv4 and IPv6 prefixes on this one
	// session; NextHopIPv4 or NextHopIPv6 is then the node's address used as
	// next hop for the family other than the session's.
	DualStackAddressFamily   bool
	NextHopIPv4, NextHopIPv6 netip.Addr
	// GracefulRestart offers the graceful restart capability (RFC 4724).
	GracefulRestart bool
	// BFD, when its Profile is set, is the BFD session (RFC 5880, single
	// hop) kept with the peer; its failure resets the BGP session.
	BFD BFD
}

// BFD is a BFDProfile as one session uses it; the zero value is no BFD.
type BFD struct {
	// Profile is the BFDProfile's name.
	Profile string
	// ReceiveInterval is the least interval between received control
	// packets the node accepts; TransmitInterval the least it sends at.
	ReceiveInterval, TransmitInterval time.Duration
	// DetectMultiplier is how many packets may be lost before the session fails.
	DetectMultiplier uint8
	// PassiveMode waits for the peer's first packet before sending.
	PassiveMode bool
}

// Enabled reports whether the session uses BFD.
func (b BFD) Enabled() bool { return b.Profile != "" }

// IsInternal reports whether the session is iBGP.
func (p Peer) IsInternal() bool { return p.MyASN == p.PeerASN }

// DynamicExternal reports whether the router's AS is taken from its OPEN,
// any AS but MyASN (dynamicASN external).
func (p Peer) DynamicExternal() bool { return p.PeerASN == 0 }

// Unnumbered reports whether the session runs over Interface's link-local
// addresses rather than to a configured address.
func (p Peer) Unnumbered() bool { return p.Interface != "" }

// Carries reports whether prefixes of addr's family are advertised on this
// session: both families on an unnumbered or dual-stack session, else the
// family of the peer's address.
func (p Peer) Carries(addr netip.Addr) bool {
	return p.Unnumbered() || p.DualStackAddressFamily || addr.Is4() == p.Address.Is4()
}

// LargeCommunity is a BGP large community (RFC 8092), written GlobalAdmin:LocalData1:LocalData2.
type LargeCommunity struct {
	GlobalAdmin, LocalData1, LocalData2 uint32
}

// String formats the community as "a:b:c".
func (c LargeCommunity) String() string {
	return fmt.Sprintf("%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2)
}

// Attributes are the path attributes one peer receives a prefix with.
type Attributes struct {
	// LocalPref is sent to iBGP peers only; 0 leaves the receiver's default (100).
	LocalPref uint32
	// Communities are standard communities (RFC 1997): high 16 bits ASN,
	// low 16 bits value. Sorted, without duplicates.
	Communities []uint32
	// LargeCommunities are large communities (RFC 8092), sorted, without duplicates.
	LargeCommunities []LargeCommunity
}

// Adverts are the prefixes one peer receives, with their attributes.
type Adverts map[netip.Prefix]Attributes

// Routes are, per peer name, the prefixes that peer receives.
type Routes map[string]Adverts
