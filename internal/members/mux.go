package members

import (
	"io"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// muxTransport is memberlist's NetTransport with the held streams on the
// same TCP port: a stream whose first byte is heldStreamMarker goes to the
// exit watch, every other stream, its first byte replayed, to memberlist.
// The first byte must arrive within the stream timeout, as memberlist
// requires of its own streams.
type muxTransport struct {
	*memberlist.NetTransport
	timeout time.Duration
	held    func(net.Conn)
	streams chan net.Conn
	done    chan struct{}
}

func newMuxTransport(inner *memberlist.NetTransport, timeout time.Duration, held func(net.Conn)) *muxTransport {
	t := &muxTransport{NetTransport: inner, timeout: timeout, held: held, streams: make(chan net.Conn), done: make(chan struct{})}
	go t.route()
	return t
}

// StreamCh delivers memberlist's streams.
func (t *muxTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown closes the listeners; streams accepted but not yet routed are
// closed.
func (t *muxTransport) Shutdown() error {
	err := t.NetTransport.Shutdown() // route keeps draining until the listeners stopped
	close(t.done)
	return err
}

func (t *muxTransport) route() {
	for {
		select {
		case conn := <-t.NetTransport.StreamCh():
			go t.dispatch(conn)
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
