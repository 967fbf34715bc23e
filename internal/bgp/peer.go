package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Defaults applied to zero-valued Peer fields.
const (
	// DefaultPort is the BGP port dialled when Peer.Port is zero.
	DefaultPort = 179
	// DefaultHoldTime is proposed when Peer.HoldTime is zero (RFC 4271's suggestion).
	DefaultHoldTime = 90 * time.Second
	// DefaultConnectTime is the wait between connection attempts when Peer.ConnectTime is zero.
	DefaultConnectTime = 10 * time.Second
	// GracefulRestartTime is the restart time offered to peers when Peer.GracefulRestart is set.
	GracefulRestartTime = 120 * time.Second
	// maxPasswordLength is the kernel's TCP-MD5 key limit (TCP_MD5SIG_MAXKEYLEN).
	maxPasswordLength = 80
	// multiHopTTL is the IP TTL used for eBGP sessions with EBGPMultiHop.
	multiHopTTL = 255
)

// Peer is one BGP session this node should keep: a BGPPeer resolved for this node.
// The speaker always dials out; it never accepts inbound connections.
type Peer struct {
	// Name identifies the peer (e.g. "metallb-system/router-a"); Route.Peers refers to it.
	Name string
	// MyASN and PeerASN are the local and remote AS numbers; equal means iBGP.
	MyASN, PeerASN uint32
	// Address is the peer's IP; Port defaults to DefaultPort.
	Address netip.Addr
	Port    uint16
	// SourceAddress, if set, is the local address the session is dialled from.
	SourceAddress netip.Addr
	// RouterID, if set, is the BGP identifier to use; all peers must agree on it.
	RouterID netip.Addr
	// HoldTime (0 → DefaultHoldTime) and KeepaliveTime (0 → HoldTime/3) are proposed in OPEN.
	HoldTime, KeepaliveTime time.Duration
	// ConnectTime is the wait between connection attempts (0 → DefaultConnectTime).
	ConnectTime time.Duration
	// EBGPMultiHop sends eBGP packets with TTL 255 instead of 1.
	EBGPMultiHop bool
	// Password enables TCP-MD5 (RFC 2385) on the session.
	Password string
	// DisableMP keeps the session to its own address family (no MP-BGP for the other family).
	DisableMP bool
	// DualStackAddressFamily carries both IPv4 and IPv6 prefixes on this one session.
	DualStackAddressFamily bool
	// GracefulRestart offers the graceful restart capability (RFC 4724) to the peer.
	GracefulRestart bool
	// NextHopIPv4 and NextHopIPv6 are this node's addresses used as next hop for prefixes
	// of the family other than the session's (needed only with DualStackAddressFamily).
	NextHopIPv4, NextHopIPv6 netip.Addr
	// Interface asks for an unnumbered session over that interface: refused (not supported).
	Interface string
	// VRF asks for a session inside a Linux VRF: refused (not supported).
	VRF string
	// BFDProfile asks for BFD on the session: refused (not supported).
	BFDProfile string
}

// IsInternal reports whether the session is iBGP.
func (p Peer) IsInternal() bool { return p.MyASN == p.PeerASN }

// Carries reports whether prefixes of addr's family are advertised on this session.
func (p Peer) Carries(addr netip.Addr) bool {
	return addr.Is4() == p.Address.Is4() || p.DualStackAddressFamily
}

// port returns the TCP port to dial.
func (p Peer) port() uint16 {
	if p.Port == 0 {
		return DefaultPort
	}
	return p.Port
}

// holdTime returns the hold time to propose.
func (p Peer) holdTime() time.Duration {
	if p.HoldTime == 0 {
		return DefaultHoldTime
	}
	return p.HoldTime
}

// keepaliveTime returns the keepalive interval to use.
func (p Peer) keepaliveTime() time.Duration {
	if p.KeepaliveTime == 0 {
		return p.holdTime() / 3
	}
	return p.KeepaliveTime
}

// connectTime returns the wait between connection attempts.
func (p Peer) connectTime() time.Duration {
	if p.ConnectTime == 0 {
		return DefaultConnectTime
	}
	return p.ConnectTime
}

