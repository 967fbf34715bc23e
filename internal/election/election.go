// Package election decides which node answers ARP/NDP for each IP of a
// LoadBalancer service in layer-2 mode.
//
// The decision is a pure function of the service's IPs and per-node facts:
// every speaker computes it on its own and, given the same facts, every
// speaker reaches the same answer without talking to the others.
//
// A node is a candidate for an IP when it is a live member, is selected by an
// L2Advertisement of the IP's pool, is not labelled
// node.kubernetes.io/exclude-from-external-load-balancers, has an interface
// that reaches the IP and, for externalTrafficPolicy: Local, has a ready local
// endpoint. Candidates are ranked per service (see ranking.go), so the IPs of
// a dual-stack service land on one node, and a membership change moves only
// the IPs of the nodes that joined or left.
package election

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Reason says why a node cannot own an IP.
type Reason uint8

// Reasons, in the order they are checked: a node is reported with the first
// one that applies.
const (
	// Eligible means the node may own the IP.
	Eligible Reason = iota
	// NotMember means the node's speaker is not a live member.
	NotMember
	// ExcludedByLabel means the node carries the label
	// node.kubernetes.io/exclude-from-external-load-balancers.
	ExcludedByLabel
	// NotSelected means no L2Advertisement for the IP selects the node.
	NotSelected
	// NoInterface means none of the node's allowed interfaces reaches the IP.
	NoInterface
	// NoLocalEndpoints means the service has externalTrafficPolicy: Local
	// and the node has no ready endpoint of it.
	NoLocalEndpoints
)

var reasonNames = [...]string{
	Eligible:         "Eligible",
	NotMember:        "NotMember",
	ExcludedByLabel:  "ExcludedByLabel",
	NotSelected:      "NotSelected",
	NoInterface:      "NoInterface",
	NoLocalEndpoints: "NoLocalEndpoints",
}

// String returns the reason's name, e.g. "NoLocalEndpoints".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Service is what the election needs to know about one service.
type Service struct {
	// IPs are the service's load-balancer IPs (one, or one per family).
	IPs []netip.Addr
	// LocalTrafficPolicy is true for externalTrafficPolicy: Local.
	LocalTrafficPolicy bool
}

// Node holds the facts about one node that the election filters on.
// Facts that depend on the IP list the service IPs they hold for.
type Node struct {
	// Name is the Kubernetes node name, unique among the nodes passed in.
	Name string
	// Member is true while the node's speaker is a live member
	// (memberlist, or node readiness when memberlist is disabled).
	Member bool
	// ExcludedByLabel is true when the node carries the label
	// node.kubernetes.io/exclude-from-external-load-balancers.
	ExcludedByLabel bool
	// LocalEndpoint is true when the node hosts a ready endpoint of the
	// service; it matters only for externalTrafficPolicy: Local.
	LocalEndpoint bool
	// Selected lists the service IPs whose L2Advertisements select the node.
	Selected []netip.Addr
	// Reaches lists the service IPs that one of the node's allowed
	// interfaces can reach (the IP lies in a subnet of the interface).
	Reaches []netip.Addr
}

// Rejection names a node that cannot own an IP and why.
type Rejection struct {
	Node   string
	Reason Reason
}

// Result is the outcome of the election for one IP.
type Result struct {
	IP netip.Addr
	// Owner is the elected node, or "" when no node is eligible.
	Owner string
	// Rejected lists the nodes that are not eligible, sorted by name.
	Rejected []Rejection
}

// Elector runs elections. It caches the balancing tables it builds, so one
// Elector should be reused for all services; it is safe for concurrent use.
// The cache never changes a result: Elect is a pure function of its inputs.
type Elector struct {
	mu     sync.Mutex
	tables map[string]*table
}

// maxCachedTables bounds the table cache; there is one table per distinct set
// of statically eligible nodes, normally a handful.
const maxCachedTables = 64

// NewElector returns an Elector with an empty table cache.
func NewElector() *Elector {
	return &Elector{tables: make(map[string]*table)}
}

// Elect returns one Result per service IP, in the order of svc.IPs.
// The result does not depend on the order of nodes.
func (e *Elector) Elect(svc Service, nodes []Node) []Result {
	if len(svc.IPs) == 0 {
		return nil
	}
	key := electionKey(svc.IPs)
	ranked := rank(key, e.tableFor(staticCandidates(key, nodes)), nodes)
	results := make([]Result, len(svc.IPs))
	for i, ip := range svc.IPs {
		results[i] = electIP(svc, ip, ranked)
	}
	return results
}

// electIP walks the ranked nodes and returns the first eligible one as owner.
func electIP(svc Service, ip netip.Addr, ranked []*Node) Result {
	result := Result{IP: ip}
	for _, n := range ranked {
		reason := check(svc, ip, n)
		if reason != Eligible {
			result.Rejected = append(result.Rejected, Rejection{Node: n.Name, Reason: reason})
		} else if result.Owner == "" {
			result.Owner = n.Name
		}
	}
	slices.SortFunc(result.Rejected, func(a, b Rejection) int { return strings.Compare(a.Node, b.Node) })
	return result
}

// check returns the first reason that keeps n from owning ip.
func check(svc Service, ip netip.Addr, n *Node) Reason {
	switch {
	case !n.Member:
		return NotMember
	case n.ExcludedByLabel:
		return ExcludedByLabel
	case !slices.Contains(n.Selected, ip):
		return NotSelected
	case !slices.Contains(n.Reaches, ip):
		return NoInterface
	case svc.LocalTrafficPolicy && !n.LocalEndpoint:
		return NoLocalEndpoints
	}
	return Eligible
}

// staticCandidates returns the sorted, de-duplicated names of the nodes that
// pass the filters that change only with configuration (advertisement
// selectors, the exclusion label, interfaces) for the key IP. Liveness and
// endpoints are left out on purpose: they change often, and leaving them out
// of the balancing table is what keeps those changes from moving other IPs.
func staticCandidates(key netip.Addr, nodes []Node) []string {
	names := make([]string, 0, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		if !n.ExcludedByLabel && slices.Contains(n.Selected, key) && slices.Contains(n.Reaches, key) {
			names = append(names, n.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// tableFor returns the cached balancing table for the given sorted names.
func (e *Elector) tableFor(names []string) *table {
	if len(names) == 0 {
		return nil
	}
	id := joinNames(names)
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.tables[id]; ok {
		return t
	}
	if len(e.tables) >= maxCachedTables {
		clear(e.tables)
	}
	t := newTable(names)
	e.tables[id] = t
	return t
}

func joinNames(names []string) string {
	size := 0
	for _, n := range names {
		size += len(n) + 1
	}
	b := make([]byte, 0, size)
	for _, n := range names {
		b = append(b, n...)
		b = append(b, 0)
	}
	return string(b)
}
