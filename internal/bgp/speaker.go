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

	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgpspec"
)

// ErrClosed is returned by Speaker methods called after Close.
var ErrClosed = errors.New("bgp speaker is closed")

// shutdownCommunication is sent in the Cease NOTIFICATION (RFC 8203) when the speaker closes.
const shutdownCommunication = "ironlb speaker shutting down"

// maxReportedErrors bounds how many gobgp errors one call reports individually.
const maxReportedErrors = 10

// Config configures a Speaker.
type Config struct {
	// RouterID is the BGP identifier the speaker starts with (SetRouterID changes
	// it). It must be an IPv4 address.
	RouterID netip.Addr
	// Logger receives the speaker's and gobgp's log; nil means slog.Default().
	Logger *slog.Logger
	// OnStateChange, if set, is called from a speaker goroutine each time a session
	// changes state. It must not block; it may call Status.
	OnStateChange func(PeerStatus)
	// OnBFDStateChange, if set, is called from the BFD goroutine each time a
	// BFD session changes state (its counters are not filled in). It must not
	// block nor call the Speaker.
	OnBFDStateChange func(BFDStatus)
	// BFDListenAddrs and BFDPort are where BFD control packets are received
	// and the port they are sent to; zero values: every address, port 3784.
	// Only tests change them.
	BFDListenAddrs []netip.Addr
	BFDPort        int
	// LinkLocalNeighbor finds the router of an unnumbered peer on its
	// interface; nil: the kernel's neighbour table, as gobgp reads it.
	// SendRouterAdvertisement sends one router advertisement on an
	// unnumbered peer's interface; nil: sendRouterAdvertisement. Only
	// tests change them.
	LinkLocalNeighbor       func(iface string) (netip.Addr, error)
	SendRouterAdvertisement func(iface string) error
	// GracefulRestartTime is the restart time offered to graceful-restart
	// peers; zero: bgp.GracefulRestartTime. Only tests change it.
	GracefulRestartTime time.Duration
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
	routes   bgpspec.Routes      // routes of the last SetRoutes, by peer
	bfd      bfdSessions
	nextVRF  uint32
	// opened holds the addresses this process has dialled: only the first
	// session to an address follows a restart of the speaker (restartingOpen).
	opened map[netip.Addr]bool
	// gate opens the restarting sessions one at a time (restartGate).
	gate restartGate
	// advertiser announces the node on the links of unnumbered peers.
	advertiser *routerAdvertiser
	closed     bool
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
	peer    bgpspec.Peer
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
	if cfg.LinkLocalNeighbor == nil {
		cfg.LinkLocalNeighbor = linkLocalNeighbor
	}
	if cfg.GracefulRestartTime == 0 {
		cfg.GracefulRestartTime = GracefulRestartTime
	}
	if cfg.SendRouterAdvertisement == nil {
		cfg.SendRouterAdvertisement = sendRouterAdvertisement
	}
	s := &Speaker{cfg: cfg, log: cfg.Logger, sessions: map[string]*session{}, opened: map[netip.Addr]bool{},
		advertiser: newRouterAdvertiser(cfg.Logger, cfg.SendRouterAdvertisement),
		bfd:        bfdSessions{applied: map[netip.Addr]bfd.SessionSpec{}}}
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
	if iface := ev.Peer.GetConf().GetNeighborInterface(); iface != "" {
		addr = addr.WithZone(iface) // gobgp's events drop the zone of an unnumbered peer's address
	}
	st, changed := book.setState(addr, SessionState(ev.Peer.State.SessionState), time.Now())
	if !changed {
		return
	}
	s.log.Info("bgp session state changed", "peer", st.Name, "address", st.Address, "state", st.State.String())
	if s.cfg.OnStateChange != nil {
		s.cfg.OnStateChange(st)
	}
	if st.Established() {
		if reason, communication, refuse := book.refusal(addr, ev.Peer.State.PeerAsn); refuse {
			go s.refuseSession(book, addr, reason, communication) // gobgp calls back from its own loop: not here
		}
	}
}

