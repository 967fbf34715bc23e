package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

var (
	pfx = netip.MustParsePrefix
	ip  = netip.MustParseAddr
)

// TestSpeakerAdvertisesAttributesToListedPeersOnly checks that each router gets only the
// prefixes listed for it, with the attributes meant for it: local preference on iBGP
// only, standard and large communities, and per-peer attributes for one prefix.
func TestSpeakerAdvertisesAttributesToListedPeersOnly(t *testing.T) {
	ebgpRouter := newTestRouter(t, "127.0.0.2", 64500, routerOptions{})
	ibgpRouter := newTestRouter(t, "127.0.0.3", speakerASN, routerOptions{})
	s := newTestSpeaker(t, nil)
	ctx := context.Background()

	if err := s.SetPeers(ctx, []bgpspec.Peer{ebgpRouter.peer("ebgp"), ibgpRouter.peer("ibgp")}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	routes := []route{
		{
			Prefix: pfx("203.0.113.1/32"), Peers: []string{"ebgp", "ibgp"}, LocalPref: 150,
			Communities:      []uint32{65000<<16 | 100, 0xFFFFFF02}, // 65000:100, no-advertise
			LargeCommunities: []bgpspec.LargeCommunity{{GlobalAdmin: 64500, LocalData1: 1, LocalData2: 2}},
		},
		{Prefix: pfx("203.0.113.2/32"), Peers: []string{"ebgp"}},
		{Prefix: pfx("203.0.113.3/32"), Peers: []string{"ibgp"}, LocalPref: 50},
		{Prefix: pfx("203.0.113.4/32"), Peers: []string{"ebgp"}, Communities: []uint32{65000<<16 | 1}},
		{Prefix: pfx("203.0.113.4/32"), Peers: []string{"ibgp"}, Communities: []uint32{65000<<16 | 2}},
		{Prefix: pfx("198.51.100.0/24"), Peers: []string{"ebgp"}},
	}
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}

	speaker := ip(speakerAddr)
	wantEBGP := map[netip.Prefix]receivedPath{
		pfx("203.0.113.1/32"):  {nextHop: speaker, asPath: "64501", communities: []uint32{65000<<16 | 100, 0xFFFFFF02}, largeCommunities: []bgpspec.LargeCommunity{{GlobalAdmin: 64500, LocalData1: 1, LocalData2: 2}}},
		pfx("203.0.113.2/32"):  {nextHop: speaker, asPath: "64501"},
		pfx("203.0.113.4/32"):  {nextHop: speaker, asPath: "64501", communities: []uint32{65000<<16 | 1}},
		pfx("198.51.100.0/24"): {nextHop: speaker, asPath: "64501"},
	}
	wantIBGP := map[netip.Prefix]receivedPath{
		pfx("203.0.113.1/32"): {nextHop: speaker, localPref: 150, communities: []uint32{65000<<16 | 100, 0xFFFFFF02}, largeCommunities: []bgpspec.LargeCommunity{{GlobalAdmin: 64500, LocalData1: 1, LocalData2: 2}}},
		pfx("203.0.113.3/32"): {nextHop: speaker, localPref: 50},
		pfx("203.0.113.4/32"): {nextHop: speaker, localPref: 100, communities: []uint32{65000<<16 | 2}},
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		got := ebgpRouter.paths()
		return reflect.DeepEqual(got, wantEBGP), fmt.Sprintf("eBGP router has %+v, want %+v", got, wantEBGP)
	})
	eventually(t, 15*time.Second, func() (bool, string) {
		got := ibgpRouter.paths()
		return reflect.DeepEqual(got, wantIBGP), fmt.Sprintf("iBGP router has %+v, want %+v", got, wantIBGP)
	})

	waitEstablished(t, s, "ebgp")
	st, _ := statusOf(s, "ebgp")
	if !st.Established() || st.AdvertisedPrefixes != 4 || st.Address != ebgpRouter.addr {
		t.Errorf("status of ebgp = %+v, want established with 4 prefixes", st)
	}
	if st.UpdatesSent == 0 {
		t.Errorf("status of ebgp counts no UPDATE sent: %+v", st)
	}
}

