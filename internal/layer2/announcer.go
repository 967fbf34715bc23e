// Package layer2 announces owned load-balancer IPs on the local network
// segment: it answers ARP requests (IPv4) and neighbour solicitations (IPv6)
// for them, and sends gratuitous ARP / unsolicited neighbour advertisements
// when it takes an IP over.
//
// One responder pair (ARP and NDP) runs per usable interface (see
// Link.Usability), on AF_PACKET sockets with kernel filters that pass only
// ARP requests and neighbour solicitations. Each received frame is decided by
// a pure function (decideARP, decideNDP) against an immutable snapshot of the
// owned IPs: one map lookup, no lock, no allocation beyond parsing. The
// interfaces are listed again whenever rtnetlink reports a change (and every
// RescanInterval besides); a link that appears gets responders, and one
// that vanishes loses only its own.
package layer2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/ironlb/ironlb/internal/logging"
)

// Protocol names the neighbour protocol a counter is about.
type Protocol string

// Protocols.
const (
	ARP Protocol = "arp"
	NDP Protocol = "ndp"
)

// Counters receives the responders' events, so metrics can be kept without
// this package knowing about them. Calls come from the packet goroutines and
// must not block.
type Counters interface {
	// RequestReceived counts a request for an owned IP.
	RequestReceived(proto Protocol, iface string, ip netip.Addr)
	// ResponseSent counts a reply to such a request.
	ResponseSent(proto Protocol, iface string, ip netip.Addr)
	// GratuitousSent counts a gratuitous ARP or unsolicited advertisement.
	GratuitousSent(proto Protocol, iface string, ip netip.Addr)
}

// DefaultGratuitousSchedule is when gratuitous ARP / unsolicited neighbour
// advertisements go out after a takeover, counted from the takeover: a burst
// that reaches the neighbours at once, then repeats for those that dropped
// the first packets.
var DefaultGratuitousSchedule = []time.Duration{
	0, 50 * time.Millisecond, 250 * time.Millisecond, time.Second, 2 * time.Second,
}

// Config configures an Announcer. Zero fields take defaults.
type Config struct {
	// Logger receives responder events; nil discards them.
	Logger *slog.Logger
	// Counters receives per-packet events; nil keeps none.
	Counters Counters
	// RescanInterval is how often interfaces are listed when rtnetlink
	// reported no change (default 10 s): a safety net, as every change of
	// a link or an address is listed at once.
	RescanInterval time.Duration
	// GratuitousSchedule overrides DefaultGratuitousSchedule.
	GratuitousSchedule []time.Duration
}

// Announcer answers ARP and NDP for the IPs set with SetOwned.
type Announcer struct {
	cfg   Config
	log   *slog.Logger
	owned atomic.Pointer[ownedSet]
	// current is the last listing of the interfaces.
	current atomic.Pointer[[]Link]

	mu        sync.Mutex
	runCtx    context.Context // nil until Run
	links     map[string]*responder
	takeovers map[netip.Addr]context.CancelFunc
	// started is closed once Run has started the responders of the
	// interfaces usable at start.
	started     chan struct{}
	startedOnce sync.Once
}

// New returns an Announcer that owns nothing. Call Run to start it.
func New(cfg Config) *Announcer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Counters == nil {
		cfg.Counters = noCounters{}
	}
	if cfg.RescanInterval <= 0 {
		cfg.RescanInterval = 10 * time.Second
	}
	if cfg.GratuitousSchedule == nil {
		cfg.GratuitousSchedule = DefaultGratuitousSchedule
	}
	a := &Announcer{
		cfg:       cfg,
		log:       cfg.Logger,
		links:     make(map[string]*responder),
		takeovers: make(map[netip.Addr]context.CancelFunc),
		started:   make(chan struct{}),
	}
	a.owned.Store(newOwnedSet(nil))
	return a
}

