package announce

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/ironlb/ironlb/internal/bgpspec"
	"github.com/ironlb/ironlb/internal/config"
)

// BGPPlan is what one node does over BGP.
type BGPPlan struct {
	// RouterID is the node's BGP identifier (see routerIDOf).
	RouterID netip.Addr
	// Peers are the sessions the node keeps, sorted by name.
	Peers []bgpspec.Peer
	// Routes are, per peer, the prefixes advertised and their attributes.
	Routes bgpspec.Routes
	// Services lists, by key, the services advertised from this node (for
	// ServiceBGPStatus and metrics).
	Services map[string]AdvertisedService
	// Problems are the BGPPeers selecting this node that it cannot serve as
	// configured, sorted by peer: left out, or served in part.
	Problems []PeerProblem
}

// PeerProblem is why a BGPPeer that selects a node is left out on that node
// (Refused) or served in part. It depends on the node, so the configuration
// accepted the BGPPeer; the other peers are served regardless.
type PeerProblem struct {
	Peer    string
	Refused bool
	Reason  string
}

// AdvertisedService is what one node advertises of one service.
type AdvertisedService struct {
	// IPs are the service's addresses covered by a route.
	IPs []netip.Addr
	// Peers are the peers receiving those routes, sorted.
	Peers []string
}

// serviceRoutes is what one service adds to a node's BGP plan.
type serviceRoutes struct {
	advertised AdvertisedService
	routes     []route
}

// route is one prefix an advertisement sends to a peer.
type route struct {
	peerPrefix
	adv *config.BGPAdvertisement
}

// peerPrefix is one prefix advertised to one peer.
type peerPrefix struct {
	peer   string
	prefix netip.Prefix
}

// routesOf returns what svc adds to the BGP plan: its prefixes to each peer
// of the advertisements that announce it.
func routesOf(cfg *config.Config, svc *Service, adverts []nodeAdvert, sessions map[string]bgpspec.Peer) serviceRoutes {
	var out serviceRoutes
	for _, ip := range svc.IPs {
		pool := poolOf(cfg, ip)
		if pool == nil {
			continue
		}
		advertised := false
		for _, adv := range adverts {
			if !slices.Contains(adv.Pools, pool.Name) || !adv.ServiceSelectors.Matches(svc.Labels) {
				continue
			}
			length := adv.AggregationLength
			if ip.Is6() {
				length = adv.AggregationLengthV6
			}
			prefix := netip.PrefixFrom(ip, length).Masked()
			for _, peer := range adv.peers {
				if !sessions[peer].Carries(ip) {
					continue
				}
				out.routes = append(out.routes, route{peerPrefix{peer, prefix}, adv.BGPAdvertisement})
				if !slices.Contains(out.advertised.Peers, peer) {
					out.advertised.Peers = append(out.advertised.Peers, peer)
				}
				advertised = true
			}
		}
		if advertised {
			out.advertised.IPs = append(out.advertised.IPs, ip)
		}
	}
	slices.Sort(out.advertised.Peers)
	return out
}

// merge adds what adv sends with a prefix to the attributes the prefix
// already has for a peer: the highest localPref (where the configuration
// cannot tell that two advertisements conflict, see config's checkLocalPrefs)
// and the union of the communities.
func merge(a bgpspec.Attributes, adv *config.BGPAdvertisement) bgpspec.Attributes {
	a.LocalPref = max(a.LocalPref, adv.LocalPref)
	for _, c := range adv.Communities {
		if c.Large {
			a.LargeCommunities = append(a.LargeCommunities, bgpspec.LargeCommunity{GlobalAdmin: c.Global, LocalData1: c.Local1, LocalData2: c.Local2})
		} else {
			a.Communities = append(a.Communities, c.Standard)
		}
	}
	return a
}

// nodeAdvert is a BGP advertisement that applies to this node, with the
// node's peers it sends to.
type nodeAdvert struct {
	*config.BGPAdvertisement
	peers []string
}

// nodeAdverts returns the advertisements whose node selectors match self,
// each with the peers of the node it sends to: the ones it names, or all.
func nodeAdverts(cfg *config.Config, self Node, sessions map[string]bgpspec.Peer) []nodeAdvert {
	all := make([]string, 0, len(sessions))
	for name := range sessions {
		all = append(all, name)
	}
	slices.Sort(all)
	var out []nodeAdvert
	for _, adv := range cfg.BGPAdvertisements {
		if !adv.NodeSelectors.Matches(self.Labels) {
			continue
		}
		peers := all
		if len(adv.Peers) > 0 {
			peers = slices.DeleteFunc(slices.Clone(adv.Peers), func(name string) bool { _, ok := sessions[name]; return !ok })
		}
		out = append(out, nodeAdvert{BGPAdvertisement: adv, peers: peers})
	}
	return out
}

func compareLarge(a, b bgpspec.LargeCommunity) int {
	return cmp.Or(cmp.Compare(a.GlobalAdmin, b.GlobalAdmin), cmp.Compare(a.LocalData1, b.LocalData1), cmp.Compare(a.LocalData2, b.LocalData2))
}

// sortedUnique sorts s in place and drops duplicates (nil for empty input).
func sortedUnique[T comparable](s []T, compare func(a, b T) int) []T {
	if len(s) == 0 {
		return nil
	}
	slices.SortFunc(s, compare)
	return slices.Compact(s)
}

// problemf formats a PeerProblem.
func problemf(peer string, refused bool, format string, args ...any) PeerProblem {
	return PeerProblem{Peer: peer, Refused: refused, Reason: fmt.Sprintf(format, args...)}
}