// refuseSession closes the session to addr, of gobgp instance book, with a
// NOTIFICATION carrying communication, and keeps it closed (until its peer
// is applied anew) for reason.
func (s *Speaker) refuseSession(book *statusBook, addr netip.Addr, reason, communication string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.gobgp.book != book {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	if err := s.gobgp.srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: addr.String(), Communication: communication}); err != nil {
		s.log.Warn("bgp session not refused", "address", addr, "reason", reason, "error", err)
		return
	}
	if fresh, isNew := book.setError(addr, time.Now(), func(sessionRecord) string { return reason }); isNew {
		s.log.Warn("bgp session failure", "peer", fresh.peer, "address", fresh.address, "reason", fresh.reason)
	}
}

// SetRouterID sets the BGP identifier of every session. A change restarts the
// embedded server, which resets every session (gobgp has one BGP identifier
// per server); the applied peers and routes are applied again on the new one.
func (s *Speaker) SetRouterID(ctx context.Context, routerID netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !routerID.Is4() {
		return fmt.Errorf("bgp speaker: router ID %v is not an IPv4 address", routerID)
	}
	if routerID == s.gobgp.routerID {
		return nil
	}
	peers := make([]bgpspec.Peer, 0, len(s.sessions))
	for _, sess := range s.sessions {
		peers = append(peers, sess.peer)
	}
	if err := s.restartGobgp(ctx, routerID); err != nil {
		return err
	}
	return s.setPeers(ctx, peers)
}

// SetPeers makes the speaker's sessions exactly peers. Unchanged peers are not touched;
// a changed peer is updated in place when gobgp can (timers, multi-hop TTL) and its
// session reset only when the change needs a new OPEN or connection (AS numbers,
// password, address, families, graceful restart); removed peers get a Cease
// NOTIFICATION. Each peer is applied on its own: one that gobgp refuses is reported
// as a *PeerError and left out, and the others are applied. The routes of the last
// SetRoutes are applied to the sessions that were added or changed. An
// unnumbered peer's address is looked up on its interface at each call
// (resolveUnnumbered); a router not found yet is a *PeerError.
func (s *Speaker) SetPeers(ctx context.Context, peers []bgpspec.Peer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.setPeers(ctx, peers)
}

func (s *Speaker) setPeers(ctx context.Context, peers []bgpspec.Peer) error {
	applied := make(map[string]bgpspec.Peer, len(s.sessions))
	for name, sess := range s.sessions {
		applied[name] = sess.peer
	}
	errs := peerErrors{}
	s.advertiser.set(interfacesOf(peers))
	peers, unresolved := resolveUnnumbered(peers, applied, s.cfg.LinkLocalNeighbor)
	for name, err := range unresolved {
		errs.add(name, err)
	}
	s.applyPeerPlan(ctx, planPeers(applied, peers), errs)
	s.takeBFD(peers)
	s.applyBFD(ctx, errs)
	// The routes were planned for the previous peers: what no longer fits a
	// changed session is withdrawn, and reported only if SetRoutes asks again.
	s.applyAdverts(ctx, errs, false)
	return errs.join()
}

