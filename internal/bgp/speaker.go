package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// ErrClosed is returned by Speaker methods called after Close.
var ErrClosed = errors.New("bgp speaker is closed")

// shutdownCommunication is sent in the Cease NOTIFICATION (RFC 8203) when the speaker closes.
const shutdownCommunication = "ironlb speaker shutting down"

// maxReportedErrors bounds how many gobgp errors one call reports individually.
const maxReportedErrors = 10

// Config configures a Speaker.
type Config struct {
	// RouterID is the BGP identifier used unless the peers set Peer.RouterID; usually
	// the node's IPv4 address. It must be an IPv4 address.
	RouterID netip.Addr
	// Logger receives the speaker's and gobgp's log; nil means slog.Default().
	Logger *slog.Logger
	// OnStateChange, if set, is called from a speaker goroutine each time a session
	// changes state. It must not block; it may call Status.
	OnStateChange func(PeerStatus)
}

// Speaker keeps BGP sessions and advertisements in line with the desired state it is
// given, using one embedded gobgp server. It always dials out and never listens.
//
// Each peer's paths live in a gobgp VRF of their own that only that peer's neighbour
// imports, so a prefix can go to some peers and not others, with attributes that differ
// per peer, and adding, changing or withdrawing one path is one gobgp call that affects
// only the sessions concerned.
type Speaker struct {
	cfg Config
	log *slog.Logger

	// book is the status book of the running gobgp server, read by Status without mu.
	book atomic.Pointer[statusBook]

	mu       sync.Mutex // serialises SetPeers, SetRoutes and Close
	gobgp    *gobgpInstance
	sessions map[string]*session // applied peers by name
	routes   []Route             // routes of the last successful SetRoutes
	nextVRF  uint32
	closed   bool
}

// gobgpInstance is one running gobgp server and what belongs to it.
type gobgpInstance struct {
	srv       *server.BgpServer
	routerID  netip.Addr
	book      *statusBook
	stopWatch context.CancelFunc
}

// session is an applied peer: its configuration, its VRF and the adverts gobgp holds for it.
type session struct {
	peer    Peer
	vrf     string
	adverts peerAdverts
}

// New starts a speaker with no peers and no routes.
func New(ctx context.Context, cfg Config) (*Speaker, error) {
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("bgp speaker: router ID %v is not an IPv4 address", cfg.RouterID)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Speaker{cfg: cfg, log: cfg.Logger, sessions: map[string]*session{}}
	inst, err := s.startGobgp(ctx, cfg.RouterID)
	if err != nil {
		return nil, err
	}
	s.gobgp = inst
	return s, nil
}

// startGobgp starts a gobgp server with the given router ID, not listening for
// connections, and subscribes to its session state changes.
func (s *Speaker) startGobgp(ctx context.Context, routerID netip.Addr) (*gobgpInstance, error) {
	book := newStatusBook()
	srv := server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: s.log, book: book, now: time.Now}))
	go srv.Serve()
	err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:        serverASN,
		RouterId:   routerID.String(),
		ListenPort: -1, // never accept connections: the speaker dials out
	}})
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("bgp speaker: starting gobgp: %w", err)
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	err = srv.WatchEvent(watchCtx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, func(r *api.WatchEventResponse) {
		s.onPeerEvent(book, r)
	})
	if err != nil {
		stopWatch()
		srv.Stop()
		return nil, fmt.Errorf("bgp speaker: watching gobgp sessions: %w", err)
	}
	s.book.Store(book)
	return &gobgpInstance{srv: srv, routerID: routerID, book: book, stopWatch: stopWatch}, nil
}

// stop stops the gobgp server; sessions are closed with a Cease NOTIFICATION.
func (g *gobgpInstance) stop() {
	g.srv.Stop()
	g.stopWatch()
}

// onPeerEvent records a session state change reported by gobgp.
func (s *Speaker) onPeerEvent(book *statusBook, r *api.WatchEventResponse) {
	ev := r.GetPeer()
	if ev == nil || ev.Type != api.WatchEventResponse_PeerEvent_STATE || ev.Peer.GetState() == nil {
		return
	}
	addr, err := netip.ParseAddr(ev.Peer.State.NeighborAddress)
	if err != nil {
		return
	}
	st, changed := book.setState(addr, SessionState(ev.Peer.State.SessionState), time.Now())
	if !changed {
		return
	}
	s.log.Info("bgp session state changed", "peer", st.Name, "address", st.Address, "state", st.State.String())
	if s.cfg.OnStateChange != nil {
		s.cfg.OnStateChange(st)
	}
}