// SetOwned replaces the set of owned IPs. Only the difference is acted on:
// IPs that are new get a gratuitous burst, IPs that are gone stop being
// answered at once, unchanged IPs are left alone.
func (a *Announcer) SetOwned(anns []Announcement) {
	next := newOwnedSet(anns)
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.owned.Swap(next)
	for ip, cancel := range a.takeovers {
		if _, still := next.ips[ip]; !still {
			cancel()
			delete(a.takeovers, ip)
		}
	}
	for _, r := range a.links {
		r.syncGroups(next)
	}
	if a.runCtx == nil {
		return
	}
	running := a.runningLocked()
	for ip := range next.ips {
		if _, had := prev.ips[ip]; !had {
			ctx, cancel := context.WithCancel(a.runCtx)
			a.takeovers[ip] = cancel
			go a.announce(ctx, []netip.Addr{ip}, running)
		}
	}
}

// Reannounce sends the gratuitous schedule again for those of ips that are
// owned, on every running responder, restarting a schedule still running
// for one of them. After a partition heals or a stall ends, a neighbour may
// still hold the MAC of another node that answered meanwhile.
func (a *Announcer) Reannounce(ips []netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.runCtx == nil {
		return
	}
	owned := a.owned.Load()
	running := a.runningLocked()
	for _, ip := range ips {
		if _, ok := owned.ips[ip]; !ok {
			continue
		}
		if cancel, ok := a.takeovers[ip]; ok {
			cancel()
		}
		ctx, cancel := context.WithCancel(a.runCtx)
		a.takeovers[ip] = cancel
		go a.announce(ctx, []netip.Addr{ip}, running)
	}
}

// Owned returns the owned IPs in ascending order.
func (a *Announcer) Owned() []netip.Addr {
	return a.owned.Load().sorted()
}

// Interfaces returns the names of the interfaces that have running
// responders, sorted.
func (a *Announcer) Interfaces() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var names []string
	for name := range a.links {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// CurrentLinks returns the last listing of the interfaces (nil before Run
// listed them): what Run's responders follow, without listing again.
func (a *Announcer) CurrentLinks() []Link {
	if links := a.current.Load(); links != nil {
		return *links
	}
	return nil
}

// Started is closed once Run has started the responders of the interfaces
// usable at start: from then on, owned IPs are answered.
func (a *Announcer) Started() <-chan struct{} {
	return a.started
}

// Run watches the interfaces and runs their responders until ctx ends.
// It returns an error only if the interfaces cannot be listed at start.
// It lists them again when rtnetlink reports a change of a link or an
// address (once a burst of reports has settled) and every RescanInterval
// besides.
func (a *Announcer) Run(ctx context.Context) error {
	links, err := Links()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	defer a.stopAll()

	changed := watchLinks(ctx, func(err error) {
		a.log.Warn("following link changes failed; interfaces are listed every rescan interval meanwhile",
			"rescanInterval", a.cfg.RescanInterval, logging.KeyError, err)
	})
	ticker := time.NewTicker(a.cfg.RescanInterval)
	defer ticker.Stop()
	for {
		if links != nil {
			a.current.Store(&links)
		}
		a.reconcile(ctx, links)
		a.startedOnce.Do(func() { close(a.started) })
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-changed:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(rescanSettle):
			}
			select { // reported during the settling: this listing covers it
			case <-changed:
			default:
			}
		}
		if links, err = Links(); err != nil {
			a.log.Warn("listing interfaces failed, keeping the current responders", logging.KeyError, err)
			links = nil
			continue
		}
	}
}

// rescanSettle is how long a reported link change waits before the
// interfaces are listed: a new link comes with a burst of reports (the
// link, its state, its addresses), which one listing covers.
const rescanSettle = 50 * time.Millisecond

