// Package announce decides what one speaker announces: which service IPs its
// node answers ARP/NDP for (layer 2, after the owner election), which BGP
// sessions it keeps and which prefixes it advertises to which peer with which
// attributes. Compute is a pure function of a Snapshot; a Planner keeps the
// same plan up to date event by event. The speaker applies the difference
// between two plans to its layer 2 and BGP shells.
package announce

import (
	"maps"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/election"
)

// ExcludeLabel keeps a node from announcing any LoadBalancer address.
const ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// Snapshot is everything a plan depends on.
type Snapshot struct {
	Config *config.Config
	// Self is this speaker's node name.
	Self string
	// Nodes are the cluster's nodes, by name.
	Nodes map[string]Node
	// Members are the nodes whose speakers are live members.
	Members map[string]bool
	// Services are the LoadBalancer Services with addresses.
	Services []Service
	// Quorum is how many speakers this one sees against how many run;
	// without quorum it takes over no address it does not answer already.
	Quorum election.Quorum
	// Answering are the addresses this node answers ARP/NDP for now.
	Answering map[netip.Addr]bool
	// ClaimedElsewhere are the Services ("namespace/name") another node
	// announces in layer 2 as the API server shows it (their
	// ServiceL2Status objects): without quorum this node gives their
	// addresses up (election.MayAnswer). The speaker gathers them only while
	// it answers addresses without quorum.
	ClaimedElsewhere map[string]bool
}

// Node is what a plan needs to know about a node.
type Node struct {
	Name   string
	Labels labels.Set
	// Addresses are the node's InternalIPs, used as BGP next hops.
	Addresses []netip.Addr
	// Interfaces are the node's network interfaces as its speaker reports
	// them, or last reported them before it left; nil means its speaker was
	// never heard of, and the node is assumed to reach every IP.
	Interfaces []Interface
}

// Equal reports whether two Nodes are the same to a plan: every field
// counts (TestNodeEqualCoversEveryField), and interfaces never heard of
// (nil) differ from none.
func (n Node) Equal(o Node) bool {
	return n.Name == o.Name && maps.Equal(n.Labels, o.Labels) && slices.Equal(n.Addresses, o.Addresses) &&
		(n.Interfaces == nil) == (o.Interfaces == nil) &&
		slices.EqualFunc(n.Interfaces, o.Interfaces, func(a, b Interface) bool {
			return a.Name == b.Name && slices.Equal(a.Prefixes, b.Prefixes)
		})
}

// SameNodes reports whether two sets of Nodes are the same to a plan.
func SameNodes(a, b map[string]Node) bool {
	return maps.EqualFunc(a, b, Node.Equal)
}

// Interface is a network interface and the subnets configured on it.
type Interface struct {
	Name     string
	Prefixes []netip.Prefix
}

// Service is what a plan needs to know about a LoadBalancer Service.
type Service struct {
	// Key is "namespace/name".
	Key    string
	IPs    []netip.Addr
	Labels labels.Set
	// LocalTrafficPolicy is true for externalTrafficPolicy: Local.
	LocalTrafficPolicy bool
	// AllowsSharedIP is true when the Service carries the allow-shared-ip
	// annotation.
	AllowsSharedIP bool
	// EndpointNodes are the nodes with a usable endpoint of the Service:
	// ready, or serving while terminating (k8s.EndpointCanServe).
	EndpointNodes map[string]bool
	// HasReadyEndpoint is true when some endpoint of the Service is usable,
	// on a node or not.
	HasReadyEndpoint bool
}

// HasUsableEndpoint reports whether traffic for the Service arriving at
// node finds an endpoint: any usable one for externalTrafficPolicy:
// Cluster, one on node for Local. Layer 2 and BGP both announce only from
// such nodes, as MetalLB does.
func (svc *Service) HasUsableEndpoint(node string) bool {
	if svc.LocalTrafficPolicy {
		return svc.EndpointNodes[node]
	}
	return svc.HasReadyEndpoint
}

// Plan is what the speaker of Snapshot.Self must announce.
type Plan struct {
	// L2 are the addresses this node owns in layer 2 mode, sorted by IP.
	L2 []L2Announcement
	// L2Unowned are the layer 2 addresses no node may own, sorted by IP;
	// only the node that reports them (the live member with the lowest
	// name) has them.
	L2Unowned []L2Unowned
	// L2WithoutQuorum are the addresses this node was elected for but does
	// not take over, because it sees fewer than half of the running
	// speakers (see election.MayAnswer), sorted.
	L2WithoutQuorum []netip.Addr
	// BGP are this node's sessions and advertisements.
	BGP BGPPlan
}

// Compute returns the plan of s.Self: the plan of a new Planner.
func Compute(s *Snapshot, elector *election.Elector) Plan {
	return NewPlanner(s, elector).Plan()
}

// poolOf returns the pool holding ip, or nil.
func poolOf(cfg *config.Config, ip netip.Addr) *config.Pool {
	for _, pool := range cfg.Pools {
		if pool.Contains(ip) {
			return pool
		}
	}
	return nil
}

func excluded(n Node) bool {
	_, found := n.Labels[ExcludeLabel]
	return found
}

// sortedKeys returns the keys of a set in order.
func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