// TestSpeakerIPv6 checks IPv6 prefixes over MP-BGP: on an IPv6 session the next hop is
// the session's local address; on a dual-stack IPv4 session it is the configured
// global IPv6 address; IPv4 prefixes reach the dual-stack IPv6 session with the
// configured IPv4 next hop.
func TestSpeakerIPv6(t *testing.T) {
	v6Router := newTestRouter(t, "::1", 64500, routerOptions{speakerAddr: "::1"})
	dualRouter := newTestRouter(t, "127.0.0.2", 64502, routerOptions{})
	s := newTestSpeaker(t, nil)
	ctx := context.Background()

	v6 := v6Router.peer("v6")
	v6.SourceAddress = ip("::1")
	v6.DualStackAddressFamily = true
	v6.NextHopIPv4 = ip("198.18.0.1")
	dual := dualRouter.peer("dual")
	dual.DualStackAddressFamily = true
	dual.NextHopIPv6 = ip("2001:db8:ffff::1")
	if err := s.SetPeers(ctx, []bgpspec.Peer{v6, dual}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	routes := []route{
		{Prefix: pfx("2001:db8:1::10/128"), Peers: []string{"v6", "dual"}, Communities: []uint32{65000<<16 | 6}},
		{Prefix: pfx("2001:db8:2::/64"), Peers: []string{"dual"}},
		{Prefix: pfx("203.0.113.6/32"), Peers: []string{"v6"}},
	}
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	wantV6 := map[netip.Prefix]receivedPath{
		pfx("2001:db8:1::10/128"): {nextHop: ip("::1"), asPath: "64501", communities: []uint32{65000<<16 | 6}},
		pfx("203.0.113.6/32"):     {nextHop: ip("198.18.0.1"), asPath: "64501"},
	}
	wantDual := map[netip.Prefix]receivedPath{
		pfx("2001:db8:1::10/128"): {nextHop: ip("2001:db8:ffff::1"), asPath: "64501", communities: []uint32{65000<<16 | 6}},
		pfx("2001:db8:2::/64"):    {nextHop: ip("2001:db8:ffff::1"), asPath: "64501"},
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		got := v6Router.paths()
		return reflect.DeepEqual(got, wantV6), fmt.Sprintf("IPv6 router has %+v, want %+v", got, wantV6)
	})
	eventually(t, 15*time.Second, func() (bool, string) {
		got := dualRouter.paths()
		return reflect.DeepEqual(got, wantDual), fmt.Sprintf("dual-stack router has %+v, want %+v", got, wantDual)
	})
}

// TestSpeakerSetRoutesSendsOnlyChanges checks that SetRoutes sends exactly the changed
// prefixes: unchanged routes are not re-sent, a changed attribute re-advertises that
// prefix only, a removed route is withdrawn.
func TestSpeakerSetRoutesSendsOnlyChanges(t *testing.T) {
	router := newTestRouter(t, "127.0.0.2", 64500, routerOptions{})
	s := newTestSpeaker(t, nil)
	ctx := context.Background()
	if err := s.SetPeers(ctx, []bgpspec.Peer{router.peer("r")}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	routes := make([]route, 0, 50)
	for i := range 50 {
		routes = append(routes, route{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32), Peers: []string{"r"}, Communities: []uint32{1}})
	}
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		n := len(router.paths())
		return n == 50, fmt.Sprintf("router has %d paths, want 50", n)
	})

	rec := router.recordUpdates()
	// The same routes given in another order: nothing to send.
	same := slices.Clone(routes)
	slices.Reverse(same)
	if err := s.SetRoutes(ctx, unfold(same)); err != nil {
		t.Fatalf("SetRoutes(same) error = %v", err)
	}
	// One changed community, one removed route, one new route.
	next := slices.Clone(routes)
	next[7].Communities = []uint32{2}
	next = slices.Delete(next, 9, 10) // 203.0.113.9
	next = append(next, route{Prefix: pfx("198.51.100.7/32"), Peers: []string{"r"}})
	if err := s.SetRoutes(ctx, unfold(next)); err != nil {
		t.Fatalf("SetRoutes(next) error = %v", err)
	}
	want := []receivedUpdate{
		{prefix: pfx("198.51.100.7/32")},
		{prefix: pfx("203.0.113.7/32")},
		{prefix: pfx("203.0.113.9/32"), withdraw: true},
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		got := rec.get()
		return reflect.DeepEqual(got, want), fmt.Sprintf("router received %+v, want %+v", got, want)
	})
	// Nothing else trickles in afterwards.
	time.Sleep(300 * time.Millisecond)
	if got := rec.get(); !reflect.DeepEqual(got, want) {
		t.Errorf("router received %+v, want only %+v", got, want)
	}
	if got := router.paths()[pfx("203.0.113.7/32")].communities; !reflect.DeepEqual(got, []uint32{2}) {
		t.Errorf("203.0.113.7/32 communities = %v, want [2]", got)
	}
	if st, _ := statusOf(s, "r"); st.AdvertisedPrefixes != 50 {
		t.Errorf("AdvertisedPrefixes = %d, want 50", st.AdvertisedPrefixes)
	}
}

