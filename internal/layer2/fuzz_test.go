package layer2

import (
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

// FuzzARP feeds arbitrary frames to the ARP decision: it must never panic,
// and a reply may only answer a well-formed request for an owned IP.
func FuzzARP(f *testing.F) {
	f.Add(arpRequest(f, arp.OperationRequest, clientMAC, client4, vip4))
	f.Add(arpRequest(f, arp.OperationRequest, clientMAC, client4, other4))
	f.Add(arpRequest(f, arp.OperationReply, clientMAC, client4, vip4))
	f.Add([]byte{})
	set := owned()
	f.Fuzz(func(t *testing.T, frame []byte) {
		d := decideARP(frame, eth0, set)
		if d.reply == nil {
			if d.asked.IsValid() {
				t.Fatalf("asked %v without a reply", d.asked)
			}
			return
		}
		if !set.allows(d.asked, eth0.name) {
			t.Fatalf("replied for %v, which is not owned on %s", d.asked, eth0.name)
		}
		checkARPReply(t, d, frame)
	})
}

// FuzzNDP does the same for neighbour solicitations.
func FuzzNDP(f *testing.F) {
	sn := solicitedNode(f, vip6)
	f.Add(nsFrame(f, client6, sn, vip6, clientMAC, true))
	f.Add(nsFrame(f, netip.IPv6Unspecified(), sn, vip6, clientMAC, false))
	f.Add(nsFrame(f, client6, solicitedNode(f, other6), other6, clientMAC, true))
	f.Add([]byte{})
	set := owned()
	f.Fuzz(func(t *testing.T, frame []byte) {
		d := decideNDP(frame, eth0, set)
		if d.reply == nil {
			if d.asked.IsValid() {
				t.Fatalf("asked %v without a reply", d.asked)
			}
			return
		}
		if !set.allows(d.asked, eth0.name) {
			t.Fatalf("replied for %v, which is not owned on %s", d.asked, eth0.name)
		}
		var req ethernet.Frame
		if err := req.UnmarshalBinary(frame); err != nil {
			t.Fatalf("replied to a frame that does not parse: %v", err)
		}
		src, _, body, ok := parseIPv6ICMP(req.Payload)
		if !ok {
			t.Fatal("replied to a packet that is not ICMPv6 with hop limit 255")
		}
		m, err := ndp.ParseMessage(body)
		if _, isNS := m.(*ndp.NeighborSolicitation); err != nil || !isNS {
			t.Fatalf("replied to %T (%v), not a solicitation", m, err)
		}
		replyTo, solicited := src, true
		if src.IsUnspecified() {
			replyTo, solicited = allNodes, false
		}
		checkAdvertisement(t, d.reply, d.asked, replyTo, solicited)
	})
}

// BenchmarkDecide measures the per-packet cost of answering a valid request
// and of dropping a request for an IP not owned, with 1,000 owned IPs.
func BenchmarkDecide(b *testing.B) {
	anns := make([]Announcement, 0, 1001)
	for i := range 1000 {
		anns = append(anns, Announcement{IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})})
	}
	anns = append(anns, Announcement{IP: vip4}, Announcement{IP: vip6})
	set := newOwnedSet(anns)
	sn := solicitedNode(b, vip6)
	cases := []struct {
		name   string
		decide func([]byte, link, *ownedSet) decision
		frame  []byte
	}{
		{"arp-owned", decideARP, arpRequest(b, arp.OperationRequest, clientMAC, client4, vip4)},
		{"arp-not-owned", decideARP, arpRequest(b, arp.OperationRequest, clientMAC, client4, other4)},
		{"ndp-owned", decideNDP, nsFrame(b, client6, sn, vip6, clientMAC, true)},
		{"ndp-not-owned", decideNDP, nsFrame(b, client6, solicitedNode(b, other6), other6, clientMAC, true)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.decide(c.frame, eth0, set)
			}
		})
	}
}
