package election

import (
	"net/netip"
	"slices"
	"strings"
)

// Field holds what the election knows of every node apart from a service's
// endpoints, set up once for all the services that a plan elects among the
// same nodes (the same advertisements). Elect and Owners then follow
// Elector.Elect's rule without a pass over every node per service: the
// balancing table and the nodes eligible wherever the service has an
// endpoint are looked up by which subnets hold the IP.
//
// That shortcut needs every candidate to have the same preference (the
// usual case: no preferredNodeSelectors, or all candidates matching them
// alike) and at most 64 distinct subnets; otherwise Owners runs the full
// election. A Field is not safe for concurrent use.
type Field struct {
	elector *Elector
	nodes   []Node
	index   map[string]int
	hashes  []uint64
	byName  []int // node indices sorted by name
	// subnets are the distinct subnets of the nodes that can ever be
	// candidates (selected, not excluded, interfaces known); reach[j] has
	// bit b set when node j has subnets[b].
	subnets []netip.Prefix
	reach   []uint64
	// shortcut is false when Owners must run the full election.
	shortcut bool
	classes  map[uint64]*reachClass
}

// Endpoints says where a service has usable (ready or serving) endpoints:
// on which nodes, and whether anywhere at all.
type Endpoints struct {
	Nodes map[string]bool
	Any   bool
}

// has reports whether traffic for svc arriving at node finds an endpoint.
func (ep Endpoints) has(svc Service, node string) bool {
	if svc.LocalTrafficPolicy {
		return ep.Nodes[node]
	}
	return ep.Any
}

// reachClass is what holds for every IP contained in the same subnets.
type reachClass struct {
	anyInterface bool
	table        *table
	// eligible are the nodes that may own such an IP wherever the service
	// has an endpoint; isEligible says the same by node index.
	eligible   []int
	isEligible []bool
}

// NewField sets up the election among nodes (their Endpoint is ignored).
// The Elector's table cache is shared with its other elections.
func (e *Elector) NewField(nodes []Node) *Field {
	f := &Field{elector: e, nodes: nodes, index: make(map[string]int, len(nodes)), hashes: make([]uint64, len(nodes)),
		reach: make([]uint64, len(nodes)), shortcut: true, classes: map[uint64]*reachClass{}}
	preference := -1
	for j := range nodes {
		n := &nodes[j]
		f.index[n.Name] = j
		f.hashes[j] = nameHash(n.Name)
		if !n.Selected || n.ExcludedByLabel {
			continue
		}
		if preference >= 0 && n.Preference != preference {
			f.shortcut = false
		}
		preference = n.Preference
		if n.SubnetsKnown {
			f.reach[j] = f.addSubnets(n.Subnets)
		}
	}
	f.byName = make([]int, len(nodes))
	for j := range f.byName {
		f.byName[j] = j
	}
	slices.SortFunc(f.byName, func(a, b int) int { return strings.Compare(nodes[a].Name, nodes[b].Name) })
	return f
}

// addSubnets records subnets and returns their bits; past 64 distinct
// subnets the shortcut is off.
func (f *Field) addSubnets(subnets []netip.Prefix) uint64 {
	var bits uint64
	for _, p := range subnets {
		b := slices.Index(f.subnets, p)
		if b < 0 {
			b = len(f.subnets)
			f.subnets = append(f.subnets, p)
		}
		if b >= 64 {
			f.shortcut = false
			return 0
		}
		bits |= 1 << b
	}
	return bits
}

