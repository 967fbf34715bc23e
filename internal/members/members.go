package members

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultPort is the memberlist port MetalLB speakers use (TCP and UDP).
const DefaultPort = 7946

// MaxMetaSize is the largest node metadata memberlist carries.
const MaxMetaSize = memberlist.MetaMaxSize

// Config configures a member. Zero timing fields take DefaultConfig's values.
type Config struct {
	// NodeName is the member's name: the Kubernetes node name.
	NodeName string
	// BindAddr is the address to listen on and advertise (the node IP).
	BindAddr netip.Addr
	// Port is the TCP and UDP port; 0 picks a free one (tests).
	Port int
	// Keys are the 32-byte gossip keys (DeriveKey); no primary disables
	// encryption, which lets anyone reaching the port join.
	Keys Keys
	// ProbeInterval is how often a random member is probed.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before
	// indirect probes start.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspected member has to refute before
	// it is declared dead: SuspicionMult × max(1, log10(members)) × ProbeInterval.
	SuspicionMult int
	// GossipInterval is how often state changes are gossiped.
	GossipInterval time.Duration
	// StreamTimeout bounds a TCP exchange with one member: a join attempt
	// and a full state sync. memberlist's LAN default of 10 s would let one
	// node without a speaker hold up a join for that long.
	StreamTimeout time.Duration
	// Meta is this member's metadata, at most MaxMetaSize bytes.
	Meta []byte
	// Logger receives memberlist's log lines; nil discards them.
	Logger *slog.Logger
	// OnDecryptFailure, if not nil, is called for each message from
	// another process that none of the keys decrypts: a speaker with a
	// different key, or a stranger on the port.
	OnDecryptFailure func()
	// ProbesOnly runs memberlist as MetalLB does: no exit watch (no held
	// streams: a member whose process exited is detected by memberlist's
	// probes and suspicion alone) and a member held dead is not told when
	// it sends (reclaim.go).
	ProbesOnly bool
}

// DefaultConfig returns the shipped timing: a probe every 500 ms with a
// 250 ms ack timeout and suspicion multiplier 3. The scale lab
// (e2etest/memberscale, docs/benchmarks.md) measured 0 false failovers of a
// member starved to 10 % of a core beside a CPU hog, where FastConfig's
// timing declared it dead twice in 5 minutes. The price is the detection of
// a silent member (a node lost or frozen; an exited process is the exit
// watch's): after the suspicion timeout of 3 × max(1, log10(members)) ×
// 500 ms — about 2 s on 10 members, 3 s on 100 — instead of about 0.6 s. Gossip every 10 ms sends a Leave or a death within
// about 10 ms; a gossip round with nothing queued sends nothing, so the
// short interval costs no traffic.
func DefaultConfig() Config {
	return Config{
		Port:           DefaultPort,
		ProbeInterval:  500 * time.Millisecond,
		ProbeTimeout:   250 * time.Millisecond,
		SuspicionMult:  3,
		GossipInterval: 10 * time.Millisecond,
		StreamTimeout:  3 * time.Second,
	}
}

// FastConfig returns the fast timing, an option (the speaker's
// --memberlist-probe-interval=150ms --memberlist-probe-timeout=75ms
// --memberlist-suspicion-mult=2): a crashed member is detected in about
// 0.6 s on a few nodes (at most about 0.75 s), which meets a failover target
// of 0.7 s at the median and 1 s at p99. A member stalled for about half a
// second is declared dead and rejoins when it recovers: in the scale lab a
// member starved to 10 % of a core was declared dead twice in 5 minutes.
func FastConfig() Config {
	cfg := DefaultConfig()
	cfg.ProbeInterval = 150 * time.Millisecond
	cfg.ProbeTimeout = 75 * time.Millisecond
	cfg.SuspicionMult = 2
	return cfg
}

// MinSecretSize is the shortest secret key DeriveKey accepts: below 16
// bytes the padding of a known hash leaves the key guessable. MetalLB
// accepts any non-empty key.
const MinSecretSize = 16

// DeriveKey turns the memberlist Secret's secretkey bytes into the 32-byte
// AES-256 gossip key exactly as MetalLB's speaker does, so one Secret keeps
// working: the key is the first 32 bytes of secret ‖ SHA-256(""). (MetalLB
// calls hash.Sum(secret), which appends the hash of nothing to the secret
// rather than hashing it.) A Secret made as documented — 128 random bytes,
// base64 — thus gives 32 base64 characters, 192 bits of entropy.
func DeriveKey(secret []byte) ([]byte, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("memberlist secret key is %d bytes, fewer than %d: make one with `openssl rand -base64 128`", len(secret), MinSecretSize)
	}
	empty := sha256.Sum256(nil)
	return append(slices.Clone(secret), empty[:]...)[:32], nil
}

// Member is one live member.
type Member struct {
	Name string
	Addr netip.AddrPort
	Meta []byte
}

