// Package election decides, and explains, which node answers ARP/NDP for
// each IP of a LoadBalancer service in layer-2 mode.
//
// The decision is a pure function of the service's IPs and per-node facts:
// every speaker computes it on its own and, given the same facts, every
// speaker reaches the same answer without talking to the others. Every node
// that cannot own an IP is reported with a typed Reason, and the Result says
// whether MetalLB's any-interface rule applied.
//
// A node is a candidate for an IP when it is a live member, is not labelled
// node.kubernetes.io/exclude-from-external-load-balancers, is selected by an
// L2Advertisement of the IP's pool, has an allowed interface whose subnet
// contains the IP, and the service has a usable endpoint for it (any ready or
// serving endpoint for externalTrafficPolicy: Cluster, one on the node for
// Local). When no selected node has such an interface, the interface
// condition is dropped for that IP, as MetalLB does, and every selected node
// qualifies. Among the candidates only those with the highest
// preferredNodeSelectors weight remain. Candidates are ranked per service
// (see ranking.go), so the IPs of a dual-stack service land on one node, and
// a membership change moves only the IPs of the nodes that joined or left.
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
	// SharedIPWithServiceSelectors means the service shares its IP
	// (allow-shared-ip) and an L2Advertisement matching it has service
	// selectors: MetalLB announces such a service nowhere, since services
	// sharing one IP could otherwise elect different owners.
	SharedIPWithServiceSelectors
	// NotMember means the node's speaker is not a live member.
	NotMember
	// ExcludedByLabel means the node carries the label
	// node.kubernetes.io/exclude-from-external-load-balancers.
	ExcludedByLabel
	// NotSelected means no L2Advertisement for the IP selects the node.
	NotSelected
	// NoInterface means none of the node's allowed interfaces has a subnet
	// containing the IP, while another selected node's has.
	NoInterface
	// NoEndpoints means the service (externalTrafficPolicy: Cluster) has no
	// ready or serving endpoint on any node.
	NoEndpoints
	// NoLocalEndpoints means the service has externalTrafficPolicy: Local
	// and the node has no ready or serving endpoint of it.
	NoLocalEndpoints
	// NotPreferred means another eligible node matches preferredNodeSelectors
	// of a higher total weight.
	NotPreferred
)

var reasonNames = [...]string{
	Eligible:                     "Eligible",
	SharedIPWithServiceSelectors: "SharedIPWithServiceSelectors",
	NotMember:                    "NotMember",
	ExcludedByLabel:              "ExcludedByLabel",
	NotSelected:                  "NotSelected",
	NoInterface:                  "NoInterface",
	NoEndpoints:                  "NoEndpoints",
	NoLocalEndpoints:             "NoLocalEndpoints",
	NotPreferred:                 "NotPreferred",
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
	// SharedIPWithServiceSelectors is true when the service allows sharing
	// its IP and an L2Advertisement matching it has service selectors.
	SharedIPWithServiceSelectors bool
}

// Node holds the facts about one node that the election filters on.
type Node struct {
	// Name is the Kubernetes node name, unique among the nodes passed in.
	Name string
	// Member is true while the node's speaker is a live member
	// (memberlist, less the nodes whose speaker pod is known and not
	// Ready or being deleted; node readiness when memberlist is disabled).
	Member bool
	// ExcludedByLabel is true when the node carries the label
	// node.kubernetes.io/exclude-from-external-load-balancers.
	ExcludedByLabel bool
	// Selected is true when an L2Advertisement of the service's pool that
	// matches the service selects the node.
	Selected bool
	// Preference is the total weight of the preferredNodeSelectors of those
	// advertisements that select the node.
	Preference int
	// SubnetsKnown is true when the node's interfaces are known: gossiped
	// by its speaker now or before it left. A node whose speaker was never
	// heard of is taken to reach every IP.
	SubnetsKnown bool
	// Subnets are the subnets of the node's interfaces that the selecting
	// advertisements allow.
	Subnets []netip.Prefix
	// Endpoint is true when the service has a usable (ready or serving)
	// endpoint for traffic arriving at the node: anywhere for
	// externalTrafficPolicy: Cluster, on the node for Local.
	Endpoint bool
}

