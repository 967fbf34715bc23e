package members

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// maxPacketSize is the largest UDP payload there is; memberlist sends
// packets of at most its UDPBufferSize (1,400 bytes by default).
const maxPacketSize = 65535

// socketReceiveBuffer is what the UDP socket's receive buffer is asked to
// hold, so that a burst of gossip is not dropped by the kernel while the
// reader is descheduled (memberlist's NetTransport asks for the same).
const socketReceiveBuffer = 2 << 20

// maxAcceptBackoff bounds the pause after a failed Accept (too many open
// files, say), so that the listener neither spins nor sleeps for long.
const maxAcceptBackoff = time.Second

// netTransport is memberlist's network transport on one address and port:
// UDP packets and TCP streams, as memberlist.NetTransport. It reads every
// packet into one buffer it keeps and hands memberlist a copy of the
// packet's size, where NetTransport allocates 64 KiB for each packet it
// reads: in an idle speaker those buffers were a third of everything it
// allocated, and the garbage they leave is what grows its heap between
// collections.
type netTransport struct {
	addr    netip.Addr
	port    int
	udp     *net.UDPConn
	tcp     *net.TCPListener
	packets chan *memberlist.Packet
	streams chan net.Conn

	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// listen opens the TCP listener and the UDP socket on addr and port; port
// 0 picks a port free for both.
func listen(addr netip.Addr, port int) (*netTransport, error) {
	if !addr.IsValid() || addr.IsUnspecified() {
		return nil, fmt.Errorf("memberlist transport: a specific address is needed, not %q", addr)
	}
	var t *netTransport
	var err error
	// A free port (0) is picked for TCP first; UDP may find it taken.
	for range 10 {
		if t, err = tryListen(addr, port); err == nil || port != 0 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	t.wg.Add(2)
	go t.readPackets()
	go t.acceptStreams()
	return t, nil
}

func tryListen(addr netip.Addr, port int) (*netTransport, error) {
	tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))))
	if err != nil {
		return nil, fmt.Errorf("memberlist transport: %w", err)
	}
	bound := tcp.Addr().(*net.TCPAddr).AddrPort().Port()
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, bound)))
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("memberlist transport: %w", err)
	}
	// A smaller buffer than asked for still works: the kernel caps it.
	_ = udp.SetReadBuffer(socketReceiveBuffer)
	return &netTransport{
		addr: addr, port: int(bound), udp: udp, tcp: tcp,
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn),
		done: make(chan struct{}),
	}, nil
}

// Port is the port both listeners are bound to.
func (t *netTransport) Port() int { return t.port }

// FinalAdvertiseAddr returns the address other members reach this one at:
// the configured one, or else the bound one.
func (t *netTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip == "" {
		return net.IP(t.addr.AsSlice()), t.port, nil
	}
	advertised := net.ParseIP(ip)
	if advertised == nil {
		return nil, 0, fmt.Errorf("memberlist transport: advertise address %q is not an IP address", ip)
	}
	if v4 := advertised.To4(); v4 != nil {
		advertised = v4
	}
	return advertised, port, nil
}

// WriteTo sends b in one UDP packet to addr (host:port).
func (t *netTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	to, err := netip.ParseAddrPort(addr)
	if err != nil {
		resolved, rerr := net.ResolveUDPAddr("udp", addr)
		if rerr != nil {
			return time.Time{}, rerr
		}
		to = resolved.AddrPort()
	}
	_, err = t.udp.WriteToUDPAddrPort(b, to)
	return time.Now(), err
}

// WriteToAddress sends b to a's address.
func (t *netTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh delivers the packets read.
func (t *netTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout opens a TCP stream to addr.
func (t *netTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", addr)
}

// DialAddressTimeout opens a TCP stream to a's address.
func (t *netTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// StreamCh delivers the streams accepted.
func (t *netTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown closes both listeners and waits for their readers to stop.
func (t *netTransport) Shutdown() error {
	t.stopOnce.Do(func() {
		close(t.done)
		t.tcp.Close()
		t.udp.Close()
	})
	t.wg.Wait()
	return nil
}

func (t *netTransport) stopped() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// readPackets reads packets until Shutdown. An empty packet carries no
// message and is dropped, as memberlist's own transport does.
func (t *netTransport) readPackets() {
	defer t.wg.Done()
	buf := make([]byte, maxPacketSize)
	for {
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		received := time.Now()
		if err != nil {
			if t.stopped() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (an ICMP error queued on the socket)
		}
		if n == 0 {
			continue
		}
		packet := &memberlist.Packet{
			Buf:       append([]byte(nil), buf[:n]...),
			From:      net.UDPAddrFromAddrPort(netip.AddrPortFrom(from.Addr().Unmap(), from.Port())),
			Timestamp: received,
		}
		select {
		case t.packets <- packet:
		case <-t.done:
			return
		}
	}
}

// acceptStreams accepts streams until Shutdown, pausing after a failed
// Accept for twice as long as after the one before, at most
// maxAcceptBackoff.
func (t *netTransport) acceptStreams() {
	defer t.wg.Done()
	pause := 5 * time.Millisecond
	for {
		conn, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.stopped() || errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-time.After(pause):
			case <-t.done:
				return
			}
			pause = min(2*pause, maxAcceptBackoff)
			continue
		}
		pause = 5 * time.Millisecond
		select {
		case t.streams <- conn:
		case <-t.done:
			conn.Close()
			return
		}
	}
}
