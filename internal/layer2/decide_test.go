package layer2

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

var (
	ourMAC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	eth0      = link{name: "eth0", mac: ourMAC}
	eth1      = link{name: "eth1", mac: ourMAC}
	vip4      = netip.MustParseAddr("192.0.2.10")
	other4    = netip.MustParseAddr("192.0.2.11")
	client4   = netip.MustParseAddr("192.0.2.2")
	vip6      = netip.MustParseAddr("2001:db8::10")
	other6    = netip.MustParseAddr("2001:db8::11")
	client6   = netip.MustParseAddr("2001:db8::2")
)

// owned owns vip4 and vip6 on any interface, and 192.0.2.20 on eth1 only.
func owned() *ownedSet {
	return newOwnedSet([]Announcement{
		{IP: vip4}, {IP: vip6},
		{IP: netip.MustParseAddr("192.0.2.20"), Interfaces: []string{"eth1"}},
	})
}

func arpRequest(t testing.TB, op arp.Operation, senderMAC net.HardwareAddr, sender, target netip.Addr) []byte {
	t.Helper()
	p, err := arp.NewPacket(op, senderMAC, sender, ethernet.Broadcast, target)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := arpFrame(p, ethernet.Broadcast, senderMAC)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

func TestDecideARP(t *testing.T) {
	valid := arpRequest(t, arp.OperationRequest, clientMAC, client4, vip4)
	tests := []struct {
		name  string
		frame []byte
		link  link
		reply bool
	}{
		{"request for owned IP", valid, eth0, true},
		{"ARP probe (sender 0.0.0.0) for owned IP", arpRequest(t, arp.OperationRequest, clientMAC, netip.IPv4Unspecified(), vip4), eth0, true},
		{"request for IP not owned", arpRequest(t, arp.OperationRequest, clientMAC, client4, other4), eth0, false},
		{"owned on eth1 only, asked on eth0", arpRequest(t, arp.OperationRequest, clientMAC, client4, netip.MustParseAddr("192.0.2.20")), eth0, false},
		{"owned on eth1 only, asked on eth1", arpRequest(t, arp.OperationRequest, clientMAC, client4, netip.MustParseAddr("192.0.2.20")), eth1, true},
		{"reply, not a request", arpRequest(t, arp.OperationReply, clientMAC, client4, vip4), eth0, false},
		{"gratuitous announcement of our IP", arpRequest(t, arp.OperationRequest, clientMAC, vip4, vip4), eth0, false},
		{"our own frame", arpRequest(t, arp.OperationRequest, ourMAC, client4, vip4), eth0, false},
		{"multicast sender MAC", arpRequest(t, arp.OperationRequest, net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, client4, vip4), eth0, false},
		{"truncated", valid[:30], eth0, false},
		{"ethernet header only", valid[:14], eth0, false},
		{"empty", nil, eth0, false},
		{"wrong ethertype", withByte(valid, 13, 0x00), eth0, false},
		{"hardware type not ethernet", withByte(valid, 15, 6), eth0, false},
		{"protocol not IPv4", withByte(valid, 16, 0x86), eth0, false},
		{"hardware length 8", withByte(valid, 18, 8), eth0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideARP(tt.frame, tt.link, owned())
			if !tt.reply {
				if d.reply != nil || d.asked.IsValid() {
					t.Fatalf("got reply %x for %v, want none", d.reply, d.asked)
				}
				return
			}
			checkARPReply(t, d, tt.frame)
		})
	}
}

// checkARPReply checks that d answers request with our MAC for its target.
func checkARPReply(t testing.TB, d decision, request []byte) {
	t.Helper()
	var reqFrame, f ethernet.Frame
	var req, rep arp.Packet
	if err := reqFrame.UnmarshalBinary(request); err != nil {
		t.Fatal(err)
	}
	if err := req.UnmarshalBinary(reqFrame.Payload); err != nil {
		t.Fatal(err)
	}
	if err := f.UnmarshalBinary(d.reply); err != nil {
		t.Fatalf("reply is not an Ethernet frame: %v", err)
	}
	if err := rep.UnmarshalBinary(f.Payload); err != nil {
		t.Fatalf("reply is not ARP: %v", err)
	}
	if d.asked != req.TargetIP || rep.Operation != arp.OperationReply || rep.SenderIP != req.TargetIP ||
		!bytes.Equal(rep.SenderHardwareAddr, ourMAC) || rep.TargetIP != req.SenderIP ||
		!bytes.Equal(rep.TargetHardwareAddr, req.SenderHardwareAddr) ||
		!bytes.Equal(f.Destination, req.SenderHardwareAddr) || !bytes.Equal(d.to, req.SenderHardwareAddr) ||
		!bytes.Equal(f.Source, ourMAC) {
		t.Fatalf("reply %+v in frame %s→%s does not answer %+v", rep, f.Source, f.Destination, req)
	}
}

