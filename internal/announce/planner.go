package announce

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/election"
)

// Planner holds a speaker's plan together with what each Service adds to
// it, so that an event costs what it changes: a Service or its endpoints
// changing plans that Service again, a membership change elects again only
// the Services whose owner can change, and only a new Planner (a Node or
// the configuration changed) plans every Service. After any sequence of
// events, Plan equals Compute of the snapshot the events lead to; the
// property test TestPlannerEqualsCompute holds it to that.
//
// Per-node facts are gathered once per set of L2Advertisements (an
// election.Field), not once per Service. A Planner is not safe for
// concurrent use.
type Planner struct {
	snap     Snapshot // Services are in services
	elector  *election.Elector
	reporter bool // this node reports the addresses no node may own
	services map[string]*servicePlan
	// fields are the elections' node facts by set of advertisements
	// (servicePlan.advsKey); they depend on the members.
	fields map[string]*election.Field
	// byOwner indexes the Services by the owner of one of their IPs (""
	// for an IP nobody may own); unsettled are those with an IP owned by
	// another node than the one their ranking puts first, or whose first
	// node is not known: only those can move to a node that joins, since
	// a node that is not a member owns nothing.
	byOwner   map[string]map[string]bool
	unsettled map[string]bool
	bgp       bgpPlanner
	// lists are the layer 2 lists of the plan, nil when stale.
	lists    *layer2Lists
	counters PlanCounters
}

// PlanCounters count what a Planner planned: tests assert with them how much
// an event plans again.
type PlanCounters struct {
	// FullPlans counts plans of every Service: one per Planner.
	FullPlans int
	// ServicesPlanned counts Services planned (layer 2 and BGP), those of
	// full plans included.
	ServicesPlanned int
	// ServicesElected counts Services whose layer 2 owners were elected
	// again after a membership change.
	ServicesElected int
}

// servicePlan is one Service's part of the plan.
type servicePlan struct {
	svc  Service
	advs []*config.L2Advertisement
	// advsKey identifies advs among the configuration's (l2Advertisements).
	advsKey string
	// results are the layer 2 owners of the IPs; rejections are kept for
	// the IPs this node owns and, when it reports them, those nobody may
	// own.
	results []election.Result
	bgp     serviceRoutes
}

// NewPlanner plans every Service of s. It keeps s's maps: the caller must
// not change them afterwards.
func NewPlanner(s *Snapshot, elector *election.Elector) *Planner {
	p := &Planner{snap: *s, elector: elector, services: make(map[string]*servicePlan, len(s.Services)),
		fields: map[string]*election.Field{}, byOwner: map[string]map[string]bool{}, unsettled: map[string]bool{}}
	p.snap.Services = nil
	p.counters.FullPlans++
	if s.Config == nil {
		return p
	}
	p.reporter = p.snap.reportsUnowned()
	p.bgp = newBGPPlanner(s.Config, s.Nodes, s.Self)
	for i := range s.Services {
		p.UpdateService(s.Services[i])
	}
	return p
}

// Counters returns what the Planner planned so far.
func (p *Planner) Counters() PlanCounters { return p.counters }

// UpdateService plans a Service added or changed (its object or its
// endpoints), and only it.
func (p *Planner) UpdateService(svc Service) {
	if p.snap.Config == nil {
		return
	}
	p.DeleteService(svc.Key)
	sp := &servicePlan{svc: svc}
	sp.advs, sp.advsKey = l2Advertisements(p.snap.Config, &sp.svc)
	p.services[svc.Key] = sp
	p.elect(sp)
	p.bgp.add(sp, p.snap.Self)
	p.counters.ServicesPlanned++
}

// DeleteService removes a Service from the plan.
func (p *Planner) DeleteService(key string) {
	sp, ok := p.services[key]
	if !ok {
		return
	}
	p.unindex(sp)
	p.bgp.remove(sp)
	delete(p.services, key)
}

// SetMembers changes the live members and the quorum, and elects again
// the Services whose layer 2 owners can change: those with an IP owned by a
// node that left, the unsettled ones when a node joined, those this node
// owns or that nobody may own (their rejections name the members). A
// node leaving that owned none of a Service's IPs changes neither its owners
// nor, with preferences, the highest preference among the eligible nodes
// (the owner has it).
func (p *Planner) SetMembers(members map[string]bool, quorum election.Quorum) {
	before := p.snap.Members
	p.snap.Members, p.snap.Quorum = members, quorum
	if p.snap.Config == nil {
		return
	}
	p.reporter = p.snap.reportsUnowned()
	p.lists = nil
	clear(p.fields)
	affected := map[string]bool{}
	add := func(keys map[string]bool) {
		for key := range keys {
			affected[key] = true
		}
	}
	for name := range before {
		if !members[name] {
			add(p.byOwner[name])
		}
	}
	for name := range members {
		if !before[name] {
			add(p.unsettled)
			break
		}
	}
	add(p.byOwner[p.snap.Self])
	add(p.byOwner[""])
	for key := range affected {
		sp := p.services[key]
		p.unindex(sp)
		p.elect(sp)
	}
	p.counters.ServicesElected += len(affected)
}

// SetQuorum changes the quorum, the addresses this node answers for now and
// the Services another node claims, which decide whether it takes over (or
// keeps) the addresses it is elected for (election.MayAnswer).
func (p *Planner) SetQuorum(quorum election.Quorum, answering map[netip.Addr]bool, claimedElsewhere map[string]bool) {
	p.snap.Quorum, p.snap.Answering, p.snap.ClaimedElsewhere = quorum, answering, claimedElsewhere
}