// restartGobgp replaces the gobgp server with one using routerID and forgets every
// applied peer, so the caller re-adds them all.
func (s *Speaker) restartGobgp(ctx context.Context, routerID netip.Addr) error {
	s.log.Info("bgp router ID changes: restarting the embedded BGP server; all sessions reset", "from", s.gobgp.routerID, "to", routerID)
	s.gobgp.stop()
	clear(s.sessions)
	s.gate.waiting = nil
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
func (s *Speaker) applyPeerPlan(ctx context.Context, plan peerPlan, errs peerErrors) {
	srv, book := s.gobgp.srv, s.gobgp.book
	for _, p := range plan.remove {
		sess := s.sessions[p.Name]
		if err := srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Address.String()}); err != nil {
			errs.add(p.Name, fmt.Errorf("removing session: %w", err))
			continue
		}
		book.forget(p.Address)
		errs.add(p.Name, s.dropVRF(ctx, sess.vrf))
		delete(s.sessions, p.Name)
		s.log.Info("bgp peer removed", "peer", p.Name, "address", p.Address)
	}
	// Neighbours that change address are deleted before any is added, so that peers
	// may swap addresses. So are those whose session is not up: gobgp's UpdatePeer
	// writes the timers unlocked while a connecting neighbour reads them (a data
	// race), and there is no session to keep.
	var readd []bgpspec.Peer
	inPlace := plan.change[:0:0]
	for _, c := range plan.change {
		if !c.needsNewNeighbor() && book.established(c.old.Address) {
			inPlace = append(inPlace, c)
			continue
		}
		if err := srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: c.old.Address.String()}); err != nil {
			errs.add(c.new.Name, fmt.Errorf("removing session to old address %s: %w", c.old.Address, err))
			continue
		}
		book.forget(c.old.Address)
		readd = append(readd, c.new)
	}
	for _, c := range inPlace {
		sess := s.sessions[c.new.Name]
		if _, err := srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: neighborFor(c.new, sess.vrf, s.cfg.GracefulRestartTime)}); err != nil {
			errs.add(c.new.Name, fmt.Errorf("updating session: %w", err))
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
			errs.add(p.Name, err)
			errs.add(p.Name, s.dropVRF(ctx, sess.vrf))
			delete(s.sessions, p.Name)
			continue
		}
		sess.peer = p
	}
	for _, p := range plan.add {
		s.addSession(ctx, p, errs)
	}
}

// addSession creates the VRF of a new peer, puts the peer's routes in it and
// only then adds its gobgp neighbour, so that the session's first UPDATEs
// carry its whole table: after a restart, the End-of-RIB that follows them
// makes a graceful-restart router drop whatever they did not renew.
func (s *Speaker) addSession(ctx context.Context, p bgpspec.Peer, errs peerErrors) {
	s.nextVRF++
	vrf := fmt.Sprintf("peer-%d", s.nextVRF)
	conf, err := vrfFor(vrf, s.nextVRF)
	if err == nil {
		err = s.gobgp.srv.AddVrf(ctx, &api.AddVrfRequest{Vrf: conf})
	}
	if err != nil {
		errs.add(p.Name, fmt.Errorf("creating its route table: %w", err))
		return
	}
	sess := &session{peer: p, vrf: vrf, adverts: peerAdverts{}}
	if s.applySessionAdverts(ctx, sess, errs, false) != nil {
		errs.add(p.Name, s.dropVRF(ctx, vrf))
		return
	}
	if err := s.addNeighbor(ctx, p, vrf); err != nil {
		errs.add(p.Name, err)
		errs.add(p.Name, s.dropVRF(ctx, vrf))
		return
	}
	s.sessions[p.Name] = sess
}

// addNeighbor adds the gobgp neighbour of p, bound to vrf, and starts tracking it.
func (s *Speaker) addNeighbor(ctx context.Context, p bgpspec.Peer, vrf string) error {
	s.gobgp.book.track(p, time.Now())
	restarting := restartingOpen(p, s.opened)
	n := neighborFor(p, vrf, s.cfg.GracefulRestartTime)
	gated := false
	if restarting {
		markRestarting(n)
		gated = s.gate.gated(p.Address, time.Now())
		n.Conf.AdminDown = gated
	}
	if err := s.gobgp.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: n}); err != nil {
		s.gobgp.book.forget(p.Address)
		return fmt.Errorf("adding session: %w", err)
	}
	s.opened[p.Address] = true
	if gated && !s.gate.running {
		s.gate.running = true
		go s.runGate()
	}
	s.log.Info("bgp peer added", "peer", p.Name, "address", p.Address, "myASN", p.MyASN, "peerASN", p.PeerASN, "restarting", restarting, "waitsForRestartOf", s.gate.opening)
	return nil
}