func TestGratuitousARP(t *testing.T) {
	frame, err := gratuitousARP(vip4, ourMAC)
	if err != nil {
		t.Fatal(err)
	}
	var f ethernet.Frame
	var p arp.Packet
	if err := f.UnmarshalBinary(frame); err != nil {
		t.Fatal(err)
	}
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Destination, ethernet.Broadcast) || p.Operation != arp.OperationRequest ||
		p.SenderIP != vip4 || p.TargetIP != vip4 || !bytes.Equal(p.SenderHardwareAddr, ourMAC) {
		t.Fatalf("gratuitous ARP %+v to %s", p, f.Destination)
	}
	// Another responder hearing it must not answer it.
	if d := decideARP(frame, link{name: "eth0", mac: clientMAC}, owned()); d.reply != nil {
		t.Fatal("a gratuitous ARP was answered")
	}
}

// nsFrame builds a neighbour solicitation frame for target from src to dst.
func nsFrame(t testing.TB, src, dst, target netip.Addr, srcMAC net.HardwareAddr, withSLLA bool) []byte {
	t.Helper()
	ns := &ndp.NeighborSolicitation{TargetAddress: target}
	if withSLLA {
		ns.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: srcMAC}}
	}
	body, err := ndp.MarshalMessageChecksum(ns, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return ipv6Frame(src, dst, srcMAC, multicastMAC(dst), body)
}

func ipv6Frame(src, dst netip.Addr, srcMAC, dstMAC net.HardwareAddr, body []byte) []byte {
	p := make([]byte, ipv6HeaderLen+len(body))
	p[0] = 6 << 4
	binary.BigEndian.PutUint16(p[4:6], uint16(len(body)))
	p[6], p[7] = protocolICMPv6, ndpHopLimit
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	copy(p[40:], body)
	f := ethernet.Frame{Destination: dstMAC, Source: srcMAC, EtherType: ethernet.EtherTypeIPv6, Payload: p}
	b, _ := f.MarshalBinary()
	return b
}

