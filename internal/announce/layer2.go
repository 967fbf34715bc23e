package announce

import (
	"net/netip"
	"slices"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/election"
)

// Elector chooses the owner of each IP of a service among nodes.
type Elector interface {
	Elect(svc election.Service, nodes []election.Node) []election.Result
}

// L2Announcement is one address this node answers ARP/NDP for.
type L2Announcement struct {
	IP      netip.Addr
	Service string
	// Interfaces limits the interfaces it is announced on; empty means every
	// suitable interface.
	Interfaces []string
	// AnyInterface is true when no selected node has an interface whose
	// subnet contains IP, so the owner was elected as MetalLB does, without
	// regard to subnets.
	AnyInterface bool
	// Rejected are the nodes that could not own IP, and why.
	Rejected []election.Rejection
}

// L2Unowned is a service address that no node may announce, and why.
type L2Unowned struct {
	IP       netip.Addr
	Service  string
	Rejected []election.Rejection
}

// planL2 returns the addresses this node owns, those it was elected for
// but does not take over for lack of quorum and, when this node is the one
// that reports them, the addresses no node may own.
func planL2(s *Snapshot, elector Elector) (owned []L2Announcement, withoutQuorum []netip.Addr, unowned []L2Unowned) {
	self := s.Nodes[s.Self]
	reporter := s.reportsUnowned()
	for i := range s.Services {
		svc := &s.Services[i]
		advs := l2Advertisements(s.Config, svc)
		if len(advs) == 0 {
			continue
		}
		for _, r := range elect(s, svc, advs, elector) {
			switch r.Owner {
			case s.Self:
				if !election.MayAnswer(s.Answering[r.IP], s.ClaimedElsewhere[svc.Key], s.Quorum) {
					withoutQuorum = append(withoutQuorum, r.IP)
					continue
				}
				owned = append(owned, L2Announcement{IP: r.IP, Service: svc.Key, Interfaces: allowedInterfaces(advs, self),
					AnyInterface: r.AnyInterface, Rejected: r.Rejected})
			case "":
				if !reporter {
					continue
				}
				unowned = append(unowned, L2Unowned{IP: r.IP, Service: svc.Key, Rejected: r.Rejected})
			}
		}
	}
	slices.SortFunc(owned, func(a, b L2Announcement) int { return a.IP.Compare(b.IP) })
	slices.SortFunc(unowned, func(a, b L2Unowned) int { return a.IP.Compare(b.IP) })
	slices.SortFunc(withoutQuorum, netip.Addr.Compare)
	return owned, withoutQuorum, unowned
}

// reportsUnowned reports whether this node reports the addresses no node
// may own: the live member with the lowest name does, so that one Event is
// written, not one per node.
func (s *Snapshot) reportsUnowned() bool {
	if !s.Members[s.Self] {
		return false
	}
	for name := range s.Members {
		if s.Members[name] && name < s.Self {
			return false
		}
	}
	return true
}

// l2Advertisements returns the L2Advertisements that announce svc.
func l2Advertisements(cfg *config.Config, svc *Service) []*config.L2Advertisement {
	if len(svc.IPs) == 0 {
		return nil
	}
	pool := poolOf(cfg, svc.IPs[0])
	if pool == nil {
		return nil
	}
	var out []*config.L2Advertisement
	for _, adv := range cfg.L2Advertisements {
		if slices.Contains(adv.Pools, pool.Name) && adv.ServiceSelectors.Matches(svc.Labels) {
			out = append(out, adv)
		}
	}
	return out
}

// elect gathers every node's facts and runs the election of svc's
// addresses.
func elect(s *Snapshot, svc *Service, advs []*config.L2Advertisement, elector Elector) []election.Result {
	nodes := make([]election.Node, 0, len(s.Nodes))
	for _, node := range s.Nodes {
		nodes = append(nodes, electionNode(s, svc, advs, node))
	}
	esvc := election.Service{
		IPs:                          svc.IPs,
		LocalTrafficPolicy:           svc.LocalTrafficPolicy,
		SharedIPWithServiceSelectors: svc.AllowsSharedIP && anyServiceSelectors(advs),
	}
	return elector.Elect(esvc, nodes)
}

// anyServiceSelectors reports whether an advertisement has service selectors.
func anyServiceSelectors(advs []*config.L2Advertisement) bool {
	for _, adv := range advs {
		if len(adv.ServiceSelectors) > 0 {
			return true
		}
	}
	return false
}

// electionNode gathers one node's facts for the election of svc.
func electionNode(s *Snapshot, svc *Service, advs []*config.L2Advertisement, node Node) election.Node {
	n := election.Node{
		Name:            node.Name,
		Member:          s.Members[node.Name],
		ExcludedByLabel: excluded(node),
		Endpoint:        svc.HasUsableEndpoint(node.Name),
		SubnetsKnown:    node.Interfaces != nil,
	}
	for _, adv := range advs {
		if !adv.NodeSelectors.Matches(node.Labels) {
			continue
		}
		n.Selected = true
		n.Preference = max(n.Preference, preference(adv, node))
		for _, iface := range node.Interfaces {
			if len(adv.Interfaces) == 0 || slices.Contains(adv.Interfaces, iface.Name) {
				n.Subnets = append(n.Subnets, iface.Prefixes...)
			}
		}
	}
	return n
}

// preference sums the weights of an advertisement's preferredNodeSelectors
// that select node.
func preference(adv *config.L2Advertisement, node Node) int {
	total := 0
	for _, pref := range adv.PreferredNodes {
		if pref.Selector.Matches(node.Labels) {
			total += int(pref.Weight)
		}
	}
	return total
}

// allowedInterfaces returns the interfaces that the advertisements selecting
// node allow; empty means all.
func allowedInterfaces(advs []*config.L2Advertisement, node Node) []string {
	set := map[string]bool{}
	for _, adv := range advs {
		if !adv.NodeSelectors.Matches(node.Labels) {
			continue
		}
		if len(adv.Interfaces) == 0 {
			return nil
		}
		for _, name := range adv.Interfaces {
			set[name] = true
		}
	}
	return sortedKeys(set)
}
