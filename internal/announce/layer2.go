package announce

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/election"
)

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

// l2Advertisements returns the L2Advertisements that announce svc and a
// key that identifies them among the configuration's.
func l2Advertisements(cfg *config.Config, svc *Service) ([]*config.L2Advertisement, string) {
	if len(svc.IPs) == 0 {
		return nil, ""
	}
	pool := poolOf(cfg, svc.IPs[0])
	if pool == nil {
		return nil, ""
	}
	var out []*config.L2Advertisement
	var key []byte
	for i, adv := range cfg.L2Advertisements {
		if slices.Contains(adv.Pools, pool.Name) && adv.ServiceSelectors.Matches(svc.Labels) {
			out = append(out, adv)
			key = binary.AppendUvarint(key, uint64(i))
		}
	}
	return out, string(key)
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

// electionNode gathers one node's facts for the election of a service
// announced by advs, endpoints aside.
func electionNode(s *Snapshot, advs []*config.L2Advertisement, node Node) election.Node {
	n := election.Node{
		Name:            node.Name,
		Member:          s.Members[node.Name],
		ExcludedByLabel: excluded(node),
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
