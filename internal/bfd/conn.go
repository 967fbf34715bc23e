package bfd

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ControlPort is the UDP port single-hop control packets are sent to (RFC 5881 §4).
const ControlPort = 3784

// The source ports of control packets (RFC 5881 §4).
const (
	minSourcePort = 49152
	maxSourcePort = 65535
)

// Options configure a [Conn].
type Options struct {
	// ListenAddrs are the local addresses control packets are received on;
	// empty: 0.0.0.0 and ::.
	ListenAddrs []netip.Addr
	// Port is the port received on and sent to; 0: [ControlPort]. Only tests change it.
	Port int
	// OnChange is called, from the Conn's goroutine, when a session changes
	// state, with the state it left. It must not block nor call the Conn.
	OnChange func(peer netip.Addr, from State, st Status)
	Logger   *slog.Logger
}

// SessionSpec is one session a [Conn] keeps, with the peer's address as key.
type SessionSpec struct {
	Config
	// Source is the local address packets are sent from; invalid: chosen by routing.
	Source netip.Addr
	// MinTTL drops received packets whose TTL (hop limit) is lower.
	MinTTL uint8
}

// Counters count one session's control packets and state changes.
type Counters struct {
	ControlIn, ControlOut uint64
	UpEvents, DownEvents  uint64
}

// PeerStatus is a session's state and counters.
type PeerStatus struct {
	Status
	Counters
}

// Conn is the UDP shell of all the BFD sessions of one system (RFC 5881):
// it receives on the control port, demultiplexes each packet to its session,
// and sends each session's packets from a socket of its own, bound to a
// source port in 49152–65535, with TTL 255. One goroutine ([Conn.Run]) owns
// the sessions; the other methods hand it work.
type Conn struct {
	opts      Options
	listeners []listener
	received  chan datagram
	work      chan func(time.Time)
	done      chan struct{}
	log       *slog.Logger

	sessions  map[netip.Addr]*peerSession
	byDiscr   map[uint32]*peerSession
	lastDiscr uint32
	dropped   map[string]uint64
	closeOnce sync.Once
}

type peerSession struct {
	peer     netip.Addr
	spec     SessionSpec
	session  *Session
	out      *net.UDPConn
	state    State
	counters Counters
}

type datagram struct {
	data []byte
	from netip.Addr
	ttl  int
}

// Listen opens the receiving sockets. [Conn.Run] must then run.
func Listen(opts Options) (*Conn, error) {
	if opts.Port == 0 {
		opts.Port = ControlPort
	}
	if len(opts.ListenAddrs) == 0 {
		opts.ListenAddrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Conn{
		opts: opts, received: make(chan datagram, 64), work: make(chan func(time.Time)), done: make(chan struct{}),
		log: opts.Logger, sessions: map[netip.Addr]*peerSession{}, byDiscr: map[uint32]*peerSession{},
		lastDiscr: rand.Uint32() >> 8, dropped: map[string]uint64{},
	}
	for _, addr := range opts.ListenAddrs {
		l, err := listen(addr, opts.Port)
		if err != nil {
			c.closeListeners()
			return nil, err
		}
		c.listeners = append(c.listeners, l)
	}
	return c, nil
}

// Run reads packets and drives the sessions until ctx ends, then closes the sockets.
func (c *Conn) Run(ctx context.Context) {
	for _, l := range c.listeners {
		go c.read(l)
	}
	timer := time.NewTimer(time.Hour)
	defer func() {
		close(c.done)
		timer.Stop()
		c.closeListeners()
		for _, ps := range c.sessions {
			_ = ps.out.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-c.received:
			c.handle(d, time.Now())
		case f := <-c.work:
			f(time.Now())
		case now := <-timer.C:
			for _, ps := range c.sessions {
				if dl := ps.session.Deadline(); !dl.IsZero() && !now.Before(dl) {
					c.apply(ps, ps.session.Tick(now))
				}
			}
		}
		timer.Reset(c.untilDeadline())
	}
}

// untilDeadline is the wait until the earliest session deadline.
func (c *Conn) untilDeadline() time.Duration {
	var earliest time.Time
	for _, ps := range c.sessions {
		if dl := ps.session.Deadline(); !dl.IsZero() && (earliest.IsZero() || dl.Before(earliest)) {
			earliest = dl
		}
	}
	if earliest.IsZero() {
		return time.Hour
	}
	return max(time.Until(earliest), 0)
}

func (c *Conn) read(l listener) {
	buf := make([]byte, 1500)
	for {
		n, src, ttl, err := l.readFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			c.log.Warn("bfd: receive failed", "error", err)
			continue
		}
		from := src.(*net.UDPAddr).AddrPort().Addr().Unmap().WithZone("")
		select {
		case c.received <- datagram{data: append([]byte(nil), buf[:n]...), from: from, ttl: ttl}:
		case <-c.done:
			return
		}
	}
}

