package announce

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/internal/config"
)

// BGPPlan is what one node does over BGP.
type BGPPlan struct {
	// Peers are the sessions the node keeps, sorted by name.
	Peers []bgp.Peer
	// Routes are the prefixes advertised, sorted by prefix then peers.
	Routes []bgp.Route
	// Services lists, by key, the services advertised from this node (for
	// ServiceBGPStatus and metrics).
	Services map[string]AdvertisedService
	// Conflicts explain the peers left out because an earlier one (by
	// name) selects this node for the same address and port.
	Conflicts []string
}

// AdvertisedService is what one node advertises of one service.
type AdvertisedService struct {
	// IPs are the service's addresses covered by a route.
	IPs []netip.Addr
	// Peers are the peers receiving those routes, sorted.
	Peers []string
}

func planBGP(s *Snapshot) BGPPlan {
	self, known := s.Nodes[s.Self]
	if !known || excluded(self) {
		return BGPPlan{}
	}
	plan := BGPPlan{Services: map[string]AdvertisedService{}}
	nodePeers := map[string]bool{}
	sessions := map[string]bgp.Peer{}
	endpoints := map[netip.AddrPort]string{} // → the peer that has it
	for _, name := range sortedPeerNames(s.Config) {
		p := s.Config.Peers[name]
		if !p.NodeSelectors.Matches(self.Labels) {
			continue
		}
		endpoint := netip.AddrPortFrom(p.Address, p.Port)
		if first, taken := endpoints[endpoint]; taken {
			plan.Conflicts = append(plan.Conflicts, fmt.Sprintf(
				"BGPPeers %s and %s both select node %s for %s: one session per endpoint, %s is ignored", first, name, self.Name, endpoint, name))
			continue
		}
		endpoints[endpoint] = name
		nodePeers[name] = true
		sessions[name] = sessionFor(p, self)
		plan.Peers = append(plan.Peers, sessions[name])
	}
	if len(plan.Peers) == 0 {
		return plan
	}
	adverts := nodeAdverts(s.Config, self, nodePeers)

	// routes gathers, per prefix, the attributes each peer receives it with.
	routes := map[netip.Prefix]*prefixRoutes{}
	for i := range s.Services {
		svc := &s.Services[i]
		if !svc.HasUsableEndpoint(s.Self) {
			continue // nothing here would answer: let the router send the traffic elsewhere
		}
		var advertisedIPs []netip.Addr
		var servicePeers []string
		for _, ip := range svc.IPs {
			pool := poolOf(s.Config, ip)
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
					r := routes[prefix]
					if r == nil {
						r = &prefixRoutes{}
						routes[prefix] = r
					}
					r.add(peer, adv.BGPAdvertisement)
					if !slices.Contains(servicePeers, peer) {
						servicePeers = append(servicePeers, peer)
					}
					advertised = true
				}
			}
			if advertised {
				advertisedIPs = append(advertisedIPs, ip)
			}
		}
		if len(servicePeers) > 0 {
			slices.Sort(servicePeers)
			plan.Services[svc.Key] = AdvertisedService{IPs: advertisedIPs, Peers: servicePeers}
		}
	}
	plan.Routes = groupRoutes(routes)
	return plan
}

// nodeAdvert is a BGP advertisement that applies to this node, with the
// node's peers it sends to.
type nodeAdvert struct {
	*config.BGPAdvertisement
	peers []string
}

// nodeAdverts returns the advertisements whose node selectors match self,
// each with the peers of the node it sends to: the ones it names, or all.
func nodeAdverts(cfg *config.Config, self Node, nodePeers map[string]bool) []nodeAdvert {
	var out []nodeAdvert
	for _, adv := range cfg.BGPAdvertisements {
		if !adv.NodeSelectors.Matches(self.Labels) {
			continue
		}
		peers := sortedKeys(nodePeers)
		if len(adv.Peers) > 0 {
			peers = slices.DeleteFunc(slices.Clone(adv.Peers), func(name string) bool { return !nodePeers[name] })
		}
		out = append(out, nodeAdvert{BGPAdvertisement: adv, peers: peers})
	}
	return out
}

func sortedPeerNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Peers))
	for name := range cfg.Peers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// sessionFor translates a configured peer into a session of node.
