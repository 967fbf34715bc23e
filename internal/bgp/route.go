package bgp

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// LargeCommunity is a BGP large community (RFC 8092), written GlobalAdmin:LocalData1:LocalData2.
type LargeCommunity struct {
	GlobalAdmin, LocalData1, LocalData2 uint32
}

// String formats the community as "a:b:c".
func (c LargeCommunity) String() string {
	return fmt.Sprintf("%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2)
}

func compareLargeCommunities(a, b LargeCommunity) int {
	return cmp.Or(cmp.Compare(a.GlobalAdmin, b.GlobalAdmin), cmp.Compare(a.LocalData1, b.LocalData1), cmp.Compare(a.LocalData2, b.LocalData2))
}

// Route is one prefix to advertise to the named peers with the given attributes.
// The same prefix may appear in several Routes with different attributes as long as
// no peer is listed twice for it.
type Route struct {
	// Prefix is the advertised prefix (a service IP as /32 or /128, or an aggregate).
	Prefix netip.Prefix
	// Peers are the names of the peers (Peer.Name) the prefix is advertised to.
	Peers []string
	// LocalPref is sent to iBGP peers only; 0 leaves the receiver's default (100).
	LocalPref uint32
	// Communities are standard communities (RFC 1997), high 16 bits ASN, low 16 bits value.
	Communities []uint32
	// LargeCommunities are large communities (RFC 8092).
	LargeCommunities []LargeCommunity
	// NextHop, if set, overrides the next hop for every listed peer; it must be of the
	// prefix's family. Unset, the next hop is the session's local address, or the peer's
	// NextHopIPv4/NextHopIPv6 for the other family.
	NextHop netip.Addr
}

// advert is what one peer is told about one prefix: the path attributes we control.
type advert struct {
	nextHop          netip.Addr // zero: the session's local address
	localPref        uint32     // zero: not sent (eBGP) or the default (iBGP)
	communities      []uint32   // sorted, without duplicates
	largeCommunities []LargeCommunity
}

func (a advert) equal(b advert) bool {
	return a.nextHop == b.nextHop && a.localPref == b.localPref &&
		slices.Equal(a.communities, b.communities) && slices.Equal(a.largeCommunities, b.largeCommunities)
}

// peerAdverts maps each prefix to what one peer is told about it.
type peerAdverts map[netip.Prefix]advert

// resolveAdverts turns routes into, per peer name, the adverts that peer must receive.
// Every peer in peers gets an entry, possibly empty. It refuses unknown peers, peers
// that do not carry the prefix's family, a peer listed twice for one prefix, and
// malformed prefixes or next hops.
func resolveAdverts(routes []Route, peers map[string]Peer) (map[string]peerAdverts, error) {
	byPeer := make(map[string]peerAdverts, len(peers))
	for name := range peers {
		byPeer[name] = peerAdverts{}
	}
	var errs []error
	for _, r := range routes {
		if err := r.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		communities := sortedUnique(r.Communities, cmp.Compare[uint32])
		large := sortedUnique(r.LargeCommunities, compareLargeCommunities)
		for _, name := range r.Peers {
			p, ok := peers[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("bgp route %s: peers: no peer named %q", r.Prefix, name))
				continue
			case !p.Carries(r.Prefix.Addr()):
				errs = append(errs, fmt.Errorf("bgp route %s: peers: peer %q does not carry this address family (session to %s without dualStackAddressFamily)", r.Prefix, name, p.Address))
				continue
			}
			if _, dup := byPeer[name][r.Prefix]; dup {
				errs = append(errs, fmt.Errorf("bgp route %s: peers: peer %q is listed for this prefix more than once", r.Prefix, name))
				continue
			}
			a := advert{nextHop: nextHopFor(r, p), communities: communities, largeCommunities: large}
			if p.IsInternal() {
				a.localPref = r.LocalPref
			}
			byPeer[name][r.Prefix] = a
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return byPeer, nil
}

// validate checks a route on its own.
func (r Route) validate() error {
	switch {
	case !r.Prefix.IsValid():
		return fmt.Errorf("bgp route %v: prefix: not a valid prefix", r.Prefix)
	case r.Prefix != r.Prefix.Masked():
		return fmt.Errorf("bgp route %s: prefix: has host bits set (want %s)", r.Prefix, r.Prefix.Masked())
	case r.Prefix.Addr().Is4In6() || r.Prefix.Addr().Zone() != "":
		return fmt.Errorf("bgp route %s: prefix: IPv4-mapped or zoned addresses are not advertised", r.Prefix)
	case r.NextHop.IsValid() && r.NextHop.Is4() != r.Prefix.Addr().Is4():
		return fmt.Errorf("bgp route %s: nextHop: %s is not of the prefix's address family", r.Prefix, r.NextHop)
	case r.NextHop.IsValid() && (r.NextHop.IsUnspecified() || r.NextHop.IsLinkLocalUnicast()):
		return fmt.Errorf("bgp route %s: nextHop: %s is not a usable next hop", r.Prefix, r.NextHop)
	}
	return nil
}

// nextHopFor picks the next hop advertised for r to p; zero means the session's local address.
func nextHopFor(r Route, p Peer) netip.Addr {
	switch {
	case r.NextHop.IsValid():
		return r.NextHop
	case r.Prefix.Addr().Is4() == p.Address.Is4():
		return netip.Addr{}
	case r.Prefix.Addr().Is4():
		return p.NextHopIPv4
	default:
		return p.NextHopIPv6
	}
}

// sortedUnique returns a sorted copy of s without duplicates (nil for empty input).
func sortedUnique[T comparable](s []T, compare func(a, b T) int) []T {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.SortFunc(out, compare)
	return slices.Compact(out)
}

// advertDiff is what must be sent to one peer to go from applied to desired adverts.
type advertDiff struct {
	announce map[netip.Prefix]advert // new or changed
	withdraw []netip.Prefix          // no longer advertised
}

func (d advertDiff) empty() bool { return len(d.announce) == 0 && len(d.withdraw) == 0 }

// diffAdverts returns only the prefixes whose advert appeared, changed or disappeared.
func diffAdverts(applied, desired peerAdverts) advertDiff {
	d := advertDiff{announce: map[netip.Prefix]advert{}}
	for prefix, want := range desired {
		if have, ok := applied[prefix]; !ok || !have.equal(want) {
			d.announce[prefix] = want
		}
	}
	for prefix := range applied {
		if _, ok := desired[prefix]; !ok {
			d.withdraw = append(d.withdraw, prefix)
		}
	}
	slices.SortFunc(d.withdraw, netip.Prefix.Compare)
	return d
}