// dropVRF deletes a VRF that no neighbour uses any more, and its paths.
func (s *Speaker) dropVRF(ctx context.Context, vrf string) error {
	if err := s.gobgp.srv.DeleteVrf(ctx, &api.DeleteVrfRequest{Name: vrf}); err != nil {
		return fmt.Errorf("removing its route table: %w", err)
	}
	return nil
}

// SetRoutes makes the advertised routes exactly routes: per peer name, the prefixes
// that peer receives. Only the difference is sent: a prefix whose attributes for a
// peer did not change is not re-sent to that peer; a changed one is re-advertised
// (an implicit replace), a removed one withdrawn. Each peer is applied on its own:
// what fails for one peer is reported as a *PeerError and the others are applied.
// Routes for a peer without a session are kept and applied when SetPeers adds it.
func (s *Speaker) SetRoutes(ctx context.Context, routes bgpspec.Routes) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.routes = cloneRoutes(routes)
	errs := peerErrors{}
	s.applyAdverts(ctx, errs, true)
	return errs.join()
}

// applyAdverts sends each session the difference between its applied adverts and
// those of the last SetRoutes; with reportUnfit, routes the session cannot carry
// are reported, else only left out.
func (s *Speaker) applyAdverts(ctx context.Context, errs peerErrors, reportUnfit bool) {
	for _, name := range slices.Sorted(maps.Keys(s.sessions)) {
		if s.applySessionAdverts(ctx, s.sessions[name], errs, reportUnfit) != nil {
			return
		}
	}
}

// applySessionAdverts is applyAdverts for one session. It returns ctx's error
// when ctx ends before it is done.
func (s *Speaker) applySessionAdverts(ctx context.Context, sess *session, errs peerErrors, reportUnfit bool) error {
	name := sess.peer.Name
	wanted, err := advertsFor(sess.peer, s.routes[name])
	if reportUnfit {
		errs.add(name, err)
	}
	diff := diffAdverts(sess.adverts, wanted)
	if diff.empty() {
		return nil
	}
	for _, prefix := range diff.withdraw {
		if err := ctx.Err(); err != nil {
			errs.add(name, err)
			return err
		}
		if err := s.withdraw(ctx, sess, prefix); err != nil {
			errs.add(name, fmt.Errorf("route %s: withdrawing: %w", prefix, err))
			continue
		}
		delete(sess.adverts, prefix)
	}
	for _, prefix := range slices.SortedFunc(maps.Keys(diff.announce), netip.Prefix.Compare) {
		if err := ctx.Err(); err != nil {
			errs.add(name, err)
			return err
		}
		a := diff.announce[prefix]
		if err := s.announce(ctx, sess, prefix, a); err != nil {
			errs.add(name, fmt.Errorf("route %s: advertising: %w", prefix, err))
			continue
		}
		sess.adverts[prefix] = a
	}
	return nil
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
func summarise(errs []error) error {
	errs = slices.DeleteFunc(errs, func(err error) bool { return err == nil })
	if len(errs) == 0 {
		return nil
	}
	if len(errs) > maxReportedErrors {
		more := fmt.Errorf("and %d more errors", len(errs)-maxReportedErrors)
		errs = append(errs[:maxReportedErrors:maxReportedErrors], more)
	}
	return errors.Join(errs...)
}

// cloneRoutes deep-copies routes so the caller may reuse its maps and slices.
func cloneRoutes(routes bgpspec.Routes) bgpspec.Routes {
	out := make(bgpspec.Routes, len(routes))
	for peer, adverts := range routes {
		copied := make(bgpspec.Adverts, len(adverts))
		for prefix, a := range adverts {
			a.Communities = slices.Clone(a.Communities)
			a.LargeCommunities = slices.Clone(a.LargeCommunities)
			copied[prefix] = a
		}
		out[peer] = copied
	}
	return out
}