// TestSpeakerPeerChangesAreHitless checks that changing, adding or removing one peer
// does not reset another peer's session nor re-send its routes.
func TestSpeakerPeerChangesAreHitless(t *testing.T) {
	routerA := newTestRouter(t, "127.0.0.2", 64500, routerOptions{})
	routerB := newTestRouter(t, "127.0.0.3", 64502, routerOptions{})
	var mu sync.Mutex
	var events []string
	s := newTestSpeaker(t, func(st PeerStatus) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, st.Name+":"+st.State.String())
	})
	ctx := context.Background()
	a, b := routerA.peer("a"), routerB.peer("b")
	if err := s.SetPeers(ctx, []bgpspec.Peer{a, b}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	routes := []route{
		{Prefix: pfx("203.0.113.1/32"), Peers: []string{"a", "b"}},
		{Prefix: pfx("203.0.113.2/32"), Peers: []string{"b"}},
	}
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	waitEstablished(t, s, "a", "b")
	eventually(t, 10*time.Second, func() (bool, string) {
		return len(routerB.paths()) == 2 && len(routerA.paths()) == 1, "routes not received yet"
	})
	eventually(t, 5*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(events, "a:established") && slices.Contains(events, "b:established"),
			fmt.Sprintf("state change callbacks = %v, want both sessions established", events)
	})
	bBefore, _ := statusOf(s, "b")
	bRouterBefore := routerB.session()
	recB := routerB.recordUpdates()

	// A change that needs a new OPEN resets a's session only.
	a.GracefulRestart = true
	if err := s.SetPeers(ctx, []bgpspec.Peer{a, b}); err != nil {
		t.Fatalf("SetPeers(a with graceful restart) error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		sess := routerA.session()
		caps := fmt.Sprint(sess.GetState().GetRemoteCap())
		return routerA.established() && strings.Contains(caps, "GracefulRestart"), "router a does not see the graceful restart capability yet: " + caps
	})
	// A timer change is applied in place, without a reset.
	waitEstablished(t, s, "a")
	aBefore, _ := statusOf(s, "a")
	a.HoldTime = 30 * time.Second
	if err := s.SetPeers(ctx, []bgpspec.Peer{a, b}); err != nil {
		t.Fatalf("SetPeers(a with hold time) error = %v", err)
	}
	time.Sleep(500 * time.Millisecond) // a reset would show by now
	if aAfter, _ := statusOf(s, "a"); !aAfter.Established() || !aAfter.StateSince.Equal(aBefore.StateSince) {
		t.Errorf("hold time change reset the session: before %+v, after %+v", aBefore, aAfter)
	}
	// Removing a leaves b alone; a's router loses its routes.
	if err := s.SetPeers(ctx, []bgpspec.Peer{b}); err != nil {
		t.Fatalf("SetPeers(b) error = %v", err)
	}
	if aAfter, _ := statusOf(s, "a"); aAfter.StateSince != (time.Time{}) {
		t.Errorf("removed peer still has a status: %+v", aAfter)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		return !routerA.established() && len(routerA.paths()) == 0, "router a still has the session or routes"
	})

	bAfter, _ := statusOf(s, "b")
	if !bAfter.Established() || !bAfter.StateSince.Equal(bBefore.StateSince) {
		t.Errorf("b's session changed: before %+v, after %+v", bBefore, bAfter)
	}
	bRouterAfter := routerB.session()
	if !bRouterAfter.GetTimers().GetState().GetUptime().AsTime().Equal(bRouterBefore.GetTimers().GetState().GetUptime().AsTime()) {
		t.Errorf("router b's session uptime changed from %v to %v", bRouterBefore.GetTimers().GetState().GetUptime().AsTime(), bRouterAfter.GetTimers().GetState().GetUptime().AsTime())
	}
	if got := recB.get(); len(got) != 0 {
		t.Errorf("router b received updates %+v while only peer a changed", got)
	}
	if n := len(routerB.paths()); n != 2 {
		t.Errorf("router b has %d paths, want 2", n)
	}
	// Routes for a peer without a session wait for it: adding a back advertises them.
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes(routes of the removed peer) error = %v", err)
	}
	if err := s.SetPeers(ctx, []bgpspec.Peer{a, b}); err != nil {
		t.Fatalf("SetPeers(a back) error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		return len(routerA.paths()) == 1, "router a did not get its route back"
	})
}

