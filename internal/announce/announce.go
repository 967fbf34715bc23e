// Package announce decides what one speaker announces: which service IPs its
// node answers ARP/NDP for (layer 2, after the owner election), which BGP
// sessions it keeps and which prefixes it advertises to which peer with which
// attributes. Plan is a pure function of a Snapshot; the speaker applies the
// difference between two plans to its layer 2 and BGP shells.
package announce

import (
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/config"
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
}

// Node is what a plan needs to know about a node.
type Node struct {
	Name   string
	Labels labels.Set
	// Addresses are the node's InternalIPs, used as BGP next hops.
	Addresses []netip.Addr
	// Interfaces are the node's network interfaces as its speaker reports
	// them; nil means unknown, and the node is assumed to reach every IP.
	Interfaces []Interface
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
	// EndpointNodes are the nodes with a ready endpoint of the Service.
	EndpointNodes map[string]bool
	// HasReadyEndpoint is true when some endpoint of the Service is ready,
	// on a node or not.
	HasReadyEndpoint bool
}

// Plan is what the speaker of Snapshot.Self must announce.
type Plan struct {
	// L2 are the addresses this node owns in layer 2 mode, sorted by IP.
	L2 []L2Announcement
	// BGP are this node's sessions and advertisements.
	BGP BGPPlan
}

// Compute returns the plan of s.Self.
func Compute(s *Snapshot, elector Elector) Plan {
	if s.Config == nil {
		return Plan{}
	}
	return Plan{
		L2:  planL2(s, elector),
		BGP: planBGP(s),
	}
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
