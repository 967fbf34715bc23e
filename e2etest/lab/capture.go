package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// NeighborKind is the kind of a captured ARP or NDP frame.
type NeighborKind int

// The neighbour frames a Capture records.
const (
	ARPRequest NeighborKind = iota + 1
	ARPReply
	// GratuitousARP is an ARP request whose sender and target IP are the
	// same: an announcement of the sender's MAC address for that IP.
	GratuitousARP
	NeighborSolicitation
	NeighborAdvertisement
)

func (k NeighborKind) String() string {
	switch k {
	case ARPRequest:
		return "ARP request"
	case ARPReply:
		return "ARP reply"
	case GratuitousARP:
		return "gratuitous ARP"
	case NeighborSolicitation:
		return "neighbor solicitation"
	case NeighborAdvertisement:
		return "neighbor advertisement"
	}
	return fmt.Sprintf("NeighborKind(%d)", int(k))
}

// NeighborFrame is one ARP or NDP frame a host received.
type NeighborFrame struct {
	// Time is when the host's kernel received the frame.
	Time time.Time
	Kind NeighborKind
	// Source is the frame's Ethernet source address.
	Source net.HardwareAddr
	// IP is the address asked about (requests, solicitations) or announced
	// (replies, gratuitous ARP, advertisements).
	IP netip.Addr
	// Solicited is the solicited flag of a neighbor advertisement: false for
	// an unsolicited one (a takeover's announcement).
	Solicited bool
}

// Announces reports whether the frame tells where ip is: an ARP reply or
// gratuitous ARP from ip's sender, or a neighbor advertisement for ip.
func (f NeighborFrame) Announces(ip netip.Addr) bool {
	switch f.Kind {
	case ARPReply, GratuitousARP, NeighborAdvertisement:
		return f.IP == ip
	}
	return false
}

func (f NeighborFrame) String() string {
	return fmt.Sprintf("%s %s for %s from %s", f.Time.Format("15:04:05.000000"), f.Kind, f.IP, f.Source)
}

// Capture records the ARP and NDP frames that arrive at a host's eth0 (not
// those it sends), stamped by the kernel as they arrive. It is an AF_PACKET
// socket in the host's namespace with a kernel filter, so it sees what the
// host sees, including frames for other hosts that the bridge floods.
type Capture struct {
	file *os.File

	mu      sync.Mutex
	frames  []NeighborFrame
	arrived chan struct{} // closed and replaced when a frame arrives
	err     error         // why the capture stopped; nil while it runs
}

// neighborFilter passes received ARP frames and ICMPv6 neighbor
// solicitations and advertisements without extension headers.
var neighborFilter = []bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtType},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 8},
	bpf.LoadAbsolute{Off: 12, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_ARP, SkipTrue: 7},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.ETH_P_IPV6, SkipTrue: 5},
	bpf.LoadAbsolute{Off: 14 + 6, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_ICMPV6, SkipTrue: 3},
	bpf.LoadAbsolute{Off: 14 + 40, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ipv6.ICMPTypeNeighborSolicitation), SkipTrue: 2},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ipv6.ICMPTypeNeighborAdvertisement), SkipTrue: 1},
	bpf.RetConstant{Val: 0},
	bpf.RetConstant{Val: 0xffff},
}