// TestSpeakerCloseWithdrawsRoutes checks that Close sends explicit withdrawals before
// closing the session with a Cease NOTIFICATION, even to a graceful-restart router.
func TestSpeakerCloseWithdrawsRoutes(t *testing.T) {
	router := newTestRouter(t, "127.0.0.2", 64500, routerOptions{gracefulRestart: true})
	s := newTestSpeaker(t, nil)
	ctx := context.Background()
	p := router.peer("r")
	p.GracefulRestart = true
	if err := s.SetPeers(ctx, []bgpspec.Peer{p}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	routes := []route{
		{Prefix: pfx("203.0.113.1/32"), Peers: []string{"r"}},
		{Prefix: pfx("203.0.113.2/32"), Peers: []string{"r"}},
	}
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) { return len(router.paths()) == 2, "routes not received" })
	rec := router.recordUpdates()

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	want := []receivedUpdate{{prefix: pfx("203.0.113.1/32"), withdraw: true}, {prefix: pfx("203.0.113.2/32"), withdraw: true}}
	eventually(t, 5*time.Second, func() (bool, string) {
		got := rec.get()
		return reflect.DeepEqual(got, want), fmt.Sprintf("router received %+v, want withdrawals %+v", got, want)
	})
	eventually(t, 5*time.Second, func() (bool, string) {
		m := router.session().GetState().GetMessages().GetReceived()
		return m.GetNotification() == 1 && len(router.paths()) == 0, fmt.Sprintf("router received %d NOTIFICATIONs, has %d paths", m.GetNotification(), len(router.paths()))
	})
	if err := s.SetRoutes(ctx, unfold(routes)); err != ErrClosed {
		t.Errorf("SetRoutes after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
}

// TestSpeakerFailingPeersAreIsolated checks the bad-input cases: an unreachable peer
// retries with backoff, a wrong TCP-MD5 password never establishes, a peer whose OPEN
// we refuse (wrong peer AS), a peer that refuses ours (wrong local AS) and one that
// shuts the session down; each
// failure is visible in Status while a healthy session is untouched.
func TestSpeakerFailingPeersAreIsolated(t *testing.T) {
	healthy := newTestRouter(t, "127.0.0.2", 64500, routerOptions{password: "right"})
	md5Wrong := newTestRouter(t, "127.0.0.3", 64500, routerOptions{password: "right"})
	badASN := newTestRouter(t, "127.0.0.4", 64500, routerOptions{})
	shutdown := newTestRouter(t, "127.0.0.5", 64500, routerOptions{})
	badMyASN := newTestRouter(t, "127.0.0.7", 64500, routerOptions{})
	s := newTestSpeaker(t, nil)
	ctx := context.Background()

	good := healthy.peer("healthy")
	good.Password = "right"
	wrong := md5Wrong.peer("md5")
	wrong.Password = "wrong"
	asn := badASN.peer("asn")
	asn.PeerASN = 64999
	myASN := badMyASN.peer("myasn")
	myASN.MyASN = 64777
	closedPort := freePort(t, ip("127.0.0.6"))
	unreachable := bgpspec.Peer{Name: "unreachable", MyASN: speakerASN, PeerASN: 64500, Address: ip("127.0.0.6"), Port: closedPort, SourceAddress: ip(speakerAddr), ConnectTime: time.Second}
	peers := []bgpspec.Peer{good, wrong, asn, myASN, shutdown.peer("shutdown"), unreachable}
	if err := s.SetPeers(ctx, peers); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	all := []string{"healthy", "md5", "asn", "myasn", "shutdown", "unreachable"}
	if err := s.SetRoutes(ctx, unfold([]route{{Prefix: pfx("203.0.113.1/32"), Peers: all}})); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	waitEstablished(t, s, "healthy", "shutdown")
	eventually(t, 10*time.Second, func() (bool, string) { return len(healthy.paths()) == 1, "healthy router has no route" })
	healthyBefore, _ := statusOf(s, "healthy")

	// The router shuts the session down with a message.
	if err := shutdown.srv.ShutdownPeer(ctx, &api.ShutdownPeerRequest{Address: speakerAddr, Communication: "maintenance"}); err != nil {
		t.Fatalf("ShutdownPeer: %v", err)
	}

	wantErrors := map[string]string{
		"unreachable": "connect failed: dial tcp 127.0.0.1:0->127.0.0.6:",
		"md5":         "(no answer: peer unreachable, or TCP-MD5 password mismatch)",
		"asn":         "NOTIFICATION sent: code 2(open) subcode 2(bad peer as): as number mismatch expected 64999, received 64500",
		"myasn":       "session closed during the OPEN exchange (invalid-msg): the peer may have refused it",
		"shutdown":    `NOTIFICATION received: code 6(cease) subcode 2(administrative shutdown) "maintenance"`,
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		for name, want := range wantErrors {
			st, _ := statusOf(s, name)
			if !strings.Contains(st.LastError, want) {
				return false, fmt.Sprintf("peer %s: last error %q, want it to contain %q", name, st.LastError, want)
			}
		}
		return true, ""
	})
	unreachableFirst, _ := statusOf(s, "unreachable")
	if !strings.Contains(unreachableFirst.LastError, "connection refused") {
		t.Errorf("unreachable peer error = %q, want connection refused", unreachableFirst.LastError)
	}
	// The unreachable peer keeps retrying.
	eventually(t, 10*time.Second, func() (bool, string) {
		st, _ := statusOf(s, "unreachable")
		return st.LastErrorTime.After(unreachableFirst.LastErrorTime), "no new connection attempt"
	})
	for _, name := range []string{"md5", "asn", "myasn", "unreachable"} {
		if st, _ := statusOf(s, name); st.Established() {
			t.Errorf("peer %s established: %+v", name, st)
		}
	}
	healthyAfter, _ := statusOf(s, "healthy")
	if !healthyAfter.Established() || !healthyAfter.StateSince.Equal(healthyBefore.StateSince) || healthyAfter.LastError != "" {
		t.Errorf("healthy session disturbed: before %+v, after %+v", healthyBefore, healthyAfter)
	}
}