// Validate checks one peer on its own; errors name the peer and the field.
func (p Peer) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("bgp peer %q: %s: %s", p.Name, field, fmt.Sprintf(format, args...)))
	}
	if p.Name == "" {
		bad("name", "must not be empty")
	}
	if p.MyASN == 0 {
		bad("myASN", "must not be 0")
	}
	if p.PeerASN == 0 {
		bad("peerASN", "must not be 0")
	}
	switch {
	case !p.Address.IsValid() || p.Address.IsUnspecified():
		bad("peerAddress", "must be a unicast IP address")
	case p.Address.Zone() != "" || p.Address.Is6() && p.Address.IsLinkLocalUnicast():
		bad("peerAddress", "link-local peers need an interface-bound session, which is not supported")
	case p.Address.Is4In6():
		bad("peerAddress", "use the plain IPv4 form of %s", p.Address.Unmap())
	}
	if p.SourceAddress.IsValid() && p.Address.IsValid() && p.SourceAddress.Is4() != p.Address.Is4() {
		bad("sourceAddress", "%s is not of the same IP family as peerAddress %s", p.SourceAddress, p.Address)
	}
	if p.RouterID.IsValid() && !p.RouterID.Is4() {
		bad("routerID", "%s is not an IPv4 address (a BGP identifier is 32 bits)", p.RouterID)
	}
	if err := wholeSeconds(p.HoldTime); err != nil {
		bad("holdTime", "%v", err)
	} else if p.HoldTime != 0 && p.HoldTime < 3*time.Second {
		bad("holdTime", "%s is below the minimum of 3s", p.HoldTime)
	}
	if err := wholeSeconds(p.KeepaliveTime); err != nil {
		bad("keepaliveTime", "%v", err)
	} else if p.KeepaliveTime != 0 && p.KeepaliveTime >= p.holdTime() {
		bad("keepaliveTime", "%s must be less than the hold time %s", p.KeepaliveTime, p.holdTime())
	}
	if err := wholeSeconds(p.ConnectTime); err != nil {
		bad("connectTime", "%v", err)
	}
	if len(p.Password) > maxPasswordLength {
		bad("password", "longer than the TCP-MD5 limit of %d bytes", maxPasswordLength)
	}
	if p.DisableMP && p.DualStackAddressFamily {
		bad("disableMP", "contradicts dualStackAddressFamily")
	}
	if p.NextHopIPv4.IsValid() && !p.NextHopIPv4.Is4() {
		bad("nextHopIPv4", "%s is not an IPv4 address", p.NextHopIPv4)
	}
	if p.NextHopIPv6.IsValid() && (!p.NextHopIPv6.Is6() || p.NextHopIPv6.Is4In6() || p.NextHopIPv6.IsLinkLocalUnicast()) {
		bad("nextHopIPv6", "%s is not a global IPv6 address", p.NextHopIPv6)
	}
	if p.DualStackAddressFamily && p.Address.IsValid() {
		if p.Address.Is4() && !p.NextHopIPv6.IsValid() {
			bad("nextHopIPv6", "required: dualStackAddressFamily on an IPv4 session needs this node's IPv6 address as next hop")
		}
		if p.Address.Is6() && !p.NextHopIPv4.IsValid() {
			bad("nextHopIPv4", "required: dualStackAddressFamily on an IPv6 session needs this node's IPv4 address as next hop")
		}
	}
	if p.Interface != "" {
		bad("interface", "unnumbered BGP sessions are not supported")
	}
	if p.VRF != "" {
		bad("vrf", "sessions inside a VRF are not supported")
	}
	if p.BFDProfile != "" {
		bad("bfdProfile", "BFD is not supported yet")
	}
	return errors.Join(errs...)
}

// wholeSeconds rejects negative durations and those with a fractional second:
// BGP timers are carried in whole seconds.
func wholeSeconds(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s is negative", d)
	}
	if d%time.Second != 0 {
		return fmt.Errorf("%s is not a whole number of seconds", d)
	}
	return nil
}

// validatePeers checks each peer and the rules that span peers: unique names and
// addresses, and one router ID. It returns the router ID the peers ask for (zero if
// none sets one).
func validatePeers(peers []Peer) (netip.Addr, error) {
	var errs []error
	names := make(map[string]bool, len(peers))
	addresses := make(map[netip.Addr]string, len(peers))
	var routerID netip.Addr
	var routerIDFrom string
	for _, p := range peers {
		if err := p.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("bgp peer %q: name: listed twice", p.Name))
		}
		names[p.Name] = true
		if other, dup := addresses[p.Address]; dup {
			errs = append(errs, fmt.Errorf("bgp peer %q: peerAddress: %s is also the address of peer %q; one session per address is supported", p.Name, p.Address, other))
		} else {
			addresses[p.Address] = p.Name
		}
		if !p.RouterID.IsValid() {
			continue
		}
		if routerID.IsValid() && routerID != p.RouterID {
			errs = append(errs, fmt.Errorf("bgp peer %q: routerID: %s differs from %s set by peer %q; all peers of a node must use the same router ID", p.Name, p.RouterID, routerID, routerIDFrom))
			continue
		}
		routerID, routerIDFrom = p.RouterID, p.Name
	}
	return routerID, errors.Join(errs...)
}

// peerPlan is what must change to go from the applied peers to the desired ones.
type peerPlan struct {
	add    []Peer
	remove []Peer
	change []peerChange
}

// peerChange is a peer whose settings changed (same name).
type peerChange struct {
	old, new Peer
}

// needsNewNeighbor reports whether the gobgp neighbour must be deleted and added again
// rather than updated in place (gobgp keys neighbours by address).
func (c peerChange) needsNewNeighbor() bool { return c.old.Address != c.new.Address }

// planPeers compares applied and desired peers by name. Unchanged peers appear nowhere.
func planPeers(applied map[string]Peer, desired []Peer) peerPlan {
	var plan peerPlan
	wanted := make(map[string]bool, len(desired))
	for _, p := range desired {
		wanted[p.Name] = true
		old, ok := applied[p.Name]
		switch {
		case !ok:
			plan.add = append(plan.add, p)
		case old != p:
			plan.change = append(plan.change, peerChange{old: old, new: p})
		}
	}
	for name, p := range applied {
		if !wanted[name] {
			plan.remove = append(plan.remove, p)
		}
	}
	byName := func(a, b Peer) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(plan.add, byName)
	slices.SortFunc(plan.remove, byName)
	slices.SortFunc(plan.change, func(a, b peerChange) int { return byName(a.new, b.new) })
	return plan
}