func solicitedNode(t testing.TB, ip netip.Addr) netip.Addr {
	t.Helper()
	g, err := ndp.SolicitedNodeMulticast(ip)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestDecideNDP(t *testing.T) {
	sn := solicitedNode(t, vip6)
	valid := nsFrame(t, client6, sn, vip6, clientMAC, true)
	tests := []struct {
		name      string
		frame     []byte
		replyTo   netip.Addr // invalid: no reply
		solicited bool
	}{
		{"solicitation for owned IP", valid, client6, true},
		{"unicast solicitation (reachability probe)", nsFrame(t, client6, vip6, vip6, clientMAC, true), client6, true},
		{"without source link-layer option", nsFrame(t, client6, sn, vip6, clientMAC, false), client6, true},
		{"duplicate address detection", nsFrame(t, netip.IPv6Unspecified(), sn, vip6, clientMAC, false), allNodes, false},
		{"DAD with source link-layer option", nsFrame(t, netip.IPv6Unspecified(), sn, vip6, clientMAC, true), netip.Addr{}, false},
		{"not owned", nsFrame(t, client6, solicitedNode(t, other6), other6, clientMAC, true), netip.Addr{}, false},
		{"wrong destination group", nsFrame(t, client6, solicitedNode(t, other6), vip6, clientMAC, true), netip.Addr{}, false},
		{"our own frame", nsFrame(t, client6, sn, vip6, ourMAC, true), netip.Addr{}, false},
		{"bad checksum", withByte(valid, 14+40+2, valid[14+40+2]^0xff), netip.Addr{}, false},
		{"hop limit 64", withByte(valid, 14+7, 64), netip.Addr{}, false},
		{"code 1", withByte(valid, 14+40+1, 1), netip.Addr{}, false},
		{"not ICMPv6", withByte(valid, 14+6, 17), netip.Addr{}, false},
		{"payload length beyond frame", withByte(valid, 14+4, 0xff), netip.Addr{}, false},
		{"truncated", valid[:14+40+10], netip.Addr{}, false},
		{"IPv4 ethertype", withByte(valid, 12, 0x08), netip.Addr{}, false},
		{"empty", nil, netip.Addr{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideNDP(tt.frame, eth0, owned())
			if !tt.replyTo.IsValid() {
				if d.reply != nil || d.asked.IsValid() {
					t.Fatalf("got reply %x for %v, want none", d.reply, d.asked)
				}
				return
			}
			checkAdvertisement(t, d.reply, vip6, tt.replyTo, tt.solicited)
		})
	}
}

// checkAdvertisement checks that frame is a valid advertisement of target at
// ourMAC, sent from target to dst.
func checkAdvertisement(t testing.TB, frame []byte, target, dst netip.Addr, solicited bool) {
	t.Helper()
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil {
		t.Fatal(err)
	}
	src, gotDst, body, ok := parseIPv6ICMP(f.Payload)
	if !ok || src != target || gotDst != dst || !validChecksum(src, gotDst, body) {
		t.Fatalf("advertisement IPv6 header: ok %v src %v dst %v (want %v→%v), checksum ok %v", ok, src, gotDst, target, dst, ok && validChecksum(src, gotDst, body))
	}
	m, err := ndp.ParseMessage(body)
	if err != nil {
		t.Fatal(err)
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	if !ok || na.TargetAddress != target || !na.Override || na.Solicited != solicited || na.Router {
		t.Fatalf("got %#v, want advertisement of %v (solicited %v, override)", m, target, solicited)
	}
	if len(na.Options) != 1 || !bytes.Equal(na.Options[0].(*ndp.LinkLayerAddress).Addr, ourMAC) {
		t.Fatalf("options %v, want target link-layer %s", na.Options, ourMAC)
	}
	if !bytes.Equal(f.Source, ourMAC) {
		t.Fatalf("frame source %s, want %s", f.Source, ourMAC)
	}
}

func TestUnsolicitedNA(t *testing.T) {
	frame, err := unsolicitedNA(vip6, ourMAC)
	if err != nil {
		t.Fatal(err)
	}
	checkAdvertisement(t, frame, vip6, allNodes, false)
	var f ethernet.Frame
	f.UnmarshalBinary(frame)
	if want := (net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}); !bytes.Equal(f.Destination, want) {
		t.Fatalf("destination %s, want %s", f.Destination, want)
	}
}

func TestOwnedSet(t *testing.T) {
	s := newOwnedSet([]Announcement{
		{IP: vip4, Interfaces: []string{"eth1"}},
		{IP: vip4, Interfaces: []string{"eth2"}},
		{IP: vip6, Interfaces: []string{"eth1"}},
		{IP: vip6}, // another advertisement allows every interface
		{IP: netip.MustParseAddr("::ffff:192.0.2.30")},
		{},
	})
	tests := []struct {
		ip   netip.Addr
		link string
		want bool
	}{
		{vip4, "eth1", true}, {vip4, "eth2", true}, {vip4, "eth0", false},
		{vip6, "eth0", true}, {vip6, "eth1", true},
		{netip.MustParseAddr("192.0.2.30"), "eth0", true},
		{other4, "eth0", false},
	}
	for _, tt := range tests {
		if got := s.allows(tt.ip, tt.link); got != tt.want {
			t.Errorf("allows(%v, %s) = %v, want %v", tt.ip, tt.link, got, tt.want)
		}
	}
	if got := len(s.sorted()); got != 3 {
		t.Errorf("%d owned IPs, want 3", got)
	}
}

func TestLinkUsability(t *testing.T) {
	usable := Link{Name: "eth0", Up: true, Running: true, Ethernet: true}
	tests := []struct {
		name   string
		change func(*Link)
		want   LinkReason
	}{
		{"usable", func(*Link) {}, Usable},
		{"admin down", func(l *Link) { l.Up = false }, LinkDown},
		{"no carrier", func(l *Link) { l.Running = false }, NoCarrier},
		{"loopback", func(l *Link) { l.Loopback = true }, Loopback},
		{"not ethernet", func(l *Link) { l.Ethernet = false }, NotEthernet},
		{"noarp", func(l *Link) { l.NoARP = true }, NoARP},
		{"bond slave", func(l *Link) { l.BondSlave = true }, BondSlave},
		{"bridge port", func(l *Link) { l.BridgePort = true }, BridgePort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := usable
			tt.change(&l)
			if got := l.Usability(); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := LinkReason(99).String(); got != "LinkReason(99)" {
		t.Fatalf("got %q", got)
	}
}

func withByte(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}