// TestSpeakerAppliesEachPeerOnItsOwn checks that what gobgp refuses for one peer
// (here a second neighbour at an address already in use, and a prefix of a family
// the session does not carry) is reported for that peer alone, while the other
// peers' sessions and routes are applied, and that the refused peer is applied by a
// later call once the obstacle is gone.
func TestSpeakerAppliesEachPeerOnItsOwn(t *testing.T) {
	router := newTestRouter(t, "127.0.0.2", 64500, routerOptions{})
	s := newTestSpeaker(t, nil)
	ctx := context.Background()
	good := router.peer("good")
	shadow := router.peer("shadow") // same address: gobgp keys neighbours by address
	routes := unfold([]route{{Prefix: pfx("203.0.113.1/32"), Peers: []string{"good", "shadow"}}})
	routes["good"][pfx("2001:db8::1/128")] = bgpspec.Attributes{}
	if err := s.SetRoutes(ctx, routes); err != nil {
		t.Fatalf("SetRoutes() before any session = %v, want nil (routes wait for their sessions)", err)
	}
	failed := FailedPeers(s.SetPeers(ctx, []bgpspec.Peer{shadow, good}))
	if len(failed) != 1 || failed["shadow"] == nil {
		t.Fatalf("SetPeers() failed peers = %v, want shadow (its address is taken)", failed)
	}
	failed = FailedPeers(s.SetRoutes(ctx, routes))
	if len(failed) != 1 || !strings.Contains(fmt.Sprint(failed["good"]), "route 2001:db8::1/128: the session to 127.0.0.2 does not carry this address family") {
		t.Fatalf("SetRoutes() failed peers = %v, want good's IPv6 route named", failed)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		got := router.paths()
		_, ok := got[pfx("203.0.113.1/32")]
		return len(got) == 1 && ok, fmt.Sprintf("router has %v, want 203.0.113.1/32 from the applied peer", got)
	})

	// Without the clash, the refused peer is applied by the next call.
	delete(routes["good"], pfx("2001:db8::1/128"))
	if err := s.SetRoutes(ctx, routes); err != nil {
		t.Fatalf("SetRoutes(IPv4 only) error = %v", err)
	}
	other := newTestRouter(t, "127.0.0.3", 64500, routerOptions{})
	shadow = other.peer("shadow")
	if err := s.SetPeers(ctx, []bgpspec.Peer{shadow, good}); err != nil {
		t.Fatalf("SetPeers(no clash) error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		return len(other.paths()) == 1 && len(router.paths()) == 1, "both routers should have the route"
	})
}

