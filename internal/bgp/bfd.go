package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgpspec"
)

// resetTimeout bounds the gobgp calls that reset or disable a session on the
// speaker's own initiative (BFD failed, a dynamic AS refused).
const resetTimeout = 5 * time.Second

// bfdSessions are the speaker's BFD sessions: one per applied peer whose
// BFDProfile is set, keyed by the peer's address (BFD knows no ports).
type bfdSessions struct {
	conn    *bfd.Conn // nil until a peer uses BFD
	stop    context.CancelFunc
	done    chan struct{}
	applied map[netip.Addr]bfd.SessionSpec
}

// BFDStatus is one BFD session, for metrics and status.
type BFDStatus struct {
	// Name and Address identify the BGP peer the session belongs to.
	Name    string
	Address netip.Addr
	bfd.PeerStatus
}

// bfdWant is a BFD session a peer asks for.
type bfdWant struct {
	name string
	addr netip.Addr
	spec bfd.SessionSpec
}

// bfdSpec is the BFD session peer asks for. Single hop (RFC 5881 §5):
// received packets must carry TTL 255.
func bfdSpec(p bgpspec.BFD, source netip.Addr) bfd.SessionSpec {
	return bfd.SessionSpec{
		Config: bfd.Config{
			DesiredMinTx:  p.TransmitInterval,
			RequiredMinRx: p.ReceiveInterval,
			DetectMult:    p.DetectMultiplier,
			Passive:       p.PassiveMode,
		},
		Source: source,
		MinTTL: 255,
	}
}

// planBFD compares the applied BFD sessions with those peers ask for: the
// sessions to set (new or changed; unchanged ones are left alone) and the
// addresses whose session goes. Of peers sharing an address, the first by
// name has its BFD session.
func planBFD(applied map[netip.Addr]bfd.SessionSpec, peers []bgpspec.Peer) (set []bfdWant, remove []netip.Addr) {
	peers = slices.SortedFunc(slices.Values(peers), func(a, b bgpspec.Peer) int { return strings.Compare(a.Name, b.Name) })
	wanted := map[netip.Addr]bool{}
	for _, p := range peers {
		if !p.BFD.Enabled() || wanted[p.Address] {
			continue
		}
		wanted[p.Address] = true
		spec := bfdSpec(p.BFD, p.SourceAddress)
		if old, ok := applied[p.Address]; !ok || old != spec {
			set = append(set, bfdWant{name: p.Name, addr: p.Address, spec: spec})
		}
	}
	for addr := range applied {
		if !wanted[addr] {
			remove = append(remove, addr)
		}
	}
	slices.SortFunc(remove, netip.Addr.Compare)
	return set, remove
}

// applyBFD makes the BFD sessions those of the applied peers. It runs with
// s.mu held.
func (s *Speaker) applyBFD(ctx context.Context, errs peerErrors) {
	peers := make([]bgpspec.Peer, 0, len(s.sessions))
	for _, sess := range s.sessions {
		peers = append(peers, sess.peer)
	}
	set, remove := planBFD(s.bfd.applied, peers)
	if len(set) > 0 && s.bfd.conn == nil {
		if err := s.startBFD(); err != nil {
			for _, w := range set {
				errs.add(w.name, err)
			}
			return
		}
	}
	for _, addr := range remove {
		if err := s.bfd.conn.Remove(ctx, addr); err != nil {
			errs.add(addr.String(), fmt.Errorf("removing BFD session: %w", err))
			continue
		}
		delete(s.bfd.applied, addr)
		s.log.Info("bfd session removed", "address", addr)
	}
	for _, w := range set {
		if err := s.bfd.conn.Set(ctx, w.addr, w.spec); err != nil {
			errs.add(w.name, fmt.Errorf("BFD session: %w", err))
			continue
		}
		s.bfd.applied[w.addr] = w.spec
		s.log.Info("bfd session set", "peer", w.name, "address", w.addr, "transmit", w.spec.DesiredMinTx,
			"receive", w.spec.RequiredMinRx, "multiplier", w.spec.DetectMult, "passive", w.spec.Passive)
	}
}