// class returns the reach class of ip.
func (f *Field) class(ip netip.Addr) *reachClass {
	var sig uint64
	for b, p := range f.subnets {
		if p.Contains(ip) {
			sig |= 1 << b
		}
	}
	if c, ok := f.classes[sig]; ok {
		return c
	}
	c := &reachClass{anyInterface: sig == 0, isEligible: make([]bool, len(f.nodes))}
	var names []string
	for j := range f.nodes {
		n := &f.nodes[j]
		if !n.Selected || n.ExcludedByLabel || (!c.anyInterface && n.SubnetsKnown && f.reach[j]&sig == 0) {
			continue
		}
		names = append(names, n.Name)
		if n.Member {
			c.eligible = append(c.eligible, j)
			c.isEligible[j] = true
		}
	}
	slices.Sort(names)
	c.table = f.elector.tableFor(slices.Compact(names))
	f.classes[sig] = c
	return c
}

// Elect is Elector.Elect for svc among the field's nodes, with endpoints
// where ep says: the owners of Owners, and every node that is not eligible,
// by name, with its reason (preferences never reject a node here: the
// shortcut holds only when every candidate has the same one).
func (f *Field) Elect(svc Service, ep Endpoints) []Result {
	if !f.shortcut {
		return f.elector.Elect(svc, f.withEndpoints(svc, ep))
	}
	results, _ := f.Owners(svc, ep)
	for i := range results {
		r := &results[i]
		for _, j := range f.byName {
			n := f.nodes[j]
			n.Endpoint = ep.has(svc, n.Name)
			if reason := check(svc, r.IP, r.AnyInterface, &n); reason != Eligible {
				r.Rejected = append(r.Rejected, Rejection{Node: n.Name, Reason: reason})
			}
		}
	}
	return results
}

// withEndpoints returns the field's nodes with endpoints where ep says.
func (f *Field) withEndpoints(svc Service, ep Endpoints) []Node {
	nodes := slices.Clone(f.nodes)
	for j := range nodes {
		nodes[j].Endpoint = ep.has(svc, nodes[j].Name)
	}
	return nodes
}

// Owners returns the owner of each of svc's IPs and whether the
// any-interface rule applied, as Elect does but without the rejected
// nodes, and the node the balancing table ranks first for the service
// ("" when Owners ran the full election). An IP owned by another node
// than that first one moves whenever a node joins that ranks above its
// owner.
func (f *Field) Owners(svc Service, ep Endpoints) (results []Result, first string) {
	if !f.shortcut {
		results = f.elector.Elect(svc, f.withEndpoints(svc, ep))
		for i := range results {
			results[i].Rejected = nil
		}
		return results, ""
	}
	if len(svc.IPs) == 0 {
		return nil, ""
	}
	key := electionKey(svc.IPs)
	k := keyNumber(key)
	top := -1
	if t := f.class(key).table; t != nil {
		first = t.owner(k)
		top = f.index[first]
	}
	results = make([]Result, len(svc.IPs))
	for i, ip := range svc.IPs {
		c := f.class(ip)
		results[i] = Result{IP: ip, AnyInterface: c.anyInterface}
		if !svc.SharedIPWithServiceSelectors {
			results[i].Owner = f.owner(svc, ep, c, top, mix(k))
		}
	}
	return results, first
}

// owner returns the first node of the ranking that is eligible in class c:
// top when it is, else the eligible node of highest rendezvous weight.
func (f *Field) owner(svc Service, ep Endpoints, c *reachClass, top int, keyMix uint64) string {
	if top >= 0 && c.isEligible[top] && ep.has(svc, f.nodes[top].Name) {
		return f.nodes[top].Name
	}
	best, bestWeight := -1, uint64(0)
	consider := func(j int) {
		if !c.isEligible[j] || j == top {
			return
		}
		w := mix(f.hashes[j] ^ keyMix)
		if best < 0 || w > bestWeight || (w == bestWeight && f.nodes[j].Name < f.nodes[best].Name) {
			best, bestWeight = j, w
		}
	}
	switch {
	case svc.LocalTrafficPolicy:
		for name, ok := range ep.Nodes {
			if j, known := f.index[name]; ok && known {
				consider(j)
			}
		}
	case ep.Any:
		for _, j := range c.eligible {
			consider(j)
		}
	}
	if best < 0 {
		return ""
	}
	return f.nodes[best].Name
}