// List is this node's membership in the speakers' memberlist cluster.
type List struct {
	ml      *memberlist.Memberlist
	cfg     Config
	keyring *memberlist.Keyring // nil without encryption
	keyMu   sync.Mutex          // serializes SetKeys
	changes chan []Member
	// accused is signalled when the others declared this node suspect or
	// dead and it refuted them.
	accused chan struct{}

	// watch holds a stream to every other member; nil with ProbesOnly.
	watch *exitWatch

	mu sync.Mutex // guards alive, gone, departed, meta, stopped and sends on changes
	// alive are the members memberlist lists as alive; gone those of them
	// whose process exited (the exit watch's verdict). The live members
	// are alive less gone.
	alive map[string]Member
	gone  map[string]bool
	// departed are the members memberlist declared dead or left, until it
	// adds them again (reclaim.go).
	departed map[string]departedMember
	meta     []byte
	stopped  bool
}

// New starts a member listening on cfg.BindAddr:cfg.Port. It is alone until
// Join.
func New(cfg Config) (*List, error) {
	defaults := DefaultConfig()
	if cfg.NodeName == "" {
		return nil, errors.New("members: node name is empty")
	}
	if !cfg.BindAddr.IsValid() {
		return nil, fmt.Errorf("members: bind address of node %q is not set", cfg.NodeName)
	}
	if len(cfg.Meta) > MaxMetaSize {
		return nil, fmt.Errorf("members: metadata of node %q is %d bytes, limit %d", cfg.NodeName, len(cfg.Meta), MaxMetaSize)
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = defaults.ProbeInterval
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = defaults.ProbeTimeout
	}
	if cfg.SuspicionMult == 0 {
		cfg.SuspicionMult = defaults.SuspicionMult
	}
	if cfg.GossipInterval == 0 {
		cfg.GossipInterval = defaults.GossipInterval
	}
	if cfg.StreamTimeout == 0 {
		cfg.StreamTimeout = defaults.StreamTimeout
	}
	if cfg.ProbeTimeout >= cfg.ProbeInterval {
		return nil, fmt.Errorf("members: probe timeout %v must be shorter than probe interval %v", cfg.ProbeTimeout, cfg.ProbeInterval)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	logger := cfg.Logger
	if cfg.Keys.Primary == nil {
		logger.Warn("memberlist gossip is not encrypted: no secret key configured")
	} else if err := checkKeys(cfg.Keys); err != nil {
		return nil, fmt.Errorf("members: node %q: %w", cfg.NodeName, err)
	}

	l := &List{
		cfg:      cfg,
		changes:  make(chan []Member, 1),
		accused:  make(chan struct{}, 1),
		alive:    make(map[string]Member),
		gone:     make(map[string]bool),
		departed: make(map[string]departedMember),
		meta:     slices.Clone(cfg.Meta),
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeName
	mc.BindAddr = cfg.BindAddr.String()
	mc.BindPort = cfg.Port
	mc.AdvertiseAddr = cfg.BindAddr.String()
	mc.AdvertisePort = cfg.Port
	if cfg.Keys.Primary != nil {
		keys := cfg.Keys.All()
		keyring, err := memberlist.NewKeyring(slices.Clone(keys), slices.Clone(keys[0]))
		if err != nil {
			return nil, fmt.Errorf("members: node %q: %w", cfg.NodeName, err)
		}
		l.keyring, mc.Keyring = keyring, keyring
	}
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.SuspicionMult = cfg.SuspicionMult
	mc.GossipInterval = cfg.GossipInterval
	mc.TCPTimeout = cfg.StreamTimeout
	// Compressing a packet costs a 64 KiB LZW table, and memberlist's
	// packets are a few hundred bytes: it saved little and allocated half
	// of what an idle speaker did. Members still read compressed messages
	// (MetalLB's speakers send them).
	mc.EnableCompression = false
	mc.Logger = newLogLogger(logger, l.signalAccused, cfg.OnDecryptFailure)
	mc.Events = (*events)(l)
	mc.Delegate = (*delegate)(l)
	if !cfg.ProbesOnly {
		if err := l.startTransport(mc); err != nil {
			return nil, fmt.Errorf("members: starting memberlist for node %q on %s: %w", cfg.NodeName, net.JoinHostPort(mc.BindAddr, strconv.Itoa(cfg.Port)), err)
		}
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		if mc.Transport != nil {
			mc.Transport.Shutdown()
		}
		return nil, fmt.Errorf("members: starting memberlist for node %q on %s: %w", cfg.NodeName, net.JoinHostPort(mc.BindAddr, strconv.Itoa(cfg.Port)), err)
	}
	l.ml = ml
	return l, nil
}

// LocalAddr returns the address this member listens on.
func (l *List) LocalAddr() netip.AddrPort {
	n := l.ml.LocalNode()
	return memberAddr(n)
}

// Join contacts the given peers (speaker addresses found from the API) and
// returns how many answered. Addresses of current members are skipped, so it
// is cheap to call again whenever the peer list changes.
func (l *List) Join(peers []netip.AddrPort) (int, error) {
	known := make(map[netip.AddrPort]bool)
	for _, m := range l.Members() {
		known[m.Addr] = true
	}
	var addrs []string
	for _, p := range peers {
		if !known[p] {
			addrs = append(addrs, p.String())
		}
	}
	if len(addrs) == 0 {
		return 0, nil
	}
	n, err := l.ml.Join(addrs)
	if err != nil {
		return n, fmt.Errorf("members: node %q joining %s: %w", l.cfg.NodeName, strings.Join(addrs, ","), err)
	}
	return n, nil
}

// Members returns the live members, this node included, sorted by name.
func (l *List) Members() []Member {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snapshotLocked()
}

// HealthScore returns memberlist's local health score (Lifeguard): 0 while
// this member's probes are answered, higher while they go unanswered though
// other members confirm the probed ones alive, or it had to refute an
// accusation.
func (l *List) HealthScore() int {
	return l.ml.GetHealthScore()
}

// Accused delivers a signal after the other members declared this node
// suspect or dead (it stalled, or its packets were lost) and it refuted
// them; signals not yet received are merged into one.
func (l *List) Accused() <-chan struct{} {
	return l.accused
}

func (l *List) signalAccused() {
	select {
	case l.accused <- struct{}{}:
	default:
	}
}

// Changes delivers the live member set after each change. Only the latest
// set is kept: a slow reader skips intermediate sets, never the last one.
func (l *List) Changes() <-chan []Member {
	return l.changes
}

// SetMeta replaces this member's metadata and gossips it.
func (l *List) SetMeta(meta []byte) error {
	if len(meta) > MaxMetaSize {
		return fmt.Errorf("members: metadata of node %q is %d bytes, limit %d", l.cfg.NodeName, len(meta), MaxMetaSize)
	}
	l.mu.Lock()
	l.meta = slices.Clone(meta)
	l.mu.Unlock()
	if err := l.ml.UpdateNode(l.cfg.ProbeInterval * 5); err != nil {
		return fmt.Errorf("members: node %q updating metadata: %w", l.cfg.NodeName, err)
	}
	return nil
}

// Leave tells the other members this node is going away (on SIGTERM) and
// waits up to timeout for the message to go out. The member keeps listening
// until Shutdown.
func (l *List) Leave(timeout time.Duration) error {
	l.mu.Lock()
	stopped := l.stopped
	l.mu.Unlock()
	if stopped {
		return fmt.Errorf("members: node %q cannot leave after shutdown", l.cfg.NodeName)
	}
	if err := l.ml.Leave(timeout); err != nil {
		return fmt.Errorf("members: node %q leaving: %w", l.cfg.NodeName, err)
	}
	return nil
}

// Shutdown stops listening without telling anyone: the others detect the
// member as failed. Call Leave first for a graceful exit.
func (l *List) Shutdown() error {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	err := l.ml.Shutdown()
	// The listener is closed first: a member whose held stream ends
	// finds the port refused, as after an exit (which closes the
	// listener, opened first, before the streams).
	if l.watch != nil {
		l.watch.shutdown()
	}
	return err
}

func (l *List) snapshotLocked() []Member {
	return liveSet(l.alive, l.gone)
}

func memberAddr(n *memberlist.Node) netip.AddrPort {
	addr, _ := netip.AddrFromSlice(n.Addr)
	return netip.AddrPortFrom(addr.Unmap(), n.Port)
}

// events receives memberlist's notifications. memberlist calls them with its
// own lock held, so they only touch List's state and never call back.
type events List

// A member memberlist adds anew (after it was dead or left) is no longer
// gone nor departed; one it removes is no longer watched and is departed.
func (e *events) NotifyJoin(n *memberlist.Node)   { e.set(n, true) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.set(n, false) }

func (e *events) NotifyLeave(n *memberlist.Node) {
	l := (*List)(e)
	if l.watch != nil {
		l.watch.untrack(n.Name)
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.alive, n.Name)
	delete(l.gone, n.Name)
	forgetOld(l.departed, now)
	l.departed[n.Name] = departedMember{addr: memberAddr(n), since: now}
	l.publishLocked()
}

func (e *events) set(n *memberlist.Node, joined bool) {
	l := (*List)(e)
	m := Member{Name: n.Name, Addr: memberAddr(n), Meta: slices.Clone(n.Meta)}
	if l.watch != nil {
		l.watch.track(m)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.alive[n.Name] = m
	delete(l.departed, n.Name)
	if joined {
		delete(l.gone, n.Name)
	}
	l.publishLocked()
}

// delegate hands memberlist this node's metadata; speakers exchange no other
// state.
type delegate List

func (d *delegate) NodeMeta(limit int) []byte {
	l := (*List)(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.meta) > limit {
		return nil
	}
	return slices.Clone(l.meta)
}

func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}
