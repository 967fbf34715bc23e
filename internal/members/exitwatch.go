package members

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// After a held stream ends, the other member's port is dialed endProbes
// times, endProbeGap apart, each dial given endProbeTimeout (endOutcome
// judges the answers): a dying process's files are not released in a set
// order, so its streams may end while its listener still accepts.
const (
	endProbes       = 3
	endProbeTimeout = 100 * time.Millisecond
	endProbeGap     = 50 * time.Millisecond
)

// redialInterval is the longest pause before the dialing member of a pair
// tries again to set up the stream, and how often a gone member's port is
// dialed to see whether it came back. The first retry comes after
// firstRedial, each next one after twice as long: a new member's stream is
// refused until the other member learned of it, usually milliseconds.
const (
	redialInterval = time.Second
	firstRedial    = 50 * time.Millisecond
)

// startTransport opens memberlist's listeners itself (netTransport) so
// that the held streams share its TCP port and every packet's sender is
// seen (heardFrom), and sets mc to use them.
func (l *List) startTransport(mc *memberlist.Config) error {
	inner, err := listen(l.cfg.BindAddr, mc.BindPort)
	if err != nil {
		return err
	}
	mc.BindPort, mc.AdvertisePort = inner.Port(), inner.Port()
	l.watch = newExitWatch(l.cfg.NodeName, l.cfg.BindAddr, l.cfg.StreamTimeout, l.setGone, l.isGone)
	mc.Transport = newMuxTransport(inner, l.cfg.StreamTimeout, l.watch.accept, l.heardFrom)
	return nil
}

// setGone records the exit watch's verdict on the member called name, if
// memberlist still lists it.
func (l *List) setGone(name string, gone bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, alive := l.alive[name]; !alive || l.gone[name] == gone {
		return
	}
	if gone {
		l.gone[name] = true
	} else {
		delete(l.gone, name)
	}
	l.publishLocked()
}

func (l *List) isGone(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gone[name]
}

// publishLocked replaces any unread member set with the current one.
func (l *List) publishLocked() {
	snapshot := l.snapshotLocked()
	select {
	case <-l.changes:
	default:
	}
	l.changes <- snapshot
}

// exitWatch holds one idle stream to every other member and judges each
// member whose stream ends by dials at its port (endOutcome, goneAfter). It learns
// the members from memberlist's events (track, untrack) and reports its
// verdicts through setGone; isGone reads them back.
type exitWatch struct {
	self    string
	timeout time.Duration
	setGone func(name string, gone bool)
	isGone  func(name string) bool

	mu      sync.Mutex
	dial    func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
	peers   map[string]*watchedPeer
	stopped bool
}

// watchedPeer is one other member and the stream to it.
type watchedPeer struct {
	name     string
	addr     netip.AddrPort // guarded by exitWatch.mu
	incoming chan net.Conn  // accepted streams, for the accepting member
	stop     chan struct{}
}

// newExitWatch returns the watch of member self, dialing from bind.
func newExitWatch(self string, bind netip.Addr, timeout time.Duration, setGone func(string, bool), isGone func(string) bool) *exitWatch {
	dialer := &net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: bind.AsSlice()}}
	return &exitWatch{
		self: self, timeout: timeout, setGone: setGone, isGone: isGone, peers: map[string]*watchedPeer{},
		dial: func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", addr.String())
		},
	}
}

// track starts watching member m, or notes its new address. memberlist
// calls it with its lock held: it never blocks.
func (w *exitWatch) track(m Member) {
	if m.Name == w.self {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if p, ok := w.peers[m.Name]; ok {
		p.addr = m.Addr
		return
	}
	p := &watchedPeer{name: m.Name, addr: m.Addr, incoming: make(chan net.Conn, 1), stop: make(chan struct{})}
	w.peers[m.Name] = p
	go w.follow(p)
}

// untrack stops watching the member called name and closes its stream.
func (w *exitWatch) untrack(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.peers[name]; ok {
		p.close()
		delete(w.peers, name)
	}
}

// close stops following p and closes a stream accepted but not taken.
// Call it with exitWatch.mu held.
func (p *watchedPeer) close() {
	close(p.stop)
	select {
	case conn := <-p.incoming:
		conn.Close()
	default:
	}
}

// shutdown closes every stream: the other members see them end.
func (w *exitWatch) shutdown() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	for name, p := range w.peers {
		p.close()
		delete(w.peers, name)
	}
}