// reconcile starts responders on usable links that lack them and stops those
// whose link vanished, became unusable, or changed index or address.
func (a *Announcer) reconcile(ctx context.Context, links []Link) {
	if links == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	wanted := make(map[string]Link)
	for _, l := range links {
		if reason := l.Usability(); reason == Usable {
			wanted[l.Name] = l
		}
	}
	for name, r := range a.links {
		l, ok := wanted[name]
		if !ok || r.dead.Load() || l.Index != r.link.Index || !macEqual(l.MAC, r.link.MAC) {
			r.stop()
			delete(a.links, name)
			a.log.Info("stopped responders", "interface", name)
		}
	}
	for name, l := range wanted {
		if _, ok := a.links[name]; ok {
			continue
		}
		r, err := a.startResponder(ctx, l)
		if err != nil {
			a.log.Warn("cannot answer on interface", "interface", name, logging.KeyError, err)
			continue
		}
		a.links[name] = r
		a.log.Info("started responders", "interface", name)
		go a.announce(r.ctx, a.owned.Load().sorted(), []*responder{r})
	}
}

func (a *Announcer) stopAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, r := range a.links {
		r.stop()
		delete(a.links, name)
	}
	for ip, cancel := range a.takeovers {
		cancel()
		delete(a.takeovers, ip)
	}
	a.runCtx = nil
}

// announce sends gratuitous packets for ips on the given responders, on the
// schedule. A takeover announces its IP on the links running at that moment;
// a link that comes up announces the IPs owned at that moment; so each
// (IP, link) pair gets one schedule. An IP that stops being owned, or a link
// that stops, is skipped from then on.
func (a *Announcer) announce(ctx context.Context, ips []netip.Addr, rs []*responder) {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for _, at := range a.cfg.GratuitousSchedule {
		timer.Reset(time.Until(start.Add(at)))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		owned := a.owned.Load()
		for _, r := range rs {
			if r.ctx.Err() != nil {
				continue
			}
			for _, ip := range ips {
				r.gratuitous(ip, owned)
			}
		}
	}
}

// runningLocked returns the running responders; a.mu must be held.
func (a *Announcer) runningLocked() []*responder {
	rs := make([]*responder, 0, len(a.links))
	for _, r := range a.links {
		rs = append(rs, r)
	}
	return rs
}

// responder answers ARP and NDP on one link.
type responder struct {
	link     Link
	l        link
	log      *slog.Logger
	counters Counters
	owned    *atomic.Pointer[ownedSet]
	ctx      context.Context
	cancel   context.CancelFunc
	arp, ndp *packet.Conn
	dead     atomic.Bool // a socket failed; the next rescan replaces it

	groupsMu sync.Mutex
	groups   map[string]bool // joined solicited-node multicast MACs
}

func (a *Announcer) startResponder(parent context.Context, l Link) (*responder, error) {
	ifi := &net.Interface{Index: l.Index, Name: l.Name, HardwareAddr: l.MAC}
	arpConn, err := listen(ifi, unix.ETH_P_ARP, arpFilter(l.Index))
	if err != nil {
		return nil, fmt.Errorf("opening ARP socket: %w", err)
	}
	ndpConn, err := listen(ifi, unix.ETH_P_IPV6, ndpFilter(l.Index))
	if err != nil {
		arpConn.Close()
		return nil, fmt.Errorf("opening NDP socket: %w", err)
	}
	ctx, cancel := context.WithCancel(parent)
	r := &responder{
		link:     l,
		l:        link{name: l.Name, mac: l.MAC},
		log:      a.log.With("interface", l.Name),
		counters: a.cfg.Counters,
		owned:    &a.owned,
		ctx:      ctx,
		cancel:   cancel,
		arp:      arpConn,
		ndp:      ndpConn,
		groups:   make(map[string]bool),
	}
	r.syncGroups(a.owned.Load())
	go r.serve(r.arp, ARP, decideARP)
	go r.serve(r.ndp, NDP, decideNDP)
	return r, nil
}

func listen(ifi *net.Interface, proto int, filter []bpf.Instruction) (*packet.Conn, error) {
	raw, err := bpf.Assemble(filter)
	if err != nil {
		return nil, err
	}
	return packet.Listen(ifi, packet.Raw, proto, &packet.Config{Filter: raw})
}