// TestSpeakerMalformedUpdate checks that a peer sending a malformed UPDATE gets a
// NOTIFICATION, the reason shows in Status, the session is retried, and another
// session is untouched. The misbehaving peer is a scripted BGP speaker on loopback.
func TestSpeakerMalformedUpdate(t *testing.T) {
	healthy := newTestRouter(t, "127.0.0.2", 64500, routerOptions{})
	bad := newScriptedPeer(t, "127.0.0.9", 64500)
	s := newTestSpeaker(t, nil)
	ctx := context.Background()
	badPeer := bgpspec.Peer{Name: "bad", MyASN: speakerASN, PeerASN: 64500, Address: bad.addr, Port: bad.port, SourceAddress: ip(speakerAddr), ConnectTime: time.Second}
	if err := s.SetPeers(ctx, []bgpspec.Peer{healthy.peer("healthy"), badPeer}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	waitEstablished(t, s, "healthy")
	healthyBefore, _ := statusOf(s, "healthy")

	// An UPDATE whose withdrawn-routes length runs past the end of the message.
	malformed := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x00, 23, bgpMsgUpdate,
		0xff, 0xff, // withdrawn routes length
		0x00, 0x00, // total path attribute length
	}
	notification := bad.establishAndSend(malformed)
	if len(notification) < 21 || notification[18] != bgpMsgNotification || notification[19] != 3 {
		t.Fatalf("speaker answered % x, want a NOTIFICATION with error code 3 (UPDATE message error)", notification)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		st, _ := statusOf(s, "bad")
		want := "malformed message from the peer: withdrawn route length exceeds message length; NOTIFICATION sent: code 3(update) subcode 1(malformed attribute list)"
		return st.LastError == want, fmt.Sprintf("last error %q, want %q", st.LastError, want)
	})
	bad.expectConnection(20 * time.Second) // the session is retried
	healthyAfter, _ := statusOf(s, "healthy")
	if !healthyAfter.Established() || !healthyAfter.StateSince.Equal(healthyBefore.StateSince) {
		t.Errorf("healthy session disturbed: before %+v, after %+v", healthyBefore, healthyAfter)
	}
}

// TestSpeakerPeerMovesAddress checks that a peer whose address changes is re-created at
// the new address with its routes, and that the old router loses them.
func TestSpeakerPeerMovesAddress(t *testing.T) {
	oldRouter := newTestRouter(t, "127.0.0.2", 64500, routerOptions{})
	newRouter := newTestRouter(t, "127.0.0.3", 64500, routerOptions{})
	s := newTestSpeaker(t, nil)
	ctx := context.Background()
	if err := s.SetPeers(ctx, []bgpspec.Peer{oldRouter.peer("r")}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	if err := s.SetRoutes(ctx, unfold([]route{{Prefix: pfx("203.0.113.1/32"), Peers: []string{"r"}, Communities: []uint32{7}}})); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) { return len(oldRouter.paths()) == 1, "old router has no route" })

	if err := s.SetPeers(ctx, []bgpspec.Peer{newRouter.peer("r")}); err != nil {
		t.Fatalf("SetPeers(moved) error = %v", err)
	}
	want := map[netip.Prefix]receivedPath{pfx("203.0.113.1/32"): {nextHop: ip(speakerAddr), asPath: "64501", communities: []uint32{7}}}
	eventually(t, 15*time.Second, func() (bool, string) {
		got := newRouter.paths()
		return reflect.DeepEqual(got, want), fmt.Sprintf("new router has %+v", got)
	})
	eventually(t, 10*time.Second, func() (bool, string) {
		return !oldRouter.established() && len(oldRouter.paths()) == 0, "old router still has the session or the route"
	})
	waitEstablished(t, s, "r")
	if st, _ := statusOf(s, "r"); st.Address != newRouter.addr || st.AdvertisedPrefixes != 1 {
		t.Errorf("status = %+v, want %s with 1 prefix", st, newRouter.addr)
	}
}
