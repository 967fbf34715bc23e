package layer2

import (
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// link is what the packet decisions need to know about the interface a
// frame arrived on.
type link struct {
	name string
	mac  net.HardwareAddr
}

// decision is the outcome of one received frame.
type decision struct {
	// asked is the owned IP the frame asked for; invalid when the frame is
	// malformed, not a request, or asks for an IP this node does not own
	// on this link.
	asked netip.Addr
	// reply is the frame to send back (nil for none) and to its
	// destination hardware address.
	reply []byte
	to    net.HardwareAddr
}

// decideARP answers an Ethernet frame carrying an ARP request for an IP that
// owned allows on l. Anything else — truncated, malformed, a reply, a
// gratuitous announcement, our own frame, another protocol — gets no reply.
func decideARP(frame []byte, l link, owned *ownedSet) decision {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil || f.EtherType != ethernet.EtherTypeARP || f.VLAN != nil {
		return decision{}
	}
	if macEqual(f.Source, l.mac) {
		return decision{}
	}
	var req arp.Packet
	if err := req.UnmarshalBinary(f.Payload); err != nil {
		return decision{}
	}
	if req.Operation != arp.OperationRequest || req.HardwareType != 1 || req.ProtocolType != uint16(ethernet.EtherTypeIPv4) ||
		req.HardwareAddrLength != 6 || req.IPLength != 4 {
		return decision{}
	}
	if !req.TargetIP.Is4() || req.SenderIP == req.TargetIP || !unicastMAC(req.SenderHardwareAddr) {
		return decision{}
	}
	if !owned.allows(req.TargetIP, l.name) {
		return decision{}
	}
	reply, err := arp.NewPacket(arp.OperationReply, l.mac, req.TargetIP, req.SenderHardwareAddr, req.SenderIP)
	if err != nil {
		return decision{}
	}
	out, err := arpFrame(reply, req.SenderHardwareAddr, l.mac)
	if err != nil {
		return decision{}
	}
	return decision{asked: req.TargetIP, reply: out, to: req.SenderHardwareAddr}
}

// gratuitousARP returns a broadcast ARP request announcing that ip is at mac
// (sender and target IP both ip), which updates every neighbour cache on the
// segment that has an entry for ip.
func gratuitousARP(ip netip.Addr, mac net.HardwareAddr) ([]byte, error) {
	p, err := arp.NewPacket(arp.OperationRequest, mac, ip, ethernet.Broadcast, ip)
	if err != nil {
		return nil, err
	}
	return arpFrame(p, ethernet.Broadcast, mac)
}

func arpFrame(p *arp.Packet, dst, src net.HardwareAddr) ([]byte, error) {
	payload, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	f := ethernet.Frame{Destination: dst, Source: src, EtherType: ethernet.EtherTypeARP, Payload: payload}
	return f.MarshalBinary()
}

func macEqual(a, b net.HardwareAddr) bool {
	return string(a) == string(b)
}

// unicastMAC reports whether mac is a 6-byte address a reply can go to.
func unicastMAC(mac net.HardwareAddr) bool {
	return len(mac) == 6 && mac[0]&1 == 0 && string(mac) != "\x00\x00\x00\x00\x00\x00"
}
