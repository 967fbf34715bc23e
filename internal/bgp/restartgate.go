package bgp

import (
	"context"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// restartGate opens a restarting process's graceful-restart sessions one
// at a time. gobgp ends the restart of every neighbour (LocalRestarting
// cleared: no Restart State nor Forwarding State bit in its next OPEN) as
// soon as one restarting session has synchronised (the router's
// End-of-RIB), also for neighbours whose session is not up yet; those would
// reopen without the Forwarding State bit, and their routers drop our stale
// routes at once (RFC 4724 §4.2), a moment before our UPDATEs renew them.
// So while one restarting session opens, the next ones wait
// administratively down (no dialling), and each is released once the
// previous one has synchronised or restartGateWait has passed.
type restartGate struct {
	opening netip.Addr   // the restarting neighbour released last; invalid: none
	since   time.Time    // when opening was released
	waiting []netip.Addr // restarting neighbours added administratively down, in order
	running bool         // runGate runs
}

// restartGateWait bounds how long a restarting session may take to open
// and synchronise before the next one is released anyway (a router that
// does not answer must not hold back the others). restartGateTick is how
// often runGate looks.
const (
	restartGateWait = 15 * time.Second
	restartGateTick = 50 * time.Millisecond
)

// openingState is what gobgp shows of the neighbour being opened.
type openingState struct {
	exists, established, restarting bool
}

// gateStep is what runGate does next.
type gateStep int

const (
	gateWait    gateStep = iota // the opening session is still opening
	gateRelease                 // release the next waiting neighbour
	gateDone                    // nothing waits: runGate ends
)

// nextGateStep decides whether the next waiting neighbour may open: when
// the opening one has synchronised (established, its restart over), is
// gone, lost its restart before opening (nothing left to protect), or took
// longer than restartGateWait.
func nextGateStep(g restartGate, opening openingState, now time.Time) gateStep {
	switch {
	case len(g.waiting) == 0:
		return gateDone
	case !g.opening.IsValid(), !opening.exists, !opening.restarting:
		return gateRelease
	case now.Sub(g.since) >= restartGateWait:
		return gateRelease
	}
	return gateWait
}

// gated reports whether a restarting neighbour added now must wait, and
// otherwise marks it as the one opening.
func (g *restartGate) gated(addr netip.Addr, now time.Time) bool {
	if g.opening.IsValid() {
		g.waiting = append(g.waiting, addr)
		return true
	}
	g.opening, g.since = addr, now
	return false
}

// runGate releases the waiting neighbours one by one until none waits or
// the speaker is closed.
func (s *Speaker) runGate() {
	tick := time.NewTicker(restartGateTick)
	defer tick.Stop()
	for range tick.C {
		s.mu.Lock()
		done := s.closed || s.gateStep(context.Background())
		if done {
			s.gate.running = false
		}
		s.mu.Unlock()
		if done {
			return
		}
	}
}

// gateStep takes one step of the gate and reports whether it is done.
func (s *Speaker) gateStep(ctx context.Context) bool {
	switch nextGateStep(s.gate, s.neighbour(ctx, s.gate.opening), time.Now()) {
	case gateDone:
		return true
	case gateRelease:
		s.releaseNext(ctx)
	}
	return false
}

// neighbour returns what gobgp shows of the neighbour at addr.
func (s *Speaker) neighbour(ctx context.Context, addr netip.Addr) openingState {
	var st openingState
	if !addr.IsValid() {
		return st
	}
	_ = s.gobgp.srv.ListPeer(ctx, &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) {
		st = openingState{
			exists:      true,
			established: p.GetState().GetSessionState() == api.PeerState_ESTABLISHED,
			restarting:  p.GetGracefulRestart().GetLocalRestarting(),
		}
	})
	return st
}

// releaseNext lets the first waiting neighbour dial as a restarting
// speaker. One that is no longer waiting (removed, or added again since)
// is skipped.
func (s *Speaker) releaseNext(ctx context.Context) {
	addr := s.gate.waiting[0]
	s.gate.waiting = s.gate.waiting[1:]
	s.gate.opening, s.gate.since = addr, time.Now()
	var adminDown bool
	_ = s.gobgp.srv.ListPeer(ctx, &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) {
		adminDown = p.GetConf().GetAdminDown()
	})
	if !adminDown {
		return
	}
	for _, sess := range s.sessions {
		if sess.peer.Address != addr {
			continue
		}
		n := neighborFor(sess.peer, sess.vrf, s.cfg.GracefulRestartTime)
		markRestarting(n)
		// gobgp re-creates a neighbour whose OPEN changes (here its
		// administrative state), taking LocalRestarting from n.
		if _, err := s.gobgp.srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: n}); err != nil {
			s.log.Warn("bgp peer not released after a restart", "peer", sess.peer.Name, "address", addr, "err", err)
			return
		}
		s.log.Info("bgp peer released after a restart", "peer", sess.peer.Name, "address", addr)
	}
}
