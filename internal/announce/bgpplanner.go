package announce

import (
	"cmp"
	"maps"
	"slices"

	"github.com/ironlb/ironlb/internal/bgpspec"
	"github.com/ironlb/ironlb/internal/config"
)

// bgpPlanner keeps a node's BGP plan as the services change: the sessions
// and advertisements of the node are decided once, each service's routes
// are added and removed on their own, and a prefix's attributes are merged
// again only from the services that send it.
type bgpPlanner struct {
	cfg *config.Config
	// base is the plan without services: router ID, sessions, problems.
	base BGPPlan
	// active is true when the node keeps sessions: only then are services
	// advertised.
	active   bool
	adverts  []nodeAdvert
	sessions map[string]bgpspec.Peer
	routes   bgpspec.Routes
	services map[string]AdvertisedService
	// senders are, per peer and prefix, the services that send it.
	senders map[peerPrefix][]*servicePlan
	// handedOut is the copy Plan last returned, nil once stale.
	handedOut *BGPPlan
}

func newBGPPlanner(cfg *config.Config, nodes map[string]Node, selfName string) bgpPlanner {
	self, known := nodes[selfName]
	if !known || excluded(self) {
		return bgpPlanner{cfg: cfg}
	}
	b := bgpPlanner{cfg: cfg, base: nodeSessions(cfg, self)}
	if len(b.base.Peers) == 0 {
		return b
	}
	b.active = true
	b.sessions = make(map[string]bgpspec.Peer, len(b.base.Peers))
	for _, peer := range b.base.Peers {
		b.sessions[peer.Name] = peer
	}
	b.adverts = nodeAdverts(cfg, self, b.sessions)
	b.routes, b.services, b.senders = bgpspec.Routes{}, map[string]AdvertisedService{}, map[peerPrefix][]*servicePlan{}
	return b
}

// add adds sp's routes; a service without a usable endpoint on this node
// has none: nothing here would answer, so the router sends its traffic
// elsewhere.
func (b *bgpPlanner) add(sp *servicePlan, self string) {
	if !b.active || !sp.svc.HasUsableEndpoint(self) {
		return
	}
	sp.bgp = routesOf(b.cfg, &sp.svc, b.adverts, b.sessions)
	if len(sp.bgp.advertised.Peers) == 0 {
		return
	}
	b.services[sp.svc.Key] = sp.bgp.advertised
	for _, r := range sp.bgp.routes {
		if !slices.Contains(b.senders[r.peerPrefix], sp) {
			b.senders[r.peerPrefix] = append(b.senders[r.peerPrefix], sp)
		}
		b.merge(r.peerPrefix)
	}
	b.handedOut = nil
}

// remove removes sp's routes.
func (b *bgpPlanner) remove(sp *servicePlan) {
	if len(sp.bgp.routes) == 0 {
		return
	}
	delete(b.services, sp.svc.Key)
	for _, r := range sp.bgp.routes {
		b.senders[r.peerPrefix] = slices.DeleteFunc(b.senders[r.peerPrefix], func(other *servicePlan) bool { return other == sp })
		b.merge(r.peerPrefix)
	}
	sp.bgp = serviceRoutes{}
	b.handedOut = nil
}

// merge sets a prefix's attributes for a peer from the services that send
// it, or withdraws it when none does: the highest localPref (where the
// configuration cannot tell that two advertisements conflict, see config's
// checkLocalPrefs) and the union of the communities.
func (b *bgpPlanner) merge(pp peerPrefix) {
	senders := b.senders[pp]
	if len(senders) == 0 {
		delete(b.senders, pp)
		delete(b.routes[pp.peer], pp.prefix)
		if len(b.routes[pp.peer]) == 0 {
			delete(b.routes, pp.peer)
		}
		return
	}
	var attrs bgpspec.Attributes
	for _, sp := range senders {
		for _, r := range sp.bgp.routes {
			if r.peerPrefix == pp {
				attrs = merge(attrs, r.adv)
			}
		}
	}
	attrs.Communities = sortedUnique(attrs.Communities, cmp.Compare[uint32])
	attrs.LargeCommunities = sortedUnique(attrs.LargeCommunities, compareLarge)
	if b.routes[pp.peer] == nil {
		b.routes[pp.peer] = bgpspec.Adverts{}
	}
	b.routes[pp.peer][pp.prefix] = attrs
}

// plan returns the BGP plan, a copy the caller keeps: the copy is made once
// per change, and only its maps are copied (the values are never changed).
func (b *bgpPlanner) plan() BGPPlan {
	if !b.active {
		return b.base
	}
	if b.handedOut == nil {
		plan := b.base
		plan.Routes = make(bgpspec.Routes, len(b.routes))
		for peer, adverts := range b.routes {
			plan.Routes[peer] = maps.Clone(adverts)
		}
		plan.Services = maps.Clone(b.services)
		b.handedOut = &plan
	}
	return *b.handedOut
}
