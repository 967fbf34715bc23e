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
	// senders are, per peer and prefix, the services that send it.
	senders map[peerPrefix][]*servicePlan
	// current are the routes and services changes go to; spare are those
	// of the plan handed out before (nil until then), behind current by
	// what lagging lists.
	current, spare planMaps
	lagging        lag
	// handedOut is set once plan handed current out: the next change
	// switches to spare and leaves current to the caller (see own).
	handedOut bool
}

// planMaps are the maps of a BGP plan that change with the services.
type planMaps struct {
	routes   bgpspec.Routes
	services map[string]AdvertisedService
}

// lag is what changed in one planMaps since the other was like it.
type lag struct {
	routes   map[peerPrefix]bool
	services map[string]bool
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
	b.senders = map[peerPrefix][]*servicePlan{}
	b.current = planMaps{routes: bgpspec.Routes{}, services: map[string]AdvertisedService{}}
	b.lagging = lag{routes: map[peerPrefix]bool{}, services: map[string]bool{}}
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
	b.current.services[sp.svc.Key] = sp.bgp.advertised
	b.lagging.services[sp.svc.Key] = true
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
	delete(b.current.services, sp.svc.Key)
	b.lagging.services[sp.svc.Key] = true
	for _, r := range sp.bgp.routes {
		b.senders[r.peerPrefix] = slices.DeleteFunc(b.senders[r.peerPrefix], func(other *servicePlan) bool { return other == sp })
		b.merge(r.peerPrefix)
	}
	sp.bgp = serviceRoutes{}
}

// merge sets a prefix's attributes for a peer from the services that send
// it, or withdraws it when none does: the highest localPref (where the
// configuration cannot tell that two advertisements conflict, see config's
// checkLocalPrefs) and the union of the communities.
func (b *bgpPlanner) merge(pp peerPrefix) {
	b.lagging.routes[pp] = true
	routes := b.current.routes
	senders := b.senders[pp]
	if len(senders) == 0 {
		delete(b.senders, pp)
		delete(routes[pp.peer], pp.prefix)
		if len(routes[pp.peer]) == 0 {
			delete(routes, pp.peer)
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
	if routes[pp.peer] == nil {
		routes[pp.peer] = bgpspec.Adverts{}
	}
	routes[pp.peer][pp.prefix] = attrs
}

// own makes current safe to change after plan handed it out: it switches
// to spare, the maps of the plan handed out before, brought up to date
// with what changed since (the first time, a copy), and leaves current to
// the caller. So the caller may keep a plan until the first change after
// the next plan: the speaker keeps the plan it applied and compares it with
// the next one, no more. A change costs what it changes, not a copy.
func (b *bgpPlanner) own() {
	if !b.handedOut {
		return
	}
	b.handedOut = false
	if b.spare.routes == nil {
		b.spare = planMaps{routes: make(bgpspec.Routes, len(b.current.routes)), services: maps.Clone(b.current.services)}
		for peer, adverts := range b.current.routes {
			b.spare.routes[peer] = maps.Clone(adverts)
		}
	} else {
		b.spare.catchUp(b.current, b.lagging)
	}
	clear(b.lagging.routes)
	clear(b.lagging.services)
	b.current, b.spare = b.spare, b.current
}

// catchUp makes m like to for the prefixes and services in changed.
func (m planMaps) catchUp(to planMaps, changed lag) {
	for pp := range changed.routes {
		attrs, ok := to.routes[pp.peer][pp.prefix]
		switch {
		case ok && m.routes[pp.peer] == nil:
			m.routes[pp.peer] = bgpspec.Adverts{pp.prefix: attrs}
		case ok:
			m.routes[pp.peer][pp.prefix] = attrs
		default:
			delete(m.routes[pp.peer], pp.prefix)
			if len(m.routes[pp.peer]) == 0 {
				delete(m.routes, pp.peer)
			}
		}
	}
	for key := range changed.services {
		if svc, ok := to.services[key]; ok {
			m.services[key] = svc
		} else {
			delete(m.services, key)
		}
	}
}

// plan returns the BGP plan; its maps stay as they are until the first
// change after the next plan (see own).
func (b *bgpPlanner) plan() BGPPlan {
	plan := b.base
	if b.active {
		plan.Routes, plan.Services, b.handedOut = b.current.routes, b.current.services, true
	}
	return plan
}
