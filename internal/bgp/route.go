package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// advert is what one peer is told about one prefix: the path attributes we control.
type advert struct {
	nextHop netip.Addr // zero: the session's local address
	// attrs are the attributes as planned, LocalPref cleared for eBGP peers.
	attrs bgpspec.Attributes
}

func (a advert) equal(b advert) bool {
	return a.nextHop == b.nextHop && a.attrs.LocalPref == b.attrs.LocalPref &&
		slices.Equal(a.attrs.Communities, b.attrs.Communities) && slices.Equal(a.attrs.LargeCommunities, b.attrs.LargeCommunities)
}

// peerAdverts maps each prefix to what one peer is told about it.
type peerAdverts map[netip.Prefix]advert

// advertsFor converts the planned adverts of one peer into what gobgp is told.
// A prefix that cannot be encoded for this session (malformed, of a family
// the session does not carry, or of the other family with no next hop for
// it) is left out with an error; the others are kept.
func advertsFor(p bgpspec.Peer, planned bgpspec.Adverts) (peerAdverts, error) {
	out := make(peerAdverts, len(planned))
	var errs []error
	for prefix, attrs := range planned {
		nextHop, err := nextHopFor(prefix, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", prefix, err))
			continue
		}
		if !p.IsInternal() {
			attrs.LocalPref = 0
		}
		out[prefix] = advert{nextHop: nextHop, attrs: attrs}
	}
	return out, summarise(errs)
}

// nextHopFor returns the next hop advertised for prefix to p; zero means the
// session's local address, which on an unnumbered session is the node's
// link-local address for both families.
func nextHopFor(prefix netip.Prefix, p bgpspec.Peer) (netip.Addr, error) {
	addr := prefix.Addr()
	switch {
	case !prefix.IsValid() || prefix != prefix.Masked() || addr.Is4In6() || addr.Zone() != "":
		return netip.Addr{}, errors.New("not a masked IPv4 or IPv6 prefix")
	case !p.Carries(addr):
		return netip.Addr{}, fmt.Errorf("the session to %s does not carry this address family (no dualStackAddressFamily)", p.Address)
	case p.Unnumbered() || addr.Is4() == p.Address.Is4():
		return netip.Addr{}, nil
	case addr.Is4() && p.NextHopIPv4.Is4():
		return p.NextHopIPv4, nil
	case addr.Is6() && p.NextHopIPv6.Is6() && !p.NextHopIPv6.Is4In6():
		return p.NextHopIPv6, nil
	default:
		return netip.Addr{}, errors.New("no next hop of this family for the dual-stack session")
	}
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