func (r *responder) stop() {
	r.cancel()
	r.arp.Close()
	r.ndp.Close()
}

// serve reads frames until the socket fails or the responder stops.
func (r *responder) serve(conn *packet.Conn, proto Protocol, decide func([]byte, link, *ownedSet) decision) {
	buf := make([]byte, 1600)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			if r.ctx.Err() == nil {
				r.log.Warn("responder stopped: socket failed", "protocol", proto, logging.KeyError, err)
				r.dead.Store(true)
			}
			return
		}
		d := decide(buf[:n], r.l, r.owned.Load())
		if !d.asked.IsValid() {
			continue
		}
		r.counters.RequestReceived(proto, r.l.name, d.asked)
		if _, err := conn.WriteTo(d.reply, &packet.Addr{HardwareAddr: d.to}); err != nil {
			r.log.Warn("sending reply failed", "protocol", proto, "ip", d.asked, logging.KeyError, err)
			continue
		}
		r.counters.ResponseSent(proto, r.l.name, d.asked)
	}
}

// gratuitous announces ip on this link if owned allows it here.
func (r *responder) gratuitous(ip netip.Addr, owned *ownedSet) {
	if !owned.allows(ip, r.l.name) {
		return
	}
	var (
		frame []byte
		err   error
		conn  = r.arp
		proto = ARP
		dst   = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	)
	if ip.Is4() {
		frame, err = gratuitousARP(ip, r.l.mac)
	} else {
		frame, err = unsolicitedNA(ip, r.l.mac)
		conn, proto, dst = r.ndp, NDP, multicastMAC(allNodes)
	}
	if err == nil {
		_, err = conn.WriteTo(frame, &packet.Addr{HardwareAddr: dst})
	}
	if err != nil {
		if !errors.Is(err, net.ErrClosed) {
			r.log.Warn("sending gratuitous announcement failed", "protocol", proto, "ip", ip, logging.KeyError, err)
		}
		return
	}
	r.counters.GratuitousSent(proto, r.l.name, ip)
}

// syncGroups makes the NDP socket a member of exactly the solicited-node
// multicast groups of the owned IPv6 addresses allowed on this link, so the
// interface accepts solicitations sent to them.
func (r *responder) syncGroups(owned *ownedSet) {
	want := make(map[string]bool)
	for ip := range owned.ips {
		if ip.Is6() && owned.allows(ip, r.l.name) {
			if group, err := ndp.SolicitedNodeMulticast(ip); err == nil {
				want[string(multicastMAC(group))] = true
			}
		}
	}
	r.groupsMu.Lock()
	defer r.groupsMu.Unlock()
	for mac := range r.groups {
		if !want[mac] {
			if err := r.membership(unix.PACKET_DROP_MEMBERSHIP, mac); err != nil {
				r.log.Warn("leaving multicast group failed", "mac", net.HardwareAddr(mac), logging.KeyError, err)
			}
			delete(r.groups, mac)
		}
	}
	for mac := range want {
		if !r.groups[mac] {
			if err := r.membership(unix.PACKET_ADD_MEMBERSHIP, mac); err != nil {
				r.log.Warn("joining multicast group failed", "mac", net.HardwareAddr(mac), logging.KeyError, err)
				continue
			}
			r.groups[mac] = true
		}
	}
}

func (r *responder) membership(op int, mac string) error {
	sc, err := r.ndp.SyscallConn()
	if err != nil {
		return err
	}
	mreq := unix.PacketMreq{Ifindex: int32(r.link.Index), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mreq.Address[:], mac)
	var sockErr error
	if err := sc.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptPacketMreq(int(fd), unix.SOL_PACKET, op, &mreq)
	}); err != nil {
		return err
	}
	return sockErr
}

type noCounters struct{}

func (noCounters) RequestReceived(Protocol, string, netip.Addr) {}
func (noCounters) ResponseSent(Protocol, string, netip.Addr)    {}
func (noCounters) GratuitousSent(Protocol, string, netip.Addr)  {}
