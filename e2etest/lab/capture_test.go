package lab

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

var (
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x64}
	nodeMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	vip4      = netip.MustParseAddr("172.30.0.200")
	vip6      = netip.MustParseAddr("fd00:30::200")
)

func arpTestFrame(t testing.TB, op arp.Operation, srcMAC net.HardwareAddr, senderIP, targetIP netip.Addr) []byte {
	t.Helper()
	p, err := arp.NewPacket(op, srcMAC, senderIP, ethernet.Broadcast, targetIP)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return ethernetTestFrame(t, srcMAC, ethernet.EtherTypeARP, payload)
}

func ndpTestFrame(t testing.TB, srcMAC net.HardwareAddr, src, dst netip.Addr, m ndp.Message) []byte {
	t.Helper()
	body, err := ndp.MarshalMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	header := make([]byte, 40)
	header[0] = 6 << 4
	binary.BigEndian.PutUint16(header[4:6], uint16(len(body)))
	header[6], header[7] = 58, 255
	s, d := src.As16(), dst.As16()
	copy(header[8:24], s[:])
	copy(header[24:40], d[:])
	return ethernetTestFrame(t, srcMAC, ethernet.EtherTypeIPv6, append(header, body...))
}

func ethernetTestFrame(t testing.TB, src net.HardwareAddr, typ ethernet.EtherType, payload []byte) []byte {
	t.Helper()
	b, err := (&ethernet.Frame{Destination: ethernet.Broadcast, Source: src, EtherType: typ, Payload: payload}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseNeighborFrame(t *testing.T) {
	client4, client6 := netip.MustParseAddr("172.30.0.100"), netip.MustParseAddr("fd00:30::100")
	tests := []struct {
		name      string
		frame     []byte
		ok        bool
		kind      NeighborKind
		source    net.HardwareAddr
		ip        netip.Addr
		solicited bool
	}{
		{"ARP request", arpTestFrame(t, arp.OperationRequest, clientMAC, client4, vip4), true, ARPRequest, clientMAC, vip4, false},
		{"ARP reply", arpTestFrame(t, arp.OperationReply, nodeMAC, vip4, client4), true, ARPReply, nodeMAC, vip4, false},
		{"gratuitous ARP", arpTestFrame(t, arp.OperationRequest, nodeMAC, vip4, vip4), true, GratuitousARP, nodeMAC, vip4, false},
		{"neighbor solicitation", ndpTestFrame(t, clientMAC, client6, netip.MustParseAddr("ff02::1:ff00:200"),
			&ndp.NeighborSolicitation{TargetAddress: vip6}), true, NeighborSolicitation, clientMAC, vip6, false},
		{"solicited advertisement", ndpTestFrame(t, nodeMAC, vip6, client6,
			&ndp.NeighborAdvertisement{Solicited: true, Override: true, TargetAddress: vip6}), true, NeighborAdvertisement, nodeMAC, vip6, true},
		{"unsolicited advertisement", ndpTestFrame(t, nodeMAC, vip6, netip.MustParseAddr("ff02::1"),
			&ndp.NeighborAdvertisement{Override: true, TargetAddress: vip6}), true, NeighborAdvertisement, nodeMAC, vip6, false},
		{"router solicitation", ndpTestFrame(t, clientMAC, client6, netip.MustParseAddr("ff02::2"), &ndp.RouterSolicitation{}), false, 0, nil, netip.Addr{}, false},
		{"IPv4", ethernetTestFrame(t, clientMAC, ethernet.EtherTypeIPv4, make([]byte, 40)), false, 0, nil, netip.Addr{}, false},
		{"truncated ARP", arpTestFrame(t, arp.OperationReply, nodeMAC, vip4, client4)[:30], false, 0, nil, netip.Addr{}, false},
		{"truncated IPv6", ndpTestFrame(t, nodeMAC, vip6, client6, &ndp.NeighborAdvertisement{TargetAddress: vip6})[:50], false, 0, nil, netip.Addr{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseNeighborFrame(tt.frame)
			if ok != tt.ok {
				t.Fatalf("parseNeighborFrame ok = %v, want %v (%+v)", ok, tt.ok, got)
			}
			if !ok {
				return
			}
			if got.Kind != tt.kind || got.Source.String() != tt.source.String() || got.IP != tt.ip || got.Solicited != tt.solicited {
				t.Errorf("parseNeighborFrame = %+v, want %v from %s for %s (solicited %v)", got, tt.kind, tt.source, tt.ip, tt.solicited)
			}
			if announces := tt.kind != ARPRequest && tt.kind != NeighborSolicitation; got.Announces(tt.ip) != announces {
				t.Errorf("Announces(%s) = %v, want %v", tt.ip, !announces, announces)
			}
		})
	}
}

func FuzzParseNeighborFrame(f *testing.F) {
	f.Add(arpTestFrame(f, arp.OperationReply, nodeMAC, vip4, vip4))
	f.Add(ndpTestFrame(f, nodeMAC, vip6, netip.MustParseAddr("ff02::1"), &ndp.NeighborAdvertisement{TargetAddress: vip6}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		got, ok := parseNeighborFrame(frame)
		if ok && (got.Kind < ARPRequest || got.Kind > NeighborAdvertisement || !got.IP.IsValid()) {
			t.Errorf("parseNeighborFrame(%x) = %+v", frame, got)
		}
	})
}
