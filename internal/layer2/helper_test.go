package layer2

// Helper processes for the namespace tests. The test binary re-runs itself
// through "ip netns exec", so every socket, netlink query and /sys read of
// the helper happens inside the namespace it is meant for.

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const helperEnv = "IRONLB_LAYER2_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "announcer":
		runAnnouncer()
	case "sniffer":
		runSniffer(strings.Split(os.Getenv("IRONLB_LAYER2_IFACES"), ","))
	case "flood":
		runFlood(os.Getenv("IRONLB_LAYER2_IFACES"))
	case "tagged":
		runTagged(os.Getenv("IRONLB_LAYER2_IFACES"), os.Getenv("IRONLB_LAYER2_TARGET"))
	}
	os.Exit(0)
}

// printer serialises the helpers' output lines.
type printer struct{ mu sync.Mutex }

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

type printCounters struct{ p *printer }

func (c printCounters) RequestReceived(proto Protocol, iface string, ip netip.Addr) {
	c.p.line("request %s %s %s", proto, iface, ip)
}
func (c printCounters) ResponseSent(proto Protocol, iface string, ip netip.Addr) {
	c.p.line("response %s %s %s", proto, iface, ip)
}
func (c printCounters) GratuitousSent(proto Protocol, iface string, ip netip.Addr) {
	c.p.line("gratuitous %s %s %s", proto, iface, ip)
}

// runAnnouncer runs an Announcer and obeys stdin:
//
//	own IP[@IFACE,IFACE] …   replace the owned set
//	interfaces               print "interfaces NAME …"
//	links                    print "link NAME REASON" for every link
func runAnnouncer() {
	p := &printer{}
	a := New(Config{
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Counters: printCounters{p},
		// Longer than any test: links are listed again only when
		// rtnetlink reports a change, which is what the tests check.
		RescanInterval: time.Hour,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := a.Run(ctx); err != nil {
			p.line("error %v", err)
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "own":
			var anns []Announcement
			for _, f := range fields[1:] {
				ip, ifaces, _ := strings.Cut(f, "@")
				ann := Announcement{IP: netip.MustParseAddr(ip)}
				if ifaces != "" {
					ann.Interfaces = strings.Split(ifaces, ",")
				}
				anns = append(anns, ann)
			}
			a.SetOwned(anns)
			p.line("owned %v", a.Owned())
		case "reannounce":
			var ips []netip.Addr
			for _, f := range fields[1:] {
				ips = append(ips, netip.MustParseAddr(f))
			}
			a.Reannounce(ips)
			p.line("reannounced %v", ips)
		case "interfaces":
			p.line("interfaces %s", strings.Join(a.Interfaces(), " "))
		case "links":
			links, err := Links()
			if err != nil {
				p.line("error %v", err)
			}
			for _, l := range links {
				p.line("link %s %s", l.Name, l.Usability())
			}
		}
	}
}

// runSniffer prints the gratuitous ARPs and unsolicited advertisements seen
// on the interfaces:
//
//	garp IFACE IP MAC
//	na IFACE TARGET SRC DST override=BOOL solicited=BOOL MAC
func runSniffer(ifaces []string) {
	p := &printer{}
	var wg sync.WaitGroup
	for _, name := range ifaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			p.line("error %v", err)
			continue
		}
		conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		if err != nil {
			p.line("error %v", err)
			continue
		}
		wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				n, _, err := conn.ReadFrom(buf)
				if err != nil {
					return
				}
				printAnnouncement(p, name, buf[:n])
			}
		})
	}
	p.line("sniffing")
	wg.Wait()
}

func printAnnouncement(p *printer, iface string, frame []byte) {
	var f ethernet.Frame
	if f.UnmarshalBinary(frame) != nil {
		return
	}
	switch f.EtherType {
	case ethernet.EtherTypeARP:
		var a arp.Packet
		if a.UnmarshalBinary(f.Payload) == nil && a.Operation == arp.OperationRequest && a.SenderIP == a.TargetIP {
			p.line("garp %s %s %s", iface, a.SenderIP, a.SenderHardwareAddr)
		}
	case ethernet.EtherTypeIPv6:
		src, dst, body, ok := parseIPv6ICMP(f.Payload)
		if !ok || !validChecksum(src, dst, body) {
			return
		}
		m, err := ndp.ParseMessage(body)
		if na, isNA := m.(*ndp.NeighborAdvertisement); err == nil && isNA && !na.Solicited {
			mac := ""
			for _, o := range na.Options {
				if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
					mac = lla.Addr.String()
				}
			}
			p.line("na %s %s %s %s override=%v solicited=%v %s", iface, na.TargetAddress, src, dst, na.Override, na.Solicited, mac)
		}
	}
}

