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
	// handedOut is set once plan handed routes and services out: they are
	// then the caller's, and copied before any change.
	handedOut bool
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
	b.own()
	b.services[sp.svc.Key] = sp.bgp.advertised
	for _, r := range sp.bgp.routes {
		if !slices.Contains(b.senders[r.peerPrefix], sp) {
			b.senders[r.peerPrefix] = append(b.senders[r.peerPrefix], sp)
		}
		b.merge(r.peerPrefix)
	}
}

// remove removes sp's routes.
func (b *bgpPlanner) remove(sp *servicePlan) {
	if len(sp.bgp.routes) == 0 {
		return
	}
	b.own()
	delete(b.services, sp.svc.Key)
	for _, r := range sp.bgp.routes {
		b.senders[r.peerPrefix] = slices.DeleteFunc(b.senders[r.peerPrefix], func(other *servicePlan) bool { return other == sp })
		b.merge(r.peerPrefix)
	}
	sp.bgp = serviceRoutes{}
}

// own copies the routes and services handed out, so that changing them
// leaves the caller's as they were: one copy per change after a plan, and
// none kept while nothing changes.
func (b *bgpPlanner) own() {
	if !b.handedOut {
		return
	}
	routes := make(bgpspec.Routes, len(b.routes))
	for peer, adverts := range b.routes {
		routes[peer] = maps.Clone(adverts)
	}
	b.routes, b.services, b.handedOut = routes, maps.Clone(b.services), false
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

// plan returns the BGP plan; its maps are the caller's (see own).
func (b *bgpPlanner) plan() BGPPlan {
	plan := b.base
	if b.active {
		plan.Routes, plan.Services, b.handedOut = b.routes, b.services, true
	}
	return plan
}
