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
}

// L2Election is the outcome of the election of one service's addresses, for
// status and logs.
type L2Election struct {
	Service string
	Results []election.Result
}

func planL2(s *Snapshot, elector Elector) []L2Announcement {
	var out []L2Announcement
	self := s.Nodes[s.Self]
	for i := range s.Services {
		svc := &s.Services[i]
		advs := l2Advertisements(s.Config, svc)
		if len(advs) == 0 {
			continue
		}
		for _, r := range elect(s, svc, advs, elector) {
			if r.Owner == s.Self {
				out = append(out, L2Announcement{IP: r.IP, Service: svc.Key, Interfaces: allowedInterfaces(advs, self)})
			}
		}
	}
	slices.SortFunc(out, func(a, b L2Announcement) int { return a.IP.Compare(b.IP) })
	return out
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

// ElectL2 runs the layer 2 election of every service announced in layer 2,
// for status and logs.
func ElectL2(s *Snapshot, elector Elector) []L2Election {
	var out []L2Election
	for i := range s.Services {
		svc := &s.Services[i]
		if advs := l2Advertisements(s.Config, svc); len(advs) > 0 {
			out = append(out, L2Election{Service: svc.Key, Results: elect(s, svc, advs, elector)})
		}
	}
	return out
}

// elect runs the election of svc's addresses. When advertisements give
// preferredNodeSelectors, a second round keeps only the eligible nodes of the
// highest preference (the others are reported NotSelected).
func elect(s *Snapshot, svc *Service, advs []*config.L2Advertisement, elector Elector) []election.Result {
	nodes := make([]election.Node, 0, len(s.Nodes))
	weights := make([]int, 0, len(s.Nodes))
	for _, node := range s.Nodes {
		n, weight := electionNode(s, svc, advs, node)
		nodes = append(nodes, n)
		weights = append(weights, weight)
	}
	esvc := election.Service{IPs: svc.IPs, LocalTrafficPolicy: svc.LocalTrafficPolicy}
	results := elector.Elect(esvc, nodes)
	if slices.Max(append(weights, 0)) == 0 {
		return results
	}
	// Eligible nodes are those not rejected for the first address; the
	// addresses of one service are elected together.
	rejected := map[string]bool{}
	for _, r := range results[0].Rejected {
		rejected[r.Node] = true
	}
	best := 0
	for i, n := range nodes {
		if !rejected[n.Name] {
			best = max(best, weights[i])
		}
	}
	for i := range nodes {
		if weights[i] < best {
			nodes[i].Selected = nil
		}
	}
	return elector.Elect(esvc, nodes)
}

// electionNode gathers one node's facts for the election of svc, and its
// preference weight.
func electionNode(s *Snapshot, svc *Service, advs []*config.L2Advertisement, node Node) (election.Node, int) {
	n := election.Node{
		Name:            node.Name,
		Member:          s.Members[node.Name],
		ExcludedByLabel: excluded(node),
		LocalEndpoint:   svc.EndpointNodes[node.Name],
	}
	weight := 0
	var selecting []*config.L2Advertisement
	for _, adv := range advs {
		if adv.NodeSelectors.Matches(node.Labels) {
			selecting = append(selecting, adv)
			weight = max(weight, preference(adv, node))
		}
	}
	if len(selecting) > 0 {
		n.Selected = svc.IPs
	}
	for _, ip := range svc.IPs {
		if reaches(node, selecting, ip) {
			n.Reaches = append(n.Reaches, ip)
		}
	}
	return n, weight
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

// reaches reports whether one of node's interfaces allowed by an
// advertisement holds a subnet containing ip. A node whose interfaces are
// unknown is assumed to reach it.
func reaches(node Node, advs []*config.L2Advertisement, ip netip.Addr) bool {
	if node.Interfaces == nil {
		return true
	}
	for _, adv := range advs {
		for _, iface := range node.Interfaces {
			if len(adv.Interfaces) > 0 && !slices.Contains(adv.Interfaces, iface.Name) {
				continue
			}
			for _, p := range iface.Prefixes {
				if p.Contains(ip) {
					return true
				}
			}
		}
	}
	return false
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
