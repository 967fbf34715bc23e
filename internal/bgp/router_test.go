//go:debug multipathtcp=0

package bgp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// The test routers listen with Go's default listener, which is MPTCP since Go 1.24;
// the kernel refuses TCP-MD5 on MPTCP sockets, so the tests turn MPTCP off. (The
// speaker only dials, and Go dials plain TCP.)

// Addresses used by the in-process tests: the speaker dials from speakerAddr; each
// test router listens on its own loopback address.
const speakerAddr = "127.0.0.1"

// speakerASN is the AS of the speaker in the tests.
const speakerASN = 64501

// testRouter is a plain gobgp server standing in for a network router: it listens on
// a loopback address and passively accepts the speaker's session.
type testRouter struct {
	t    testing.TB
	srv  *server.BgpServer
	addr netip.Addr
	port uint16
	asn  uint32
}

// routerOptions tweak the router's side of the session.
type routerOptions struct {
	password        string
	gracefulRestart bool
	speakerAddr     string // default speakerAddr
}

// newTestRouter starts a router on addr (a free port) in AS asn. Routers must be
// created before the test's speaker, because gobgp's StartBgp writes package state
// that running servers read.
func newTestRouter(t testing.TB, addr string, asn uint32, opts routerOptions) *testRouter {
	t.Helper()
	ip := netip.MustParseAddr(addr)
	port := freePort(t, ip)
	srv := server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: discardLogger(), book: newStatusBook(), now: time.Now}))
	go srv.Serve()
	ctx := context.Background()
	err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: fmt.Sprintf("10.255.%d.%d", ip.As16()[14], ip.As16()[15]),
		ListenPort: int32(port), ListenAddresses: []string{addr},
	}})
	if err != nil {
		t.Fatalf("starting test router %s: %v", addr, err)
	}
	t.Cleanup(func() { stopTestServer(srv) })
	r := &testRouter{t: t, srv: srv, addr: ip, port: port, asn: asn}
	from := opts.speakerAddr
	if from == "" {
		from = speakerAddr
	}
	families := []*api.AfiSafi{
		{Config: &api.AfiSafiConfig{Family: familyIPv4, Enabled: true}, MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: opts.gracefulRestart}}},
		{Config: &api.AfiSafiConfig{Family: familyIPv6, Enabled: true}, MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: opts.gracefulRestart}}},
	}
	neighbor := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: from, PeerAsn: speakerASN, LocalAsn: asn, AuthPassword: opts.password},
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis:  families,
	}
	if opts.gracefulRestart {
		neighbor.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: 120}
	}
	if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: neighbor}); err != nil {
		t.Fatalf("test router %s: adding speaker neighbour: %v", addr, err)
	}
	return r
}

// freePort returns a TCP port that is free on addr.
func freePort(t testing.TB, addr netip.Addr) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatalf("finding a free port on %s: %v", addr, err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// peer is the speaker-side Peer for this router.
func (r *testRouter) peer(name string) bgpspec.Peer {
	return bgpspec.Peer{
		Name: name, MyASN: speakerASN, PeerASN: r.asn,
		Address: r.addr, Port: r.port, SourceAddress: netip.MustParseAddr(speakerAddr),
		ConnectTime: time.Second,
	}
}

// receivedPath is a path as the router holds it.
type receivedPath struct {
	nextHop          netip.Addr
	localPref        uint32 // 0: attribute absent
	asPath           string
	communities      []uint32
	largeCommunities []bgpspec.LargeCommunity
}

// paths returns the router's RIB for both families, by prefix.
func (r *testRouter) paths() map[netip.Prefix]receivedPath {
	r.t.Helper()
	out := map[netip.Prefix]receivedPath{}
	for _, family := range []*api.Family{familyIPv4, familyIPv6} {
		err := r.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: family}, func(d *api.Destination) {
			for _, p := range d.Paths {
				prefix, rp := decodePath(r.t, p)
				out[prefix] = rp
			}
		})
		if err != nil {
			r.t.Fatalf("listing router %s paths: %v", r.addr, err)
		}
	}
	return out
}