// SetPeers makes the speaker's sessions exactly peers. Unchanged peers are not touched;
// a changed peer is updated in place when gobgp can (timers, multi-hop TTL) and its
// session reset only when the change needs a new OPEN or connection (AS numbers,
// password, address, families, graceful restart); removed peers get a Cease
// NOTIFICATION. Invalid input changes nothing and returns an error naming each bad
// peer and field. The routes of the last SetRoutes are re-applied to changed peers,
// dropping references to peers that are gone or no longer carry the prefix's family.
//
// A change of router ID (Peer.RouterID) restarts the embedded server, which resets
// every session: gobgp has one BGP identifier per server.
func (s *Speaker) SetPeers(ctx context.Context, peers []Peer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	routerID, err := validatePeers(peers)
	if err != nil {
		return err
	}
	if !routerID.IsValid() {
		routerID = s.cfg.RouterID
	}
	if routerID != s.gobgp.routerID {
		if err := s.restartGobgp(ctx, routerID); err != nil {
			return err
		}
	}

	applied := make(map[string]Peer, len(s.sessions))
	for name, sess := range s.sessions {
		applied[name] = sess.peer
	}
	plan := planPeers(applied, peers)
	errs := s.applyPeerPlan(ctx, plan)

	current := make(map[string]Peer, len(s.sessions))
	for name, sess := range s.sessions {
		current[name] = sess.peer
	}
	wanted, err := resolveAdverts(restrictToPeers(s.routes, current), current)
	if err != nil {
		// Cannot happen: restrictToPeers keeps only what resolveAdverts accepts, and
		// the routes passed validation when they were set.
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, s.applyAdverts(ctx, wanted)...)
	return summarise("bgp peers", errs)
}

// restartGobgp replaces the gobgp server with one using routerID and forgets every
// applied peer, so the caller re-adds them all.
func (s *Speaker) restartGobgp(ctx context.Context, routerID netip.Addr) error {
	s.log.Info("bgp router ID changes: restarting the embedded BGP server; all sessions reset", "from", s.gobgp.routerID, "to", routerID)
	s.gobgp.stop()
	clear(s.sessions)
	inst, err := s.startGobgp(ctx, routerID)
	if err == nil {
		s.gobgp = inst
		return nil
	}
	// Leave a usable speaker on the previous router ID so that the next call can retry.
	previous, errPrevious := s.startGobgp(ctx, s.gobgp.routerID)
	if errPrevious != nil {
		return errors.Join(err, errPrevious)
	}
	s.gobgp = previous
	return err
}

// applyPeerPlan applies a peer plan to gobgp, recording each step that succeeded.
func (s *Speaker) applyPeerPlan(ctx context.Context, plan peerPlan) []error {
	srv, book := s.gobgp.srv, s.gobgp.book
	var errs []error
	for _, p := range plan.remove {
		sess := s.sessions[p.Name]
		if err := srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Address.String()}); err != nil {
			errs = append(errs, fmt.Errorf("bgp peer %q: removing session: %w", p.Name, err))
			continue
		}
		book.forget(p.Address)
		if err := srv.DeleteVrf(ctx, &api.DeleteVrfRequest{Name: sess.vrf}); err != nil {
			errs = append(errs, fmt.Errorf("bgp peer %q: removing its routes: %w", p.Name, err))
		}
		delete(s.sessions, p.Name)
		s.log.Info("bgp peer removed", "peer", p.Name, "address", p.Address)
	}
	// Neighbours that change address are deleted before any is added, so that peers
	// may swap addresses.
	var readd []Peer
	for _, c := range plan.change {
		if !c.needsNewNeighbor() {
			continue
		}
		if err := srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: c.old.Address.String()}); err != nil {
			errs = append(errs, fmt.Errorf("bgp peer %q: removing session to old address %s: %w", c.new.Name, c.old.Address, err))
			continue
		}
		book.forget(c.old.Address)
		readd = append(readd, c.new)
	}
	for _, c := range plan.change {
		if c.needsNewNeighbor() {
			continue
		}
		sess := s.sessions[c.new.Name]
		if _, err := srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: neighborFor(c.new, sess.vrf)}); err != nil {
			errs = append(errs, fmt.Errorf("bgp peer %q: updating session: %w", c.new.Name, err))
			continue
		}
		book.rename(c.new)
		sess.peer = c.new
		s.log.Info("bgp peer updated", "peer", c.new.Name, "address", c.new.Address)
	}
	for _, p := range readd {
		sess := s.sessions[p.Name]
		if err := s.addNeighbor(ctx, p, sess.vrf); err != nil {
			// The old neighbour is gone; forget the session so the next call adds it anew.
			errs = append(errs, err, s.dropVRF(ctx, p.Name, sess.vrf))
			delete(s.sessions, p.Name)
			continue
		}
		sess.peer = p
	}
	for _, p := range plan.add {
		s.nextVRF++
		vrf := fmt.Sprintf("peer-%d", s.nextVRF)
		conf, err := vrfFor(vrf, s.nextVRF)
		if err == nil {
			err = srv.AddVrf(ctx, &api.AddVrfRequest{Vrf: conf})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("bgp peer %q: creating its route table: %w", p.Name, err))
			continue
		}
		if err := s.addNeighbor(ctx, p, vrf); err != nil {
			errs = append(errs, err, s.dropVRF(ctx, p.Name, vrf))
			continue
		}
		s.sessions[p.Name] = &session{peer: p, vrf: vrf, adverts: peerAdverts{}}
	}
	return errs
}

