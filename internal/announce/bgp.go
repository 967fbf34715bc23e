package announce

import (
	"net/netip"
	"slices"
	"strconv"
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
	for _, name := range sortedPeerNames(s.Config) {
		p := s.Config.Peers[name]
		if !p.NodeSelectors.Matches(self.Labels) {
			continue
		}
		nodePeers[name] = true
		sessions[name] = sessionFor(p, self)
		plan.Peers = append(plan.Peers, sessions[name])
	}
	if len(plan.Peers) == 0 {
		return plan
	}

	// attrs gathers, per prefix and peer, the attributes of every
	// advertisement that sends it there.
	attrs := map[routeKey]*routeAttrs{}
	for i := range s.Services {
		svc := &s.Services[i]
		if svc.LocalTrafficPolicy && !svc.EndpointNodes[s.Self] {
			continue // only nodes with a local endpoint attract Local traffic
		}
		if !svc.HasReadyEndpoint {
			continue // nothing would answer: let the router send the traffic elsewhere
		}
		servicePeers := map[string]bool{}
		var advertisedIPs []netip.Addr
		for _, ip := range svc.IPs {
			advertised := false
			pool := poolOf(s.Config, ip)
			if pool == nil {
				continue
			}
			for _, adv := range s.Config.BGPAdvertisements {
				if !slices.Contains(adv.Pools, pool.Name) || !adv.NodeSelectors.Matches(self.Labels) || !adv.ServiceSelectors.Matches(svc.Labels) {
					continue
				}
				length := adv.AggregationLength
				if ip.Is6() {
					length = adv.AggregationLengthV6
				}
				prefix := netip.PrefixFrom(ip, length).Masked()
				for _, peer := range advertisedPeers(adv, nodePeers) {
					if !sessions[peer].Carries(ip) {
						continue
					}
					key := routeKey{prefix: prefix, peer: peer}
					a := attrs[key]
					if a == nil {
						a = &routeAttrs{}
						attrs[key] = a
					}
					a.merge(adv)
					servicePeers[peer] = true
					advertised = true
				}
			}
			if advertised {
				advertisedIPs = append(advertisedIPs, ip)
			}
		}
		if len(servicePeers) > 0 {
			plan.Services[svc.Key] = AdvertisedService{IPs: advertisedIPs, Peers: sortedKeys(servicePeers)}
		}
	}
	plan.Routes = groupRoutes(attrs)
	return plan
}

func sortedPeerNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Peers))
	for name := range cfg.Peers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// advertisedPeers returns the peers an advertisement sends to among those of
// the node: the ones it names, or all.
func advertisedPeers(adv *config.BGPAdvertisement, nodePeers map[string]bool) []string {
	if len(adv.Peers) == 0 {
		return sortedKeys(nodePeers)
	}
	var out []string
	for _, name := range adv.Peers {
		if nodePeers[name] {
			out = append(out, name)
		}
	}
	return out
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

type routeKey struct {
	prefix netip.Prefix
	peer   string
}

// routeAttrs merges the attributes of the advertisements sending one prefix
// to one peer: the highest localPref and the union of communities.
type routeAttrs struct {
	localPref   uint32
	communities []config.Community
}

func (a *routeAttrs) merge(adv *config.BGPAdvertisement) {
	a.localPref = max(a.localPref, adv.LocalPref)
	for _, c := range adv.Communities {
		if !slices.Contains(a.communities, c) {
			a.communities = append(a.communities, c)
		}
	}
}

// signature identifies equal attribute sets, so peers receiving a prefix with
// the same attributes share one Route.
func (a *routeAttrs) signature() string {
	parts := make([]string, 0, len(a.communities)+1)
	for _, c := range a.communities {
		parts = append(parts, c.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",") + " localpref " + strconv.FormatUint(uint64(a.localPref), 10)
}

// groupRoutes turns per-peer attributes into Routes, one per prefix and
// attribute set, in a stable order. (The bgp package sends LocalPref to iBGP
// peers only.)
func groupRoutes(attrs map[routeKey]*routeAttrs) []bgp.Route {
	type group struct {
		prefix netip.Prefix
		sig    string
	}
	routes := map[group]*bgp.Route{}
	for key, a := range attrs {
		g := group{prefix: key.prefix, sig: a.signature()}
		r := routes[g]
		if r == nil {
			r = &bgp.Route{Prefix: key.prefix, LocalPref: a.localPref}
			for _, c := range sortedCommunities(a.communities) {
				if c.Large {
					r.LargeCommunities = append(r.LargeCommunities, bgp.LargeCommunity{GlobalAdmin: c.Global, LocalData1: c.Local1, LocalData2: c.Local2})
				} else {
					r.Communities = append(r.Communities, c.Standard)
				}
			}
			routes[g] = r
		}
		r.Peers = append(r.Peers, key.peer)
	}
	out := make([]bgp.Route, 0, len(routes))
	for _, r := range routes {
		slices.Sort(r.Peers)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b bgp.Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return a.Prefix.Bits() - b.Prefix.Bits()
		}
		return strings.Compare(strings.Join(a.Peers, ","), strings.Join(b.Peers, ","))
	})
	return out
}

func sortedCommunities(in []config.Community) []config.Community {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b config.Community) int { return strings.Compare(a.String(), b.String()) })
	return out
}