// decodePath turns a gobgp API path into its prefix and the attributes the tests check.
func decodePath(t testing.TB, p *api.Path) (netip.Prefix, receivedPath) {
	t.Helper()
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		t.Fatalf("decoding NLRI: %v", err)
	}
	prefix := netip.MustParsePrefix(nlri.String())
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		t.Fatalf("decoding attributes of %s: %v", prefix, err)
	}
	var rp receivedPath
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			rp.nextHop, _ = netip.AddrFromSlice(a.Value.To4())
		case *bgp.PathAttributeMpReachNLRI:
			rp.nextHop, _ = netip.AddrFromSlice(a.Nexthop)
			rp.nextHop = rp.nextHop.Unmap()
		case *bgp.PathAttributeLocalPref:
			rp.localPref = a.Value
		case *bgp.PathAttributeAsPath:
			var asns []string
			for _, param := range a.Value {
				for _, asn := range param.GetAS() {
					asns = append(asns, fmt.Sprint(asn))
				}
			}
			rp.asPath = strings.Join(asns, " ")
		case *bgp.PathAttributeCommunities:
			rp.communities = a.Value
		case *bgp.PathAttributeLargeCommunities:
			for _, c := range a.Values {
				rp.largeCommunities = append(rp.largeCommunities, bgpspec.LargeCommunity{GlobalAdmin: c.ASN, LocalData1: c.LocalData1, LocalData2: c.LocalData2})
			}
		}
	}
	return prefix, rp
}

// session returns the router's view of its session with the speaker.
func (r *testRouter) session() *api.Peer {
	r.t.Helper()
	var found *api.Peer
	err := r.srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) { found = p })
	if err != nil || found == nil {
		r.t.Fatalf("router %s: listing its neighbour: %v", r.addr, err)
	}
	return found
}

// established reports whether the router's session with the speaker is up.
func (r *testRouter) established() bool {
	return r.session().GetState().GetSessionState() == api.PeerState_ESTABLISHED
}

// receivedUpdate is one path carried by an UPDATE the router received.
type receivedUpdate struct {
	prefix   netip.Prefix
	withdraw bool
}

// updateRecorder collects the paths of every UPDATE a router receives.
type updateRecorder struct {
	mu      sync.Mutex
	updates []receivedUpdate
}

// recordUpdates starts recording the UPDATEs the router receives from now on.
func (r *testRouter) recordUpdates() *updateRecorder {
	r.t.Helper()
	rec := &updateRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	r.t.Cleanup(cancel)
	err := r.srv.WatchEvent(ctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_ADJIN}},
	}}, func(resp *api.WatchEventResponse) {
		for _, p := range resp.GetTable().GetPaths() {
			if p.GetFamily().GetSafi() != api.Family_SAFI_UNICAST {
				continue // End-of-RIB markers and the like
			}
			nlri, err := apiutil.GetNativeNlri(p)
			if err != nil {
				continue
			}
			prefix, err := netip.ParsePrefix(nlri.String())
			if err != nil {
				continue
			}
			rec.mu.Lock()
			rec.updates = append(rec.updates, receivedUpdate{prefix: prefix, withdraw: p.IsWithdraw})
			rec.mu.Unlock()
		}
	})
	if err != nil {
		r.t.Fatalf("router %s: watching updates: %v", r.addr, err)
	}
	return rec
}

// get returns the updates recorded so far, sorted.
func (u *updateRecorder) get() []receivedUpdate {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := slices.Clone(u.updates)
	slices.SortFunc(out, func(a, b receivedUpdate) int {
		if c := a.prefix.Compare(b.prefix); c != 0 {
			return c
		}
		if a.withdraw == b.withdraw {
			return 0
		}
		if a.withdraw {
			return 1
		}
		return -1
	})
	return out
}