// addNeighbor adds the gobgp neighbour of p, bound to vrf, and starts tracking it.
func (s *Speaker) addNeighbor(ctx context.Context, p Peer, vrf string) error {
	s.gobgp.book.track(p, time.Now())
	if err := s.gobgp.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: neighborFor(p, vrf)}); err != nil {
		s.gobgp.book.forget(p.Address)
		return fmt.Errorf("bgp peer %q: adding session: %w", p.Name, err)
	}
	s.log.Info("bgp peer added", "peer", p.Name, "address", p.Address, "myASN", p.MyASN, "peerASN", p.PeerASN)
	return nil
}

// dropVRF deletes a VRF that no neighbour uses any more.
func (s *Speaker) dropVRF(ctx context.Context, peerName, vrf string) error {
	if err := s.gobgp.srv.DeleteVrf(ctx, &api.DeleteVrfRequest{Name: vrf}); err != nil {
		return fmt.Errorf("bgp peer %q: removing its route table: %w", peerName, err)
	}
	return nil
}

// SetRoutes makes the advertised routes exactly routes. Only the difference is sent:
// a prefix whose attributes for a peer did not change is not re-sent to that peer; a
// changed one is re-advertised (an implicit replace), a removed one withdrawn. Invalid
// input (unknown peer, a family the peer does not carry, a peer listed twice for a
// prefix, a malformed prefix or next hop) changes nothing and returns an error.
func (s *Speaker) SetRoutes(ctx context.Context, routes []Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	peers := make(map[string]Peer, len(s.sessions))
	for name, sess := range s.sessions {
		peers[name] = sess.peer
	}
	wanted, err := resolveAdverts(routes, peers)
	if err != nil {
		return err
	}
	s.routes = cloneRoutes(routes)
	return summarise("bgp routes", s.applyAdverts(ctx, wanted))
}

// applyAdverts sends each session the difference between its applied and wanted adverts.
func (s *Speaker) applyAdverts(ctx context.Context, wanted map[string]peerAdverts) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(s.sessions)) {
		sess := s.sessions[name]
		diff := diffAdverts(sess.adverts, wanted[name])
		if diff.empty() {
			continue
		}
		for _, prefix := range diff.withdraw {
			if err := ctx.Err(); err != nil {
				return append(errs, err)
			}
			if err := s.withdraw(ctx, sess, prefix); err != nil {
				errs = append(errs, fmt.Errorf("bgp route %s: withdrawing from peer %q: %w", prefix, name, err))
				continue
			}
			delete(sess.adverts, prefix)
		}
		for _, prefix := range slices.SortedFunc(maps.Keys(diff.announce), netip.Prefix.Compare) {
			if err := ctx.Err(); err != nil {
				return append(errs, err)
			}
			a := diff.announce[prefix]
			if err := s.announce(ctx, sess, prefix, a); err != nil {
				errs = append(errs, fmt.Errorf("bgp route %s: advertising to peer %q: %w", prefix, name, err))
				continue
			}
			sess.adverts[prefix] = a
		}
	}
	return errs
}

// announce adds or replaces the path for prefix in the session's VRF.
func (s *Speaker) announce(ctx context.Context, sess *session, prefix netip.Prefix, a advert) error {
	path, err := pathFor(prefix, a, false)
	if err != nil {
		return err
	}
	_, err = s.gobgp.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_VRF, VrfId: sess.vrf, Path: path})
	return err
}

