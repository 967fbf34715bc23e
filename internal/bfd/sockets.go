package bfd

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// listener is a receiving socket; exactly one of p4 and p6 is set, the one
// that was asked for the received TTL (its control message buffer is sized then).
type listener struct {
	conn net.PacketConn
	p4   *ipv4.PacketConn
	p6   *ipv6.PacketConn
}

// listen opens a receiving socket that reports each packet's TTL.
func listen(addr netip.Addr, port int) (listener, error) {
	network := "udp4"
	if addr.Is6() {
		network = "udp6"
	}
	conn, err := net.ListenPacket(network, netip.AddrPortFrom(addr, uint16(port)).String())
	if err != nil {
		return listener{}, fmt.Errorf("bfd: listen on %s port %d: %w", addr, port, err)
	}
	l := listener{conn: conn}
	if addr.Is4() {
		l.p4 = ipv4.NewPacketConn(conn)
		err = l.p4.SetControlMessage(ipv4.FlagTTL, true)
	} else {
		l.p6 = ipv6.NewPacketConn(conn)
		err = l.p6.SetControlMessage(ipv6.FlagHopLimit, true)
	}
	if err != nil {
		_ = conn.Close()
		return listener{}, fmt.Errorf("bfd: ask for the received TTL on %s: %w", addr, err)
	}
	return l, nil
}

// readFrom reads one datagram and the TTL (hop limit) it arrived with; -1 when unknown.
func (l listener) readFrom(buf []byte) (n int, src net.Addr, ttl int, err error) {
	ttl = -1
	if l.p4 != nil {
		var cm *ipv4.ControlMessage
		n, cm, src, err = l.p4.ReadFrom(buf)
		if cm != nil {
			ttl = cm.TTL
		}
		return n, src, ttl, err
	}
	var cm *ipv6.ControlMessage
	n, cm, src, err = l.p6.ReadFrom(buf)
	if cm != nil {
		ttl = cm.HopLimit
	}
	return n, src, ttl, err
}

// sender opens the socket a session sends from: a source port in
// 49152–65535 (RFC 5881 §4) and TTL 255 (RFC 5881 §5).
func sender(peer, source netip.Addr) (*net.UDPConn, error) {
	network, local := "udp4", netip.IPv4Unspecified()
	if peer.Is6() {
		network, local = "udp6", netip.IPv6Unspecified()
	}
	if source.IsValid() {
		local = source
	}
	var lastErr error
	for range 32 {
		port := minSourcePort + rand.IntN(maxSourcePort-minSourcePort+1)
		conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, uint16(port))))
		if err != nil {
			lastErr = err
			continue
		}
		if peer.Is4() {
			err = ipv4.NewConn(conn).SetTTL(255)
		} else {
			err = ipv6.NewConn(conn).SetHopLimit(255)
		}
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("bfd: set TTL 255 towards %s: %w", peer, err)
		}
		return conn, nil
	}
	return nil, fmt.Errorf("bfd: no free source port towards %s: %w", peer, lastErr)
}