// eventually polls cond until it returns true or the timeout passes, then fails the
// test with the last explanation cond gave.
func eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newTestSpeaker starts a speaker that logs to the test and is closed at cleanup.
func newTestSpeaker(t testing.TB, onChange func(PeerStatus)) *Speaker {
	t.Helper()
	s, err := New(context.Background(), Config{
		RouterID:      netip.MustParseAddr("10.255.0.1"),
		Logger:        testLogger(t),
		OnStateChange: onChange,
	})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// statusOf returns the speaker's status of the named peer.
func statusOf(s *Speaker, name string) (PeerStatus, bool) {
	for _, st := range s.Status() {
		if st.Name == name {
			return st, true
		}
	}
	return PeerStatus{}, false
}

// waitEstablished waits until the speaker reports the named sessions up.
func waitEstablished(t *testing.T, s *Speaker, names ...string) {
	t.Helper()
	eventually(t, 15*time.Second, func() (bool, string) {
		for _, name := range names {
			st, ok := statusOf(s, name)
			if !ok || !st.Established() {
				return false, fmt.Sprintf("peer %s: %+v", name, st)
			}
		}
		return true, ""
	})
}

// testLogger writes the speaker's warnings and errors to the test log until the
// test's cleanup has run (gobgp goroutines may outlive the test).
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// discardLogger drops everything (for the test routers).
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// BGP message types (RFC 4271 §4.1).
const (
	bgpMsgOpen         = 1
	bgpMsgUpdate       = 2
	bgpMsgNotification = 3
	bgpMsgKeepalive    = 4
)

// scriptedPeer is a hand-driven BGP speaker on loopback, for sending what a real
// router would not.
type scriptedPeer struct {
	t        *testing.T
	addr     netip.Addr
	port     uint16
	asn      uint16
	listener net.Listener
}

func newScriptedPeer(t *testing.T, addr string, asn uint16) *scriptedPeer {
	t.Helper()
	a := netip.MustParseAddr(addr)
	l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatalf("scripted peer: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return &scriptedPeer{t: t, addr: a, port: uint16(l.Addr().(*net.TCPAddr).Port), asn: asn, listener: l}
}

// accept waits for the speaker to connect.
func (p *scriptedPeer) accept(timeout time.Duration) net.Conn {
	p.t.Helper()
	_ = p.listener.(*net.TCPListener).SetDeadline(time.Now().Add(timeout))
	conn, err := p.listener.Accept()
	if err != nil {
		p.t.Fatalf("scripted peer: no connection from the speaker: %v", err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	return conn
}

// expectConnection waits for a new connection attempt and closes it.
func (p *scriptedPeer) expectConnection(timeout time.Duration) {
	p.t.Helper()
	p.accept(timeout).Close()
}

// establishAndSend accepts the speaker's session, completes the OPEN exchange, sends
// raw and returns the speaker's next message other than a KEEPALIVE.
func (p *scriptedPeer) establishAndSend(raw []byte) []byte {
	p.t.Helper()
	conn := p.accept(15 * time.Second)
	defer conn.Close()
	if msg := p.read(conn); msg[18] != bgpMsgOpen {
		p.t.Fatalf("scripted peer: first message % x is not an OPEN", msg)
	}
	caps := []bgp.ParameterCapabilityInterface{bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(uint32(p.asn))}
	open := bgp.NewBGPOpenMessage(p.asn, 90, "10.255.9.9", []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	for _, m := range []*bgp.BGPMessage{open, bgp.NewBGPKeepAliveMessage()} {
		b, err := m.Serialize()
		if err != nil {
			p.t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			p.t.Fatalf("scripted peer: write: %v", err)
		}
	}
	if msg := p.read(conn); msg[18] != bgpMsgKeepalive {
		p.t.Fatalf("scripted peer: expected KEEPALIVE, got % x", msg)
	}
	if _, err := conn.Write(raw); err != nil {
		p.t.Fatalf("scripted peer: write: %v", err)
	}
	for {
		if msg := p.read(conn); msg[18] != bgpMsgKeepalive {
			return msg
		}
	}
}

// read reads one BGP message.
func (p *scriptedPeer) read(conn net.Conn) []byte {
	p.t.Helper()
	header := make([]byte, 19)
	if _, err := io.ReadFull(conn, header); err != nil {
		p.t.Fatalf("scripted peer: reading header: %v", err)
	}
	length := int(header[16])<<8 | int(header[17])
	if length < 19 {
		p.t.Fatalf("scripted peer: bad length %d", length)
	}
	msg := make([]byte, length)
	copy(msg, header)
	if _, err := io.ReadFull(conn, msg[19:]); err != nil {
		p.t.Fatalf("scripted peer: reading body: %v", err)
	}
	return msg
}

// stopTestServer closes a test router's sessions before stopping it: gobgp's
// StopBgp rewrites neighbour state that the receive loop of a still
// established session reads (a data race inside gobgp).
func stopTestServer(srv *server.BgpServer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var addrs []string
	_ = srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		addrs = append(addrs, p.GetConf().GetNeighborAddress())
	})
	for _, addr := range addrs {
		_ = srv.ShutdownPeer(ctx, &api.ShutdownPeerRequest{Address: addr})
	}
	_ = waitUntil(ctx, func() bool {
		established := false
		_ = srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.GetState().GetSessionState() == api.PeerState_ESTABLISHED {
				established = true
			}
		})
		return !established
	})
	srv.Stop()
}

// route is a prefix sent to several peers with the same attributes: a short
// way for the tests to write bgpspec.Routes.
type route struct {
	Prefix           netip.Prefix
	Peers            []string
	LocalPref        uint32
	Communities      []uint32
	LargeCommunities []bgpspec.LargeCommunity
}

// unfold turns routes into the per-peer form SetRoutes takes.
func unfold(routes []route) bgpspec.Routes {
	out := bgpspec.Routes{}
	for _, r := range routes {
		for _, peer := range r.Peers {
			if out[peer] == nil {
				out[peer] = bgpspec.Adverts{}
			}
			out[peer][r.Prefix] = bgpspec.Attributes{LocalPref: r.LocalPref, Communities: r.Communities, LargeCommunities: r.LargeCommunities}
		}
	}
	return out
}