// runFlood sends junk for two seconds, paced at about 20,000 frames a
// second so the kernel's own queues do not overflow: random bytes, truncated
// and malformed ARP/NDP frames and well-formed requests for IPs nobody owns.
// Every 20 ms it also asks for the owned IP in IRONLB_LAYER2_TARGET and
// times the reply. It prints "flooded JUNK asked N answered M slowest-us D".
func runFlood(iface string) {
	p := &printer{}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		p.line("error %v", err)
		return
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
	if err != nil {
		p.line("error %v", err)
		return
	}
	defer conn.Close()
	replies, err := listen(ifi, unix.ETH_P_ARP, []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 2},
		bpf.LoadAbsolute{Off: 20, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(arp.OperationReply), SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: 0xffff},
	})
	if err != nil {
		p.line("error %v", err)
		return
	}
	defer replies.Close()

	target := netip.MustParseAddr(os.Getenv("IRONLB_LAYER2_TARGET"))
	req, _ := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, netip.MustParseAddr("192.0.2.2"), ethernet.Broadcast, target)
	valid, _ := arpFrame(req, ethernet.Broadcast, ifi.HardwareAddr)
	var (
		mu      sync.Mutex
		pending time.Time // when the unanswered request went out
		slowest time.Duration
		asked   int
		answers int
	)
	go func() {
		buf := make([]byte, 128)
		for {
			n, _, err := replies.ReadFrom(buf)
			if err != nil {
				return
			}
			var f ethernet.Frame
			var a arp.Packet
			if f.UnmarshalBinary(buf[:n]) != nil || a.UnmarshalBinary(f.Payload) != nil || a.SenderIP != target {
				continue
			}
			mu.Lock()
			if !pending.IsZero() {
				slowest = max(slowest, time.Since(pending))
				pending = time.Time{}
				answers++
			}
			mu.Unlock()
		}
	}()

	frames := floodFrames(ifi.HardwareAddr)
	to := &packet.Addr{HardwareAddr: ethernet.Broadcast}
	junk := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		mu.Lock()
		if pending.IsZero() || time.Since(pending) > time.Second {
			pending = time.Now()
			asked++
			conn.WriteTo(valid, to)
		}
		mu.Unlock()
		for range 400 {
			conn.WriteTo(frames[junk%len(frames)], to)
			junk++
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	p.line("flooded %d asked %d answered %d slowest-us %d", junk, asked, answers, slowest.Microseconds())
}

func floodFrames(mac net.HardwareAddr) [][]byte {
	var frames [][]byte
	for i := range 64 {
		junk := make([]byte, 14+i)
		rand.Read(junk)
		copy(junk[6:], mac)
		if i%2 == 0 {
			junk[12], junk[13] = 0x08, 0x06 // claims to be ARP
		} else {
			junk[12], junk[13] = 0x86, 0xdd // claims to be IPv6
		}
		frames = append(frames, junk)
	}
	for i := range 64 {
		target := netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)})
		p, _ := arp.NewPacket(arp.OperationRequest, mac, netip.MustParseAddr("192.0.2.2"), ethernet.Broadcast, target)
		f, _ := arpFrame(p, ethernet.Broadcast, mac)
		frames = append(frames, f, f[:20+i%8])
		target6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(100 + i)})
		group, _ := ndp.SolicitedNodeMulticast(target6)
		ns := &ndp.NeighborSolicitation{TargetAddress: target6, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac}}}
		src := netip.MustParseAddr("2001:db8:1::2")
		body, _ := ndp.MarshalMessageChecksum(ns, src, group)
		nsf := ipv6Frame(src, group, mac, multicastMAC(group), body)
		frames = append(frames, nsf, nsf[:14+40+i%24])
	}
	return frames
}

// runTagged sends, on iface, an ARP request and a neighbour solicitation for
// each target in IRONLB_LAYER2_TARGET (comma-separated) inside 802.1Q
// VLAN 100 tags, as a VLAN sub-interface of the peer sends them, then
// prints "tagged".
func runTagged(iface, targets string) {
	p := &printer{}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		p.line("error %v", err)
		return
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
	if err != nil {
		p.line("error %v", err)
		return
	}
	defer conn.Close()
	vlan := &ethernet.VLAN{ID: 100}
	for _, target := range strings.Split(targets, ",") {
		ip := netip.MustParseAddr(target)
		var f ethernet.Frame
		if ip.Is4() {
			req, _ := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, netip.MustParseAddr("192.0.2.2"), ethernet.Broadcast, ip)
			payload, _ := req.MarshalBinary()
			f = ethernet.Frame{Destination: ethernet.Broadcast, Source: ifi.HardwareAddr, VLAN: vlan, EtherType: ethernet.EtherTypeARP, Payload: payload}
		} else {
			group, _ := ndp.SolicitedNodeMulticast(ip)
			src := netip.MustParseAddr("2001:db8:1::2")
			ns := &ndp.NeighborSolicitation{TargetAddress: ip, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}}}
			body, _ := ndp.MarshalMessageChecksum(ns, src, group)
			var untagged ethernet.Frame
			if err := untagged.UnmarshalBinary(ipv6Frame(src, group, ifi.HardwareAddr, multicastMAC(group), body)); err != nil {
				p.line("error %v", err)
				return
			}
			f = untagged
			f.VLAN = vlan
		}
		b, err := f.MarshalBinary()
		if err != nil {
			p.line("error %v", err)
			return
		}
		for range 3 {
			if _, err := conn.WriteTo(b, &packet.Addr{HardwareAddr: f.Destination}); err != nil {
				p.line("error %v", err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	p.line("tagged")
}