func sessionFor(p *config.Peer, node Node) bgp.Peer {
	myASN := p.MyASN
	if p.LocalASN != 0 {
		myASN = p.LocalASN
	}
	out := bgp.Peer{
		Name:                   p.Name,
		MyASN:                  myASN,
		PeerASN:                p.PeerASN,
		Address:                p.Address,
		Port:                   p.Port,
		SourceAddress:          p.SourceAddress,
		RouterID:               p.RouterID,
		HoldTime:               p.HoldTime,
		KeepaliveTime:          p.KeepaliveTime,
		ConnectTime:            p.ConnectTime,
		EBGPMultiHop:           p.EBGPMultiHop,
		Password:               p.Password,
		DisableMP:              p.DisableMP,
		DualStackAddressFamily: p.DualStackAddressFamily,
		GracefulRestart:        p.GracefulRestart,
	}
	for _, addr := range node.Addresses {
		if addr.Is4() && !out.NextHopIPv4.IsValid() {
			out.NextHopIPv4 = addr
		}
		if addr.Is6() && !out.NextHopIPv6.IsValid() {
			out.NextHopIPv6 = addr
		}
	}
	return out
}

// prefixRoutes gathers the attributes one prefix is advertised with to each
// peer: per peer, the highest localPref and the union of communities of the
// advertisements sending it there.
type prefixRoutes struct {
	peers []peerAttrs
}

type peerAttrs struct {
	peer        string
	localPref   uint32
	communities []config.Community
}

func (r *prefixRoutes) add(peer string, adv *config.BGPAdvertisement) {
	i := slices.IndexFunc(r.peers, func(p peerAttrs) bool { return p.peer == peer })
	if i < 0 {
		r.peers = append(r.peers, peerAttrs{peer: peer})
		i = len(r.peers) - 1
	}
	a := &r.peers[i]
	a.localPref = max(a.localPref, adv.LocalPref)
	for _, c := range adv.Communities {
		if !slices.Contains(a.communities, c) {
			a.communities = append(a.communities, c)
		}
	}
}

// sameAttributes reports whether two peers receive a prefix with the same
// attributes (communities compared as sets).
func sameAttributes(a, b peerAttrs) bool {
	if a.localPref != b.localPref || len(a.communities) != len(b.communities) {
		return false
	}
	for _, c := range a.communities {
		if !slices.Contains(b.communities, c) {
			return false
		}
	}
	return true
}

// groupRoutes turns per-peer attributes into Routes, one per prefix and
// attribute set, sorted by prefix then peers. (The bgp package sends
// LocalPref to iBGP peers only.)
func groupRoutes(routes map[netip.Prefix]*prefixRoutes) []bgp.Route {
	out := make([]bgp.Route, 0, len(routes))
	for prefix, r := range routes {
		slices.SortFunc(r.peers, func(a, b peerAttrs) int { return strings.Compare(a.peer, b.peer) })
		grouped := make([]bool, len(r.peers))
		for i, first := range r.peers {
			if grouped[i] {
				continue
			}
			route := bgp.Route{Prefix: prefix, LocalPref: first.localPref, Peers: []string{first.peer}}
			for _, c := range sortedCommunities(first.communities) {
				if c.Large {
					route.LargeCommunities = append(route.LargeCommunities, bgp.LargeCommunity{GlobalAdmin: c.Global, LocalData1: c.Local1, LocalData2: c.Local2})
				} else {
					route.Communities = append(route.Communities, c.Standard)
				}
			}
			for j := i + 1; j < len(r.peers); j++ {
				if !grouped[j] && sameAttributes(first, r.peers[j]) {
					grouped[j] = true
					route.Peers = append(route.Peers, r.peers[j].peer)
				}
			}
			out = append(out, route)
		}
	}
	slices.SortFunc(out, func(a, b bgp.Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return a.Prefix.Bits() - b.Prefix.Bits()
		}
		return slices.Compare(a.Peers, b.Peers)
	})
	return out
}

// sortedCommunities orders communities: standard ones by value, then large
// ones by their three parts.
func sortedCommunities(in []config.Community) []config.Community {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b config.Community) int {
		if a.Large != b.Large {
			if a.Large {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Standard, b.Standard), cmp.Compare(a.Global, b.Global),
			cmp.Compare(a.Local1, b.Local1), cmp.Compare(a.Local2, b.Local2))
	})
	return out
}
