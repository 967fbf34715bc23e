package bgp

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// SelectionDeferralTime bounds how long a restarting speaker waits for a
// router's End-of-RIB before it sends its own routes anyway (RFC 4724 §4.1).
// Its routes are in place before the session opens, so the wait is only
// there for routers that never send an End-of-RIB.
const SelectionDeferralTime = 10

// restartingOpen reports whether the session to p is opened as a
// restarting speaker's (RFC 4724 §4.1: Restart State bit, and Forwarding
// State bit for every family): the peer offers graceful restart and this
// process has not dialled its address yet, so its router may still hold the
// previous process's routes as stale. The forwarding state the bit claims
// is the node's (kube-proxy, routes, the Service endpoints), which a
// restart of the speaker leaves untouched. A later session to the same
// address follows a Cease this process sent, which leaves nothing stale.
func restartingOpen(p bgpspec.Peer, opened map[netip.Addr]bool) bool {
	return p.GracefulRestart && !opened[p.Address]
}

// markRestarting makes gobgp open n's session as a restarting speaker: it
// sets the Restart State and Forwarding State bits, holds back UPDATEs until
// the router's End-of-RIB (or SelectionDeferralTime), then sends the whole
// table followed by an End-of-RIB.
func markRestarting(n *api.Peer) {
	n.GracefulRestart.LocalRestarting = true
	n.GracefulRestart.DeferralTime = SelectionDeferralTime
}

// keptForRestart reports whether a stop followed by a restart leaves the
// session to p to its router's graceful restart: no withdrawal and no
// NOTIFICATION (RFC 4724 §4.2: the router keeps the routes as stale for
// the restart time we offered, and drops them if we are not back by then).
// Every other session is closed as on a final stop.
func keptForRestart(p bgpspec.Peer, restart bool) bool {
	return restart && p.GracefulRestart
}

// Close withdraws every route, waits (until ctx is done) for the withdrawals to be
// sent, closes every session with a Cease NOTIFICATION (administrative shutdown) and
// stops the embedded server. It is what a speaker does on a stop that no restart
// follows. Calling it again does nothing.
func (s *Speaker) Close(ctx context.Context) error {
	return s.close(ctx, false)
}

// CloseForRestart is Close for a stop that a restart of the speaker
// follows: the sessions of peers that offer graceful restart are left as
// they are, routes included, and the embedded server is not stopped, so
// that those sessions end only with the process, without a NOTIFICATION;
// their routers keep the routes, marked stale, until the next process's
// sessions renew them. The other sessions are closed as Close does.
// Nothing may be called on the Speaker afterwards but Close, which does
// nothing.
func (s *Speaker) CloseForRestart(ctx context.Context) error {
	return s.close(ctx, true)
}

func (s *Speaker) close(ctx context.Context, restart bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.advertiser.stop()
	var kept, closing []string
	for _, name := range slices.Sorted(maps.Keys(s.sessions)) {
		if keptForRestart(s.sessions[name].peer, restart) {
			kept = append(kept, name)
		} else {
			closing = append(closing, name)
		}
	}
	if len(kept) == 0 {
		defer s.gobgp.stop()
		defer s.stopBFD(ctx)
		return s.closeAll(ctx)
	}
	defer s.stopBFD(ctx)
	s.log.Info("bgp sessions left to their routers' graceful restart", "peers", kept)
	return s.closeSessions(ctx, closing)
}

// closeAll withdraws every route and closes every session with a Cease.
func (s *Speaker) closeAll(ctx context.Context) error {
	var errs []error
	// Deleting every local path queues a withdrawal to each established session; the
	// NOTIFICATION below is queued behind them, so routers see the withdrawals first
	// even when they would keep the routes of a closed session (graceful restart).
	if err := s.gobgp.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL}); err != nil {
		errs = append(errs, fmt.Errorf("withdrawing routes: %w", err))
	}
	errs = append(errs, s.shutdownSessions(ctx, slices.Sorted(maps.Keys(s.sessions)))...)
	if err := waitUntil(ctx, func() bool { return !s.gobgp.book.anyEstablished() }); err != nil {
		errs = append(errs, fmt.Errorf("waiting for sessions to close: %w", err))
	}
	return summarise(errs)
}

// closeSessions withdraws the routes of the named sessions and closes them
// with a Cease, leaving the others untouched.
func (s *Speaker) closeSessions(ctx context.Context, names []string) error {
	var errs []error
	for _, name := range names {
		sess := s.sessions[name]
		for _, prefix := range slices.SortedFunc(maps.Keys(sess.adverts), netip.Prefix.Compare) {
			if err := s.withdraw(ctx, sess, prefix); err != nil {
				errs = append(errs, fmt.Errorf("bgp peer %q: route %s: withdrawing: %w", name, prefix, err))
			}
		}
	}
	errs = append(errs, s.shutdownSessions(ctx, names)...)
	closed := func() bool {
		return !slices.ContainsFunc(names, func(name string) bool { return s.gobgp.book.established(s.sessions[name].peer.Address) })
	}
	if err := waitUntil(ctx, closed); err != nil {
		errs = append(errs, fmt.Errorf("waiting for sessions to close: %w", err))
	}
	return summarise(errs)
}

// shutdownSessions sends the named sessions a Cease NOTIFICATION with the
// shutdown communication. One call per peer: gobgp shares one NOTIFICATION
// message between the peers of a single ShutdownPeer call and serialises it
// concurrently (a data race).
func (s *Speaker) shutdownSessions(ctx context.Context, names []string) []error {
	var errs []error
	for _, name := range names {
		p := s.sessions[name].peer
		err := s.gobgp.srv.ShutdownPeer(ctx, &api.ShutdownPeerRequest{Address: p.Address.String(), Communication: shutdownCommunication})
		if err != nil {
			errs = append(errs, fmt.Errorf("bgp peer %q: closing session: %w", name, err))
		}
	}
	return errs
}