// accept takes a held stream from another member (its first byte read):
// the stream of a member that dials this one, answered with the marker,
// replaces any stream it held before; any other is closed.
func (w *exitWatch) accept(conn net.Conn) {
	from, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil {
		conn.Close()
		return
	}
	w.mu.Lock()
	addrs := make(map[string]netip.AddrPort, len(w.peers))
	for name, p := range w.peers {
		addrs[name] = p.addr
	}
	name, ok := acceptedPeer(w.self, addrs, from.Addr())
	p := w.peers[name]
	w.mu.Unlock()
	if !ok || !w.answer(conn) {
		conn.Close()
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.peers[name] != p { // no longer watched meanwhile
		conn.Close()
		return
	}
	select {
	case old := <-p.incoming: // not taken yet: the newer one wins
		old.Close()
	default:
	}
	p.incoming <- conn // only accept sends, with w.mu held: there is room
}

// answer writes the marker back on an accepted stream.
func (w *exitWatch) answer(conn net.Conn) bool {
	conn.SetWriteDeadline(time.Now().Add(w.timeout))
	_, err := conn.Write([]byte{heldStreamMarker})
	conn.SetWriteDeadline(time.Time{})
	return err == nil
}

// follow holds the stream to p until p is no longer watched. When it
// ends, dials at p's port judge p (probeEnded).
func (w *exitWatch) follow(p *watchedPeer) {
	var lastDial time.Time
	retry := firstRedial
	for {
		var conn net.Conn
		if holdsStream(w.self, p.name) {
			// However soon the last stream ended, attempts are
			// spaced by retry.
			if !p.sleep(time.Until(lastDial.Add(retry))) {
				return
			}
			lastDial = time.Now()
			if conn = w.connect(p); conn == nil {
				retry = min(2*retry, redialInterval)
			} else {
				retry = firstRedial
			}
		} else {
			var recheck <-chan time.Time // a gone member is dialed: has it come back?
			if w.isGone(p.name) {
				recheck = time.After(redialInterval)
			}
			select {
			case conn = <-p.incoming:
			case <-recheck:
				w.judge(p, w.probe(p, w.timeout))
			case <-p.stop:
				return
			}
		}
		if conn == nil {
			continue
		}
		w.judge(p, dialAnswered)
		if !w.hold(p, conn) {
			return
		}
		w.judge(p, w.probeEnded(p))
	}
}

// probeEnded dials p after its stream ended, endProbes times or until a
// dial is refused, and returns what the dials tell (endOutcome).
func (w *exitWatch) probeEnded(p *watchedPeer) dialOutcome {
	var outcomes []dialOutcome
	for i := range endProbes {
		if i > 0 && !p.sleep(endProbeGap) {
			return dialSilent
		}
		outcomes = append(outcomes, w.probe(p, endProbeTimeout))
		if outcomes[i] == dialRefused {
			break
		}
	}
	return endOutcome(outcomes)
}

// sleep waits for d; false if p stopped being watched meanwhile.
func (p *watchedPeer) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-p.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stop:
		return false
	}
}

// connect dials p and sets up the held stream; nil if that failed, after
// judging p by the dial (the port answered if only the set-up failed).
func (w *exitWatch) connect(p *watchedPeer) net.Conn {
	conn, err := w.dialPeer(p, w.timeout)
	if err != nil {
		w.judge(p, outcomeOf(err))
		return nil
	}
	var reply [1]byte
	conn.SetDeadline(time.Now().Add(w.timeout))
	if _, err := conn.Write([]byte{heldStreamMarker}); err == nil {
		io.ReadFull(conn, reply[:]) // reply stays 0 unless the marker came back
	}
	conn.SetDeadline(time.Time{})
	if reply[0] != heldStreamMarker {
		conn.Close() // a member without the exit watch, or one that does not know us yet
		w.judge(p, dialAnswered)
		return nil
	}
	return conn
}

// hold waits until the stream ends: true when the other side ended it,
// false when p is no longer watched. A newer accepted stream replaces it.
func (w *exitWatch) hold(p *watchedPeer, conn net.Conn) bool {
	for {
		ended := make(chan struct{})
		go func() {
			var b [1]byte
			conn.Read(b[:]) // the stream carries nothing: any byte ends it too
			close(ended)
		}()
		select {
		case <-ended:
			conn.Close()
			return true
		case <-p.stop:
			conn.Close()
			return false
		case newer := <-p.incoming:
			conn.Close()
			conn = newer
		}
	}
}

// probe dials p's port once, waiting up to timeout, and closes the
// connection.
func (w *exitWatch) probe(p *watchedPeer, timeout time.Duration) dialOutcome {
	conn, err := w.dialPeer(p, timeout)
	if err == nil {
		conn.Close()
	}
	return outcomeOf(err)
}

// dialPeer dials p's port from this member's address, waiting up to
// timeout or until p is no longer watched.
func (w *exitWatch) dialPeer(p *watchedPeer, timeout time.Duration) (net.Conn, error) {
	w.mu.Lock()
	addr, dial := p.addr, w.dial
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return dial(ctx, addr)
}

// judge applies a dial's outcome to p's verdict.
func (w *exitWatch) judge(p *watchedPeer, outcome dialOutcome) {
	select {
	case <-p.stop:
		return // no longer a member, or this one shut down
	default:
	}
	w.setGone(p.name, goneAfter(w.isGone(p.name), outcome))
}