// withdraw removes the path for prefix from the session's VRF.
func (s *Speaker) withdraw(ctx context.Context, sess *session, prefix netip.Prefix) error {
	path, err := pathFor(prefix, sess.adverts[prefix], true)
	if err != nil {
		return err
	}
	return s.gobgp.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_VRF, VrfId: sess.vrf, Family: path.Family, Path: path})
}

// Status returns a snapshot of every session, sorted by peer name. It waits for a
// SetPeers or SetRoutes in progress to finish.
func (s *Speaker) Status() []PeerStatus {
	statuses := s.book.Load().snapshot()
	counts := s.messageCounts()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range statuses {
		st := &statuses[i]
		if sess, ok := s.sessions[st.Name]; ok {
			st.AdvertisedPrefixes = len(sess.adverts)
		}
		if m, ok := counts[st.Address]; ok {
			st.UpdatesSent, st.UpdatesReceived = m.GetSent().GetUpdate(), m.GetReceived().GetUpdate()
			st.NotificationsSent, st.NotificationsReceived = m.GetSent().GetNotification(), m.GetReceived().GetNotification()
		}
	}
	return statuses
}

// messageCounts returns gobgp's message counters per neighbour address.
func (s *Speaker) messageCounts() map[netip.Addr]*api.Messages {
	s.mu.Lock()
	srv, closed := s.gobgp.srv, s.closed
	s.mu.Unlock()
	counts := map[netip.Addr]*api.Messages{}
	if closed {
		return counts
	}
	_ = srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		if addr, err := netip.ParseAddr(p.GetConf().GetNeighborAddress()); err == nil {
			counts[addr] = p.GetState().GetMessages()
		}
	})
	return counts
}

// Close withdraws every route, waits (until ctx is done) for the withdrawals to be
// sent, closes every session with a Cease NOTIFICATION (administrative shutdown) and
// stops the embedded server. It is what a speaker does on SIGTERM. Calling it again
// does nothing.
func (s *Speaker) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	defer s.gobgp.stop()
	srv := s.gobgp.srv
	var errs []error
	// Deleting every local path queues a withdrawal to each established session; the
	// NOTIFICATION below is queued behind them, so routers see the withdrawals first
	// even when they would keep the routes of a closed session (graceful restart).
	if err := srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL}); err != nil {
		errs = append(errs, fmt.Errorf("withdrawing routes: %w", err))
	}
	// One call per peer: gobgp shares one NOTIFICATION message between the peers of a
	// single ShutdownPeer call and serialises it concurrently (a data race).
	for _, name := range slices.Sorted(maps.Keys(s.sessions)) {
		p := s.sessions[name].peer
		err := srv.ShutdownPeer(ctx, &api.ShutdownPeerRequest{Address: p.Address.String(), Communication: shutdownCommunication})
		if err != nil {
			errs = append(errs, fmt.Errorf("bgp peer %q: closing session: %w", name, err))
		}
	}
	if err := waitUntil(ctx, func() bool { return !s.gobgp.book.anyEstablished() }); err != nil {
		errs = append(errs, fmt.Errorf("waiting for sessions to close: %w", err))
	}
	return summarise("bgp speaker close", errs)
}

// waitUntil polls cond until it holds or ctx is done.
func waitUntil(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// summarise joins errors, listing at most maxReportedErrors of them.
func summarise(what string, errs []error) error {
	errs = slices.DeleteFunc(errs, func(err error) bool { return err == nil })
	if len(errs) == 0 {
		return nil
	}
	if len(errs) > maxReportedErrors {
		more := fmt.Errorf("%s: and %d more errors", what, len(errs)-maxReportedErrors)
		errs = append(errs[:maxReportedErrors:maxReportedErrors], more)
	}
	return errors.Join(errs...)
}

// restrictToPeers drops from each route the peers that are unknown or do not carry
// the route's family.
func restrictToPeers(routes []Route, peers map[string]Peer) []Route {
	out := make([]Route, 0, len(routes))
	for _, r := range routes {
		r.Peers = slices.DeleteFunc(slices.Clone(r.Peers), func(name string) bool {
			p, ok := peers[name]
			return !ok || !p.Carries(r.Prefix.Addr())
		})
		out = append(out, r)
	}
	return out
}

// cloneRoutes deep-copies routes so the caller may reuse its slices.
func cloneRoutes(routes []Route) []Route {
	out := make([]Route, len(routes))
	for i, r := range routes {
		r.Peers = slices.Clone(r.Peers)
		r.Communities = slices.Clone(r.Communities)
		r.LargeCommunities = slices.Clone(r.LargeCommunities)
		out[i] = r
	}
	return out
}