// handle demultiplexes one datagram to its session (RFC 5880 §6.3): by Your
// Discriminator when set, else by the sender's address.
func (c *Conn) handle(d datagram, now time.Time) {
	p, err := Decode(d.data)
	if err != nil {
		c.drop(d.from, err.Error())
		return
	}
	ps := c.sessions[d.from]
	if p.YourDiscriminator != 0 {
		ps = c.byDiscr[p.YourDiscriminator]
	}
	switch {
	case ps == nil:
		c.drop(d.from, "no session")
	case ps.peer != d.from:
		c.drop(d.from, "discriminator of another peer's session")
	case d.ttl < int(ps.spec.MinTTL):
		c.drop(d.from, "TTL below minimum")
	default:
		ps.counters.ControlIn++
		c.apply(ps, ps.session.Receive(p, now))
	}
}

func (c *Conn) drop(from netip.Addr, reason string) {
	c.dropped[reason]++
	c.log.Debug("bfd: packet dropped", "from", from, "reason", reason)
}

// apply sends what a session asks and reports its state changes.
func (c *Conn) apply(ps *peerSession, out Output) {
	to := &net.UDPAddr{IP: ps.peer.AsSlice(), Port: c.opts.Port}
	for _, p := range out.Send {
		if _, err := ps.out.WriteTo(p.Encode(), to); err != nil {
			c.log.Warn("bfd: send failed", "peer", ps.peer, "error", err)
			continue
		}
		ps.counters.ControlOut++
	}
	if !out.Changed {
		return
	}
	switch {
	case out.State == StateUp:
		ps.counters.UpEvents++
	case ps.state == StateUp:
		ps.counters.DownEvents++
	}
	from := ps.state
	ps.state = out.State
	c.log.Info("bfd: session state changed", "peer", ps.peer, "from", from, "state", out.State, "diag", out.Diag)
	if c.opts.OnChange != nil {
		c.opts.OnChange(ps.peer, from, ps.session.Status())
	}
}

// errClosed is returned by calls made after [Conn.Run] ended.
var errClosed = errors.New("bfd: closed")

// do runs f on the Conn's goroutine and waits for it.
func (c *Conn) do(ctx context.Context, f func(now time.Time)) error {
	done := make(chan struct{})
	select {
	case c.work <- func(now time.Time) { f(now); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return errClosed
	}
	<-done
	return nil
}

// Set creates the session to peer or changes its timers and role in place,
// without resetting it. A changed source address re-opens its socket.
func (c *Conn) Set(ctx context.Context, peer netip.Addr, spec SessionSpec) error {
	var err error
	doErr := c.do(ctx, func(now time.Time) {
		ps := c.sessions[peer]
		if ps != nil && ps.spec.Source != spec.Source {
			c.remove(ps)
			ps = nil
		}
		if ps == nil {
			_, err = c.open(peer, spec, now)
			return
		}
		ps.spec = spec
		c.apply(ps, ps.session.SetConfig(spec.Config, now))
	})
	return errors.Join(doErr, err)
}

// Remove ends the session to peer. A peer that has spoken is told with one
// AdminDown packet (RFC 5880 §6.8.16), so it goes Down without waiting for
// its detection time.
func (c *Conn) Remove(ctx context.Context, peer netip.Addr) error {
	return c.do(ctx, func(now time.Time) {
		ps := c.sessions[peer]
		if ps == nil {
			return
		}
		ps.session.SetAdminDown(true, now)
		if ps.session.Status().RemoteDiscr != 0 {
			c.apply(ps, Output{Send: []Packet{ps.session.packet()}})
		}
		c.remove(ps)
	})
}

// Status reports every session, by peer.
func (c *Conn) Status(ctx context.Context) (map[netip.Addr]PeerStatus, error) {
	all := map[netip.Addr]PeerStatus{}
	err := c.do(ctx, func(time.Time) {
		for peer, ps := range c.sessions {
			all[peer] = PeerStatus{Status: ps.session.Status(), Counters: ps.counters}
		}
	})
	return all, err
}

// Dropped counts the received packets no session took, by reason.
func (c *Conn) Dropped(ctx context.Context) (map[string]uint64, error) {
	all := map[string]uint64{}
	err := c.do(ctx, func(time.Time) {
		for reason, n := range c.dropped {
			all[reason] = n
		}
	})
	return all, err
}

// open starts a session with a fresh discriminator and its own sending socket.
func (c *Conn) open(peer netip.Addr, spec SessionSpec, now time.Time) (*peerSession, error) {
	out, err := sender(peer, spec.Source)
	if err != nil {
		return nil, err
	}
	for c.lastDiscr++; c.lastDiscr == 0 || c.byDiscr[c.lastDiscr] != nil; c.lastDiscr++ {
	}
	ps := &peerSession{peer: peer, spec: spec, out: out, state: StateDown,
		session: NewSession(c.lastDiscr, spec.Config, rand.Float64, now)}
	c.sessions[peer] = ps
	c.byDiscr[c.lastDiscr] = ps
	c.apply(ps, ps.session.Tick(now))
	return ps, nil
}

func (c *Conn) remove(ps *peerSession) {
	_ = ps.out.Close()
	delete(c.sessions, ps.peer)
	delete(c.byDiscr, ps.session.Status().LocalDiscr)
}

func (c *Conn) closeListeners() {
	c.closeOnce.Do(func() {
		for _, l := range c.listeners {
			_ = l.conn.Close()
		}
	})
}
