package layer2

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

const (
	ipv6HeaderLen    = 40
	protocolICMPv6   = 58
	ndpHopLimit      = 255
	icmpTypeNS       = 135
	etherTypeIPv6Hex = 0x86dd
)

// allNodes is ff02::1, where unsolicited advertisements go.
var allNodes = netip.MustParseAddr("ff02::1")

// decideNDP answers an Ethernet frame carrying an IPv6 neighbour
// solicitation (RFC 4861 §7.1.1 checks: hop limit 255, code 0, valid
// checksum, target not multicast, no source link-layer option from the
// unspecified address) for an IP that owned allows on l. The advertisement
// is sent from the target address itself: some clients ignore one that
// comes from a link-local source.
func decideNDP(frame []byte, l link, owned *ownedSet) decision {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil || f.EtherType != ethernet.EtherTypeIPv6 || f.VLAN != nil {
		return decision{}
	}
	if macEqual(f.Source, l.mac) {
		return decision{}
	}
	src, dst, body, ok := parseIPv6ICMP(f.Payload)
	if !ok || len(body) < 2 || body[1] != 0 || !validChecksum(src, dst, body) {
		return decision{}
	}
	msg, err := ndp.ParseMessage(body)
	if err != nil {
		return decision{}
	}
	ns, ok := msg.(*ndp.NeighborSolicitation)
	if !ok {
		return decision{}
	}
	target := ns.TargetAddress
	if !target.Is6() || target.Is4In6() || target.IsMulticast() || !owned.allows(target, l.name) {
		return decision{}
	}
	solicitedNode, err := ndp.SolicitedNodeMulticast(target)
	if err != nil || (dst != solicitedNode && dst != target) {
		return decision{}
	}
	sourceMAC := sourceLinkLayer(ns.Options)
	replyTo, replyMAC := src, sourceMAC
	solicited := true
	switch {
	case src.IsUnspecified():
		// Duplicate address detection by someone else: defend the
		// address towards all nodes (RFC 4861 §7.2.4).
		if sourceMAC != nil {
			return decision{}
		}
		replyTo, replyMAC, solicited = allNodes, multicastMAC(allNodes), false
	case src.IsMulticast():
		return decision{}
	case replyMAC == nil:
		replyMAC = f.Source
	}
	if !unicastMAC(replyMAC) && solicited {
		return decision{}
	}
	out, err := advertisement(target, replyTo, l.mac, replyMAC, solicited)
	if err != nil {
		return decision{}
	}
	return decision{asked: target, reply: out, to: replyMAC}
}

// unsolicitedNA returns a neighbour advertisement to all nodes that ip is at
// mac (override set, solicited clear), sent from ip itself.
func unsolicitedNA(ip netip.Addr, mac net.HardwareAddr) ([]byte, error) {
	return advertisement(ip, allNodes, mac, multicastMAC(allNodes), false)
}

// advertisement builds an Ethernet frame with a neighbour advertisement for
// target, from target to dst.
func advertisement(target, dst netip.Addr, srcMAC, dstMAC net.HardwareAddr, solicited bool) ([]byte, error) {
	na := &ndp.NeighborAdvertisement{
		Solicited:     solicited,
		Override:      true,
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: srcMAC}},
	}
	body, err := ndp.MarshalMessageChecksum(na, target, dst)
	if err != nil {
		return nil, err
	}
	packet := make([]byte, ipv6HeaderLen+len(body))
	packet[0] = 6 << 4
	binary.BigEndian.PutUint16(packet[4:6], uint16(len(body)))
	packet[6] = protocolICMPv6
	packet[7] = ndpHopLimit
	src16, dst16 := target.As16(), dst.As16()
	copy(packet[8:24], src16[:])
	copy(packet[24:40], dst16[:])
	copy(packet[ipv6HeaderLen:], body)
	f := ethernet.Frame{Destination: dstMAC, Source: srcMAC, EtherType: ethernet.EtherTypeIPv6, Payload: packet}
	return f.MarshalBinary()
}

// parseIPv6ICMP returns the addresses and ICMPv6 message of an IPv6 packet
// that carries ICMPv6 directly (no extension headers) with hop limit 255.
func parseIPv6ICMP(p []byte) (src, dst netip.Addr, body []byte, ok bool) {
	if len(p) < ipv6HeaderLen || p[0]>>4 != 6 || p[6] != protocolICMPv6 || p[7] != ndpHopLimit {
		return netip.Addr{}, netip.Addr{}, nil, false
	}
	length := int(binary.BigEndian.Uint16(p[4:6]))
	if len(p) < ipv6HeaderLen+length {
		return netip.Addr{}, netip.Addr{}, nil, false
	}
	src = netip.AddrFrom16([16]byte(p[8:24]))
	dst = netip.AddrFrom16([16]byte(p[24:40]))
	return src, dst, p[ipv6HeaderLen : ipv6HeaderLen+length], true
}

// validChecksum verifies an ICMPv6 checksum over the IPv6 pseudo-header.
func validChecksum(src, dst netip.Addr, body []byte) bool {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	sum += uint32(len(body)>>16) + uint32(len(body)&0xffff) + protocolICMPv6
	add(body)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

// sourceLinkLayer returns the source link-layer address option, if any.
func sourceLinkLayer(opts []ndp.Option) net.HardwareAddr {
	for _, o := range opts {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
			return lla.Addr
		}
	}
	return nil
}

// multicastMAC maps an IPv6 multicast address to its Ethernet address
// (33:33 followed by the address's last four bytes, RFC 2464 §7).
func multicastMAC(ip netip.Addr) net.HardwareAddr {
	b := ip.As16()
	return net.HardwareAddr{0x33, 0x33, b[12], b[13], b[14], b[15]}
}