// elect runs the layer 2 election of one Service and indexes it.
func (p *Planner) elect(sp *servicePlan) {
	sp.results = nil
	if len(sp.advs) == 0 {
		return
	}
	field := p.field(sp)
	esvc := election.Service{IPs: sp.svc.IPs, LocalTrafficPolicy: sp.svc.LocalTrafficPolicy,
		SharedIPWithServiceSelectors: sp.svc.AllowsSharedIP && anyServiceSelectors(sp.advs)}
	ep := election.Endpoints{Nodes: sp.svc.EndpointNodes, Any: sp.svc.HasReadyEndpoint}
	results, first := field.Owners(esvc, ep)
	if slices.ContainsFunc(results, p.explained) {
		results = field.Elect(esvc, ep)
	}
	sp.results = results
	if p.concernsLists(results) {
		p.lists = nil
	}
	settled := first != ""
	for _, r := range results {
		addIndex(p.byOwner, r.Owner, sp.svc.Key)
		settled = settled && r.Owner == first
	}
	if !settled {
		p.unsettled[sp.svc.Key] = true
	}
}

// explained reports whether the plan shows why other nodes lost r: it does
// for the IPs this node owns and, when it reports them, those nobody may own.
func (p *Planner) explained(r election.Result) bool {
	return r.Owner == p.snap.Self || (r.Owner == "" && p.reporter)
}

// field returns the election's node facts for sp's advertisements.
func (p *Planner) field(sp *servicePlan) *election.Field {
	if f, ok := p.fields[sp.advsKey]; ok {
		return f
	}
	nodes := make([]election.Node, 0, len(p.snap.Nodes))
	for _, node := range p.snap.Nodes {
		nodes = append(nodes, electionNode(&p.snap, sp.advs, node))
	}
	f := p.elector.NewField(nodes)
	p.fields[sp.advsKey] = f
	return f
}

// unindex removes a Service from the owner indexes.
func (p *Planner) unindex(sp *servicePlan) {
	if p.concernsLists(sp.results) {
		p.lists = nil
	}
	for _, r := range sp.results {
		removeIndex(p.byOwner, r.Owner, sp.svc.Key)
	}
	delete(p.unsettled, sp.svc.Key)
}

func addIndex(index map[string]map[string]bool, node, key string) {
	if index[node] == nil {
		index[node] = map[string]bool{}
	}
	index[node][key] = true
}

func removeIndex(index map[string]map[string]bool, node, key string) {
	delete(index[node], key)
	if len(index[node]) == 0 {
		delete(index, node)
	}
}

// Plan returns the current plan. It stays as it is until the first change
// after the next call of Plan: a caller may keep the plan it applied to
// compare it with the next one, and no longer (the BGP maps are then
// reused, so that a change costs what it changes, not a copy).
func (p *Planner) Plan() Plan {
	if p.snap.Config == nil {
		return Plan{}
	}
	lists := p.layer2Lists()
	plan := Plan{L2: lists.elected, L2Unowned: lists.unowned, BGP: p.bgp.plan()}
	if !p.snap.Quorum.Held() {
		plan.L2 = nil
		for _, a := range lists.elected {
			if election.MayAnswer(p.snap.Answering[a.IP], p.snap.ClaimedElsewhere[a.Service], p.snap.Quorum) {
				plan.L2 = append(plan.L2, a)
			} else {
				plan.L2WithoutQuorum = append(plan.L2WithoutQuorum, a.IP)
			}
		}
		slices.SortFunc(plan.L2WithoutQuorum, netip.Addr.Compare)
	}
	return plan
}

// layer2Lists are the addresses this node is elected for and, when it
// reports them, those nobody may own, sorted by address and Service. They
// are built again only after an election that concerns them, and never
// changed once built.
type layer2Lists struct {
	elected []L2Announcement
	unowned []L2Unowned
}

// concernsLists reports whether results change the layer 2 lists.
func (p *Planner) concernsLists(results []election.Result) bool {
	return slices.ContainsFunc(results, func(r election.Result) bool { return r.Owner == p.snap.Self || r.Owner == "" })
}

func (p *Planner) layer2Lists() *layer2Lists {
	if p.lists != nil {
		return p.lists
	}
	lists := &layer2Lists{}
	self := p.snap.Nodes[p.snap.Self]
	for key := range p.byOwner[p.snap.Self] {
		sp := p.services[key]
		for _, r := range sp.results {
			if r.Owner == p.snap.Self {
				lists.elected = append(lists.elected, L2Announcement{IP: r.IP, Service: key, Interfaces: allowedInterfaces(sp.advs, self),
					AnyInterface: r.AnyInterface, Rejected: r.Rejected})
			}
		}
	}
	if p.reporter {
		for key := range p.byOwner[""] {
			for _, r := range p.services[key].results {
				if r.Owner == "" {
					lists.unowned = append(lists.unowned, L2Unowned{IP: r.IP, Service: key, Rejected: r.Rejected})
				}
			}
		}
	}
	slices.SortFunc(lists.elected, func(a, b L2Announcement) int {
		return cmp.Or(a.IP.Compare(b.IP), strings.Compare(a.Service, b.Service))
	})
	slices.SortFunc(lists.unowned, func(a, b L2Unowned) int {
		return cmp.Or(a.IP.Compare(b.IP), strings.Compare(a.Service, b.Service))
	})
	p.lists = lists
	return lists
}
