package members

import (
	"io"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// muxTransport is netTransport with the held streams on the
// same TCP port: a stream whose first byte is heldStreamMarker goes to the
// exit watch, every other stream, its first byte replayed, to
// memberlist. The first byte must arrive within the stream timeout, as
// memberlist requires of its own streams. Every packet's sender is shown to
// heard before memberlist reads the packet.
type muxTransport struct {
	*netTransport
	timeout time.Duration
	held    func(net.Conn)
	heard   func(from net.Addr)
	streams chan net.Conn
	packets chan *memberlist.Packet
	done    chan struct{}
}

func newMuxTransport(inner *netTransport, timeout time.Duration, held func(net.Conn), heard func(net.Addr)) *muxTransport {
	t := &muxTransport{
		netTransport: inner, timeout: timeout, held: held, heard: heard,
		streams: make(chan net.Conn), packets: make(chan *memberlist.Packet), done: make(chan struct{}),
	}
	go t.route()
	go t.forwardPackets()
	return t
}

// StreamCh delivers memberlist's streams.
func (t *muxTransport) StreamCh() <-chan net.Conn { return t.streams }

// PacketCh delivers the packets.
func (t *muxTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// Shutdown closes the listeners; streams accepted but not yet routed are
// closed.
func (t *muxTransport) Shutdown() error {
	err := t.netTransport.Shutdown() // route keeps draining until the listeners stopped
	close(t.done)
	return err
}

func (t *muxTransport) route() {
	for {
		select {
		case conn := <-t.netTransport.StreamCh():
			go t.dispatch(conn)
		case <-t.done:
			return
		}
	}
}

func (t *muxTransport) forwardPackets() {
	for {
		select {
		case p := <-t.netTransport.PacketCh():
			t.heard(p.From)
			select {
			case t.packets <- p:
			case <-t.done:
				return
			}
		case <-t.done:
			return
		}
	}
}

func (t *muxTransport) dispatch(conn net.Conn) {
	var first [1]byte
	conn.SetReadDeadline(time.Now().Add(t.timeout))
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		conn.Close() // idle, or a dial that only checked the port answers
		return
	}
	conn.SetReadDeadline(time.Time{})
	if isHeldStream(first[0]) {
		t.held(conn)
		return
	}
	select {
	case t.streams <- &replayConn{Conn: conn, first: first[:]}:
	case <-t.done:
		conn.Close()
	}
}

// replayConn returns the bytes already read from Conn before reading on.
type replayConn struct {
	net.Conn
	first []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