// CaptureNeighbors starts recording the ARP and NDP frames that arrive at
// the host's eth0. Close it after use.
func (h *Host) CaptureNeighbors() (*Capture, error) {
	program, err := bpf.Assemble(neighborFilter)
	if err != nil {
		return nil, err
	}
	filter := make([]unix.SockFilter, len(program))
	for i, ins := range program {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fd := -1
	err = h.NS.Do(func() error {
		ifi, err := net.InterfaceByName(HostInterface)
		if err != nil {
			return err
		}
		// Protocol 0 receives nothing until bind, which comes after the
		// filter: no frame escapes it.
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
			return fmt.Errorf("attach filter: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return fmt.Errorf("SO_TIMESTAMPNS: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("%s: capture on %s: %w", h.Name, HostInterface, err)
	}
	c := &Capture{file: os.NewFile(uintptr(fd), h.Name+"-capture"), arrived: make(chan struct{})}
	go c.read()
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read records frames until the capture is closed.
func (c *Capture) read() {
	conn, err := c.file.SyscallConn()
	if err != nil {
		c.stop(err)
		return
	}
	buf := make([]byte, 1600)
	oob := make([]byte, unix.CmsgSpace(16))
	for {
		var n, oobn int
		var recvErr error
		err := conn.Read(func(fd uintptr) bool {
			n, oobn, _, _, recvErr = unix.Recvmsg(int(fd), buf, oob, 0)
			return !errors.Is(recvErr, unix.EAGAIN)
		})
		if err == nil {
			err = recvErr
		}
		if err != nil {
			c.stop(err)
			return
		}
		frame, ok := parseNeighborFrame(buf[:n])
		if !ok {
			continue
		}
		frame.Time = receiveTime(oob[:oobn])
		c.mu.Lock()
		c.frames = append(c.frames, frame)
		close(c.arrived)
		c.arrived = make(chan struct{})
		c.mu.Unlock()
	}
}

// stop records why the capture ended and wakes its waiters.
func (c *Capture) stop(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
	close(c.arrived)
}

// receiveTime reads the kernel's SCM_TIMESTAMPNS from a message's control
// data, or returns now when there is none.
func receiveTime(oob []byte) time.Time {
	messages, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range messages {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				return time.Unix(sec, nsec)
			}
		}
	}
	return time.Now()
}

// parseNeighborFrame decodes an Ethernet frame carrying ARP or an NDP
// solicitation or advertisement.
func parseNeighborFrame(b []byte) (NeighborFrame, bool) {
	var eth ethernet.Frame
	if err := eth.UnmarshalBinary(b); err != nil {
		return NeighborFrame{}, false
	}
	out := NeighborFrame{Source: eth.Source}
	switch eth.EtherType {
	case ethernet.EtherTypeARP:
		var p arp.Packet
		if err := p.UnmarshalBinary(eth.Payload); err != nil {
			return NeighborFrame{}, false
		}
		switch {
		case p.Operation == arp.OperationReply:
			out.Kind, out.IP = ARPReply, p.SenderIP
		case p.Operation == arp.OperationRequest && p.SenderIP == p.TargetIP:
			out.Kind, out.IP = GratuitousARP, p.SenderIP
		case p.Operation == arp.OperationRequest:
			out.Kind, out.IP = ARPRequest, p.TargetIP
		default:
			return NeighborFrame{}, false
		}
	case ethernet.EtherTypeIPv6:
		const headerLen = 40
		if len(eth.Payload) < headerLen {
			return NeighborFrame{}, false
		}
		m, err := ndp.ParseMessage(eth.Payload[headerLen:])
		if err != nil {
			return NeighborFrame{}, false
		}
		switch m := m.(type) {
		case *ndp.NeighborSolicitation:
			out.Kind, out.IP = NeighborSolicitation, m.TargetAddress
		case *ndp.NeighborAdvertisement:
			out.Kind, out.IP, out.Solicited = NeighborAdvertisement, m.TargetAddress, m.Solicited
		default:
			return NeighborFrame{}, false
		}
	default:
		return NeighborFrame{}, false
	}
	return out, true
}

// Frames returns the frames recorded so far, oldest first.
func (c *Capture) Frames() []NeighborFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.frames)
}

// Wait returns the first recorded frame (since the capture started) for
// which match is true, waiting for it until ctx ends.
func (c *Capture) Wait(ctx context.Context, match func(NeighborFrame) bool) (NeighborFrame, error) {
	seen := 0
	for {
		c.mu.Lock()
		frames, arrived, stopped := c.frames[seen:], c.arrived, c.err
		seen = len(c.frames)
		c.mu.Unlock()
		for _, f := range frames {
			if match(f) {
				return f, nil
			}
		}
		if stopped != nil {
			return NeighborFrame{}, fmt.Errorf("capture stopped: %w", stopped)
		}
		select {
		case <-ctx.Done():
			return NeighborFrame{}, ctx.Err()
		case <-arrived:
		}
	}
}

// Close stops the capture.
func (c *Capture) Close() error { return c.file.Close() }
