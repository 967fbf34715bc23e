package announce

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"slices"

	"github.com/ironlb/ironlb/internal/bgpspec"
	"github.com/ironlb/ironlb/internal/config"
)

// nodeSessions decides, for one node, the BGP sessions it keeps and its
// router ID: the one judge of the facts that depend on the node. The
// configuration has already accepted every BGPPeer on its own; here a peer
// selecting the node is
//   - left out when an earlier one (by name) has the same address, or the
//     same interface for unnumbered peers, on this node (the embedded BGP
//     server keeps one neighbour per address, even when the ports differ);
//   - left out when it sets a routerID other than the node's (one BGP
//     identifier per node: the embedded server has one);
//   - kept without its second family when it asks for
//     dualStackAddressFamily and the node has no InternalIP of that family
//     to use as next hop.
//
// Each is reported as a PeerProblem; the other peers are not affected.
func nodeSessions(cfg *config.Config, self Node) BGPPlan {
	var matched []*config.Peer
	for _, name := range sortedPeerNames(cfg) {
		if p := cfg.Peers[name]; p.NodeSelectors.Matches(self.Labels) {
			matched = append(matched, p)
		}
	}
	plan := BGPPlan{RouterID: routerIDOf(matched, self)}
	if len(matched) == 0 {
		return plan
	}
	neighbors := map[string]string{} // Peer.Neighbor → the peer that has it
	for _, p := range matched {
		if first, taken := neighbors[p.Neighbor()]; taken {
			plan.Problems = append(plan.Problems, problemf(p.Name, true,
				"BGPPeers %s and %s both select node %s for peer %s: one session per address or interface, %s is left out", first, p.Name, self.Name, p.Neighbor(), p.Name))
			continue
		}
		if p.RouterID.IsValid() && p.RouterID != plan.RouterID {
			plan.Problems = append(plan.Problems, problemf(p.Name, true,
				"routerID %s differs from %s, the router ID of node %s (set by the first of its BGPPeers by name): one router ID per node, %s is left out",
				p.RouterID, plan.RouterID, self.Name, p.Name))
			continue
		}
		neighbors[p.Neighbor()] = p.Name
		session, problem := sessionFor(p, self)
		if problem != nil {
			plan.Problems = append(plan.Problems, *problem)
		}
		plan.Peers = append(plan.Peers, session)
	}
	return plan
}

// routerIDOf returns node's BGP identifier: the routerID of the first of
// its peers (by name) that sets one; else its first IPv4 InternalIP; else,
// on an IPv6-only node, one derived from the node's name as MetalLB's
// native mode does: the CRC-32 (IEEE) of the name, its bytes in
// little-endian order.
func routerIDOf(peers []*config.Peer, node Node) netip.Addr {
	for _, p := range peers {
		if p.RouterID.IsValid() {
			return p.RouterID
		}
	}
	for _, addr := range node.Addresses {
		if addr.Is4() {
			return addr
		}
	}
	var id [4]byte
	binary.LittleEndian.PutUint32(id[:], crc32.ChecksumIEEE([]byte(node.Name)))
	return netip.AddrFrom4(id)
}

func sortedPeerNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Peers))
	for name := range cfg.Peers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// bfdFor translates a peer's BFDProfile; nil is no BFD.
func bfdFor(p *config.BFDProfile) bgpspec.BFD {
	if p == nil {
		return bgpspec.BFD{}
	}
	return bgpspec.BFD{
		Profile:          p.Name,
		ReceiveInterval:  p.ReceiveInterval,
		TransmitInterval: p.TransmitInterval,
		DetectMultiplier: uint8(p.DetectMultiplier),
		PassiveMode:      p.PassiveMode,
	}
}

// sessionFor translates a configured peer into a session of node, with a
// problem when the node cannot carry its second family.
func sessionFor(p *config.Peer, node Node) (bgpspec.Peer, *PeerProblem) {
	myASN := p.MyASN
	if p.LocalASN != 0 {
		myASN = p.LocalASN
	}
	out := bgpspec.Peer{
		Name:                   p.Name,
		MyASN:                  myASN,
		PeerASN:                p.PeerASN,
		Address:                p.Address,
		Interface:              p.Interface,
		Port:                   p.Port,
		SourceAddress:          p.SourceAddress,
		HoldTime:               p.HoldTime,
		KeepaliveTime:          p.KeepaliveTime,
		ConnectTime:            p.ConnectTime,
		EBGPMultiHop:           p.EBGPMultiHop,
		Password:               p.Password,
		DualStackAddressFamily: p.DualStackAddressFamily,
		GracefulRestart:        p.GracefulRestart,
		BFD:                    bfdFor(p.BFD),
	}
	for _, addr := range node.Addresses {
		if addr.Is4() && !out.NextHopIPv4.IsValid() {
			out.NextHopIPv4 = addr
		}
		if addr.Is6() && addr.IsGlobalUnicast() && !out.NextHopIPv6.IsValid() {
			out.NextHopIPv6 = addr
		}
	}
	nextHop, own, other := out.NextHopIPv6, "IPv4", "IPv6"
	if p.Address.Is6() {
		nextHop, own, other = out.NextHopIPv4, "IPv6", "IPv4"
	}
	if !out.DualStackAddressFamily || nextHop.IsValid() {
		return out, nil
	}
	out.DualStackAddressFamily = false
	problem := problemf(p.Name, false,
		"dualStackAddressFamily: node %s has no %s InternalIP to use as next hop; the session carries %s prefixes only",
		node.Name, other, own)
	return out, &problem
}