// reaches reports whether one of the node's subnets contains ip.
func (n *Node) reaches(ip netip.Addr) bool {
	if !n.SubnetsKnown {
		return true
	}
	for _, p := range n.Subnets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
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
	// AnyInterface is true when no selected node has a known interface
	// whose subnet contains the IP, so interfaces were not considered
	// (MetalLB's rule): the owner answers on every allowed interface.
	AnyInterface bool
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
	results := make([]Result, len(svc.IPs))
	reasons := make([][]Reason, len(svc.IPs))
	for i, ip := range svc.IPs {
		results[i] = Result{IP: ip, AnyInterface: !reachedBySome(ip, nodes)}
		reasons[i] = make([]Reason, len(nodes))
		for j := range nodes {
			reasons[i][j] = check(svc, ip, results[i].AnyInterface, &nodes[j])
		}
	}
	// Preference rounds: the addresses of one service are elected
	// together, so the nodes eligible for the first one set the bar.
	best := bestPreference(nodes, reasons[0])
	for i := range reasons {
		for j := range nodes {
			if reasons[i][j] == Eligible && nodes[j].Preference < best {
				reasons[i][j] = NotPreferred
			}
		}
	}
	key := electionKey(svc.IPs)
	ranked := rank(key, e.tableFor(staticCandidates(key, best, nodes)), nodes)
	for i := range results {
		results[i].Owner, results[i].Rejected = firstEligible(ranked, nodes, reasons[i])
	}
	return results
}

// firstEligible returns the first eligible node of the ranking and the
// rejected nodes, sorted by name.
func firstEligible(ranked []int, nodes []Node, reasons []Reason) (string, []Rejection) {
	owner := ""
	var rejected []Rejection
	for _, j := range ranked {
		if reasons[j] != Eligible {
			rejected = append(rejected, Rejection{Node: nodes[j].Name, Reason: reasons[j]})
		} else if owner == "" {
			owner = nodes[j].Name
		}
	}
	slices.SortFunc(rejected, func(a, b Rejection) int { return strings.Compare(a.Node, b.Node) })
	return owner, rejected
}

// check returns the first reason that keeps n from owning ip, preferences
// aside.
func check(svc Service, ip netip.Addr, anyInterface bool, n *Node) Reason {
	switch {
	case svc.SharedIPWithServiceSelectors:
		return SharedIPWithServiceSelectors
	case !n.Member:
		return NotMember
	case n.ExcludedByLabel:
		return ExcludedByLabel
	case !n.Selected:
		return NotSelected
	case !anyInterface && !n.reaches(ip):
		return NoInterface
	case !n.Endpoint && svc.LocalTrafficPolicy:
		return NoLocalEndpoints
	case !n.Endpoint:
		return NoEndpoints
	}
	return Eligible
}

// reachedBySome reports whether a selected node not excluded by label has
// a known interface whose subnet contains ip. It depends on configuration and
// interfaces only, never on liveness, so a node's death does not switch an
// IP to the any-interface rule. Nodes with unknown interfaces prove nothing:
// a node without a speaker must not keep the others from MetalLB's rule.
func reachedBySome(ip netip.Addr, nodes []Node) bool {
	for i := range nodes {
		if n := &nodes[i]; n.Selected && !n.ExcludedByLabel && n.SubnetsKnown && n.reaches(ip) {
			return true
		}
	}
	return false
}

// bestPreference returns the highest preference among the eligible nodes.
func bestPreference(nodes []Node, reasons []Reason) int {
	best := 0
	for j := range nodes {
		if reasons[j] == Eligible {
			best = max(best, nodes[j].Preference)
		}
	}
	return best
}

// staticCandidates returns the sorted, de-duplicated names of the nodes that
// pass the filters that change only with configuration (advertisement
// selectors and preferences, the exclusion label, interfaces) for the key
// IP. Liveness and endpoints are left out on purpose: they change often,
// and leaving them out of the balancing table is what keeps those changes
// from moving other IPs.
func staticCandidates(key netip.Addr, best int, nodes []Node) []string {
	anyInterface := !reachedBySome(key, nodes)
	names := make([]string, 0, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		if !n.ExcludedByLabel && n.Selected && n.Preference >= best && (anyInterface || n.reaches(key)) {
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