// startBFD opens the BFD sockets and runs them until Close.
func (s *Speaker) startBFD() error {
	conn, err := bfd.Listen(bfd.Options{
		ListenAddrs: s.cfg.BFDListenAddrs, Port: s.cfg.BFDPort,
		OnChange: s.onBFDChange, Logger: s.log,
	})
	if err != nil {
		return fmt.Errorf("starting BFD: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { conn.Run(ctx); close(done) }()
	s.bfd.conn, s.bfd.stop, s.bfd.done = conn, stop, done
	return nil
}

// stopBFD ends the BFD sessions, telling each peer AdminDown so that it does
// not take the end for a failure (RFC 5882 §3.2), and closes the sockets.
func (s *Speaker) stopBFD(ctx context.Context) {
	if s.bfd.conn == nil {
		return
	}
	for addr := range s.bfd.applied {
		if err := s.bfd.conn.Remove(ctx, addr); err != nil {
			s.log.Warn("bfd session not closed cleanly", "address", addr, "error", err)
		}
	}
	s.bfd.stop()
	<-s.bfd.done
	s.bfd.conn = nil
	clear(s.bfd.applied)
}

// onBFDChange runs on the BFD goroutine for each state change: a failed path
// resets the BGP session to the peer, so that the router drops the routes it
// learnt on it (as FRR does for MetalLB).
func (s *Speaker) onBFDChange(addr netip.Addr, from bfd.State, st bfd.Status) {
	name, _ := s.book.Load().name(addr)
	s.log.Info("bfd session state changed", "peer", name, "address", addr, "from", from.String(), "state", st.State.String(), "diag", st.Diag.String())
	if s.cfg.OnBFDStateChange != nil {
		s.cfg.OnBFDStateChange(BFDStatus{Name: name, Address: addr, PeerStatus: bfd.PeerStatus{Status: st}})
	}
	if bfd.PathFailed(from, st) {
		go s.resetForBFD(addr, st.Diag)
	}
}

// resetForBFD resets the BGP session to addr after its BFD session failed.
func (s *Speaker) resetForBFD(addr netip.Addr, diag bfd.Diag) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	reason := "BFD session down: " + diag.String()
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	err := s.gobgp.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: addr.String(), Communication: reason})
	if err != nil {
		s.log.Warn("bgp session reset after BFD failure failed", "address", addr, "error", err)
		return
	}
	s.gobgp.book.setError(addr, time.Now(), func(sessionRecord) string { return reason })
	s.log.Warn("bgp session reset: its BFD session failed", "address", addr, "diag", diag.String())
}

// BFDStatus returns every BFD session, sorted by peer name.
func (s *Speaker) BFDStatus(ctx context.Context) ([]BFDStatus, error) {
	s.mu.Lock()
	conn := s.bfd.conn
	s.mu.Unlock()
	if conn == nil {
		return nil, nil
	}
	all, err := conn.Status(ctx)
	if err != nil {
		return nil, err
	}
	book := s.book.Load()
	out := make([]BFDStatus, 0, len(all))
	for addr, st := range all {
		name, _ := book.name(addr)
		out = append(out, BFDStatus{Name: name, Address: addr, PeerStatus: st})
	}
	slices.SortFunc(out, func(a, b BFDStatus) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// takeBFD records, on each applied session, the BFD session its peer now
// asks for: planPeers leaves peers whose BFD alone changed untouched.
func (s *Speaker) takeBFD(peers []bgpspec.Peer) {
	for _, p := range peers {
		if sess, ok := s.sessions[p.Name]; ok && withoutBFD(sess.peer) == withoutBFD(p) {
			sess.peer.BFD = p.BFD
		}
	}
}
