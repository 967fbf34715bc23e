// Package config turns the metallb.io objects of a cluster (plus the Secrets
// they refer to) into one immutable, fully validated Config. It is the single
// place where configuration is checked: the controller, the speakers, the
// admission webhook and `controller validate` all call Build, so a config is
// accepted or refused with the same words everywhere.
//
// Build is a pure function. A refused configuration yields Errors, each
// naming the object (kind/namespace/name) and field at fault.
package config

import (
	"net/netip"
	"slices"
	"time"

	"go4.org/netipx"
	"k8s.io/apimachinery/pkg/labels"
)

// Config is a validated configuration. It must be treated as read-only: it is
// shared between goroutines and compared across versions.
type Config struct {
	// Pools by name.
	Pools map[string]*Pool
	// L2Advertisements sorted by name.
	L2Advertisements []*L2Advertisement
	// BGPAdvertisements sorted by name.
	BGPAdvertisements []*BGPAdvertisement
	// Peers by name.
	Peers map[string]*Peer
	// BFDProfiles by name.
	BFDProfiles map[string]*BFDProfile
}

// Pool is a validated IPAddressPool.
type Pool struct {
	Name   string
	Labels map[string]string
	// Ranges are the pool's addresses, sorted, one per spec.addresses entry.
	Ranges        []netipx.IPRange
	AutoAssign    bool
	AvoidBuggyIPs bool
	// Priority orders pools for allocation: lower is tried first, and 0
	// (unset) comes after every set priority.
	Priority int
	// Namespaces, NamespaceSelectors and ServiceSelectors restrict which
	// Services may take addresses from the pool (serviceAllocation).
	Namespaces         []string
	NamespaceSelectors Selectors
	ServiceSelectors   Selectors
}

// HasFamily reports whether the pool holds addresses of the given family
// (true for IPv4, false for IPv6).
func (p *Pool) HasFamily(ipv4 bool) bool {
	for _, r := range p.Ranges {
		if r.From().Is4() == ipv4 {
			return true
		}
	}
	return false
}

// Contains reports whether ip is one of the pool's addresses.
func (p *Pool) Contains(ip netip.Addr) bool {
	for _, r := range p.Ranges {
		if r.Contains(ip) {
			return true
		}
	}
	return false
}

// L2Advertisement is a validated L2Advertisement with its pools resolved.
type L2Advertisement struct {
	Name string
	// Pools are the names of the pools announced, sorted.
	Pools            []string
	NodeSelectors    Selectors
	Interfaces       []string
	ServiceSelectors Selectors
	// PreferredNodes rank the eligible nodes.
	PreferredNodes []WeightedSelector
}

// WeightedSelector adds Weight to the preference of the nodes it selects.
type WeightedSelector struct {
	Weight   int32
	Selector labels.Selector
}

// BGPAdvertisement is a validated BGPAdvertisement with its pools, peers and
// communities resolved.
type BGPAdvertisement struct {
	Name string
	// Pools are the names of the pools advertised, sorted.
	Pools []string
	// AggregationLength and AggregationLengthV6 are the prefix lengths
	// advertised for each family.
	AggregationLength   int
	AggregationLengthV6 int
	LocalPref           uint32
	// Communities are resolved from literals and Community aliases, in the
	// order given.
	Communities []Community
	// Peers are the names of the peers the routes go to, sorted; empty
	// means every peer.
	Peers            []string
	NodeSelectors    Selectors
	ServiceSelectors Selectors
}

// Peer is a validated BGPPeer.
type Peer struct {
	Name  string
	MyASN uint32
	// PeerASN is the router's AS; 0 with dynamicASN external: any AS but
	// the local one, taken from the router's OPEN (dynamicASN internal
	// sets it to MyASN).
	PeerASN uint32
	// LocalASN, when not 0, is the ASN presented to this peer instead of
	// MyASN.
	LocalASN uint32
	// Address is the peer's address; zero for an unnumbered peer.
	Address netip.Addr
	// Interface, for an unnumbered peer (spec.interface), is the node
	// interface whose IPv6 link-local neighbour is the peer.
	Interface string
	Port      uint16
	// SourceAddress is the local address of the session; invalid (zero)
	// means chosen by the kernel.
	SourceAddress netip.Addr
	// RouterID overrides the router ID; invalid (zero) means the node's.
	RouterID      netip.Addr
	HoldTime      time.Duration
	KeepaliveTime time.Duration
	ConnectTime   time.Duration
	NodeSelectors Selectors
	// Password is the TCP MD5 password, from spec.password or the
	// referenced Secret.
	Password        string
	GracefulRestart bool
	EBGPMultiHop    bool
	// BFD is the BFDProfile the session uses; nil: none.
	BFD *BFDProfile
	// DualStackAddressFamily carries both families on one session.
	// (spec.disableMP, deprecated by MetalLB in its favour, changes nothing:
	// a session carries only its own family unless this is set.)
	DualStackAddressFamily bool
}

// IsInternal reports whether the session is iBGP.
func (p *Peer) IsInternal() bool {
	local := p.MyASN
	if p.LocalASN != 0 {
		local = p.LocalASN
	}
	return local == p.PeerASN
}

// BFDProfile is a validated BFDProfile, with defaults filled in.
type BFDProfile struct {
	Name             string
	ReceiveInterval  time.Duration
	TransmitInterval time.Duration
	DetectMultiplier uint32
	PassiveMode      bool
	// MinimumTTL is validated as MetalLB does; single-hop sessions require
	// TTL 255 regardless (RFC 5881 §5), and multi-hop is refused.
	MinimumTTL uint32
}

// Selectors is a list of label selectors that match when any of them does;
// an empty list matches everything.
type Selectors []labels.Selector

// canonical returns the selectors in their canonical text form, sorted.
func (s Selectors) canonical() []string {
	out := make([]string, len(s))
	for i, sel := range s {
		out[i] = sel.String()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Matches reports whether set is selected.
func (s Selectors) Matches(set labels.Set) bool {
	if len(s) == 0 {
		return true
	}
	for _, sel := range s {
		if sel.Matches(set) {
			return true
		}
	}
	return false
}
