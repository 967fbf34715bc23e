package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgpspec"
)

var fastBFD = bgpspec.BFD{Profile: "fast", ReceiveInterval: 30 * time.Millisecond, TransmitInterval: 30 * time.Millisecond, DetectMultiplier: 3}

// Only the BFD sessions that are new or changed are set; those no peer asks
// for go; peers without BFD have none.
func TestPlanBFD(t *testing.T) {
	a, b, c := ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3")
	slow := fastBFD
	slow.TransmitInterval = time.Second
	peer := func(name string, addr netip.Addr, prof bgpspec.BFD) bgpspec.Peer {
		return bgpspec.Peer{Name: name, Address: addr, BFD: prof}
	}
	applied := map[netip.Addr]bfd.SessionSpec{
		a: bfdSpec(fastBFD, netip.Addr{}),
		b: bfdSpec(fastBFD, netip.Addr{}),
		c: bfdSpec(fastBFD, netip.Addr{}),
	}
	set, remove := planBFD(applied, []bgpspec.Peer{
		peer("a", a, fastBFD),       // unchanged
		peer("b", b, slow),          // changed profile
		peer("c", c, bgpspec.BFD{}), // BFD removed
		peer("d", ip("192.0.2.4"), fastBFD),
		peer("e", ip("192.0.2.4"), slow), // same address as d: d's session
	})
	wantSet := []bfdWant{
		{name: "b", addr: b, spec: bfdSpec(slow, netip.Addr{})},
		{name: "d", addr: ip("192.0.2.4"), spec: bfdSpec(fastBFD, netip.Addr{})},
	}
	if !reflect.DeepEqual(set, wantSet) || !reflect.DeepEqual(remove, []netip.Addr{c}) {
		t.Fatalf("planBFD = %+v, %v; want %+v, [%s]", set, remove, wantSet, c)
	}
	if got := bfdSpec(slow, a); got.MinTTL != 255 || got.DesiredMinTx != time.Second || got.RequiredMinRx != 30*time.Millisecond || got.DetectMult != 3 || got.Source != a {
		t.Fatalf("bfdSpec = %+v", got)
	}
}

// A BGP peer with BFD: the BFD session comes Up next to the BGP session; a
// changed BFDProfile applies without touching the BGP session; when the
// router's BFD goes silent, the speaker resets the BGP session and the
// router drops the routes it learnt on it.
func TestSpeakerBFDFailureResetsSession(t *testing.T) {
	router := newTestRouter(t, "127.0.0.2", 64500, routerOptions{})
	bfdPort := freeUDPPort(t)
	routerBFD, err := bfd.Listen(bfd.Options{ListenAddrs: []netip.Addr{router.addr}, Port: bfdPort, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stopRouterBFD := runRouterBFD(t, routerBFD)
	ctx := context.Background()
	routerSpec := bfd.SessionSpec{Config: bfd.Config{DesiredMinTx: 30 * time.Millisecond, RequiredMinRx: 30 * time.Millisecond, DetectMult: 3}, Source: router.addr, MinTTL: 255}
	if err := routerBFD.Set(ctx, ip(speakerAddr), routerSpec); err != nil {
		t.Fatal(err)
	}

	s, err := New(ctx, Config{RouterID: ip("10.255.0.1"), Logger: testLogger(t),
		BFDListenAddrs: []netip.Addr{ip(speakerAddr)}, BFDPort: bfdPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	p := router.peer("r")
	p.BFD = fastBFD
	if err := s.SetPeers(ctx, []bgpspec.Peer{p}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	if err := s.SetRoutes(ctx, unfold([]route{{Prefix: pfx("203.0.113.1/32"), Peers: []string{"r"}}})); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	waitEstablished(t, s, "r")
	eventually(t, 15*time.Second, func() (bool, string) { return len(router.paths()) == 1, "route not received" })
	waitBFD(t, s, "r", func(st BFDStatus) bool { return st.State == bfd.StateUp })

	// A slower profile is applied in place: BFD stays Up, BGP is not reset.
	slower := fastBFD
	slower.TransmitInterval = 60 * time.Millisecond
	p.BFD = slower
	if err := s.SetPeers(ctx, []bgpspec.Peer{p}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	waitBFD(t, s, "r", func(st BFDStatus) bool { return st.TxInterval == 60*time.Millisecond })
	if st, _ := statusOf(s, "r"); !st.Established() || st.LastError != "" {
		t.Fatalf("BGP session after a BFDProfile change: %+v, want established without error", st)
	}
	if all, _ := s.BFDStatus(ctx); all[0].UpEvents != 1 || all[0].DownEvents != 0 {
		t.Fatalf("BFD session flapped on a profile change: %+v", all[0])
	}

	stopRouterBFD()
	eventually(t, 10*time.Second, func() (bool, string) {
		st, _ := statusOf(s, "r")
		return strings.Contains(st.LastError, "BFD session down: control detection time expired") && len(router.paths()) == 0,
			fmt.Sprintf("speaker status %+v, router paths %v", st, router.paths())
	})
}

// waitBFD waits until the named peer's BFD session satisfies cond.
func waitBFD(t *testing.T, s *Speaker, name string, cond func(BFDStatus) bool) {
	t.Helper()
	eventually(t, 15*time.Second, func() (bool, string) {
		all, err := s.BFDStatus(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, st := range all {
			if st.Name == name && cond(st) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("BFD sessions %+v", all)
	})
}

// runRouterBFD runs the test router's BFD until the test ends or stop is
// called (a router gone silent).
func runRouterBFD(t *testing.T, routerBFD *bfd.Conn) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { routerBFD.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// freeUDPPort returns a UDP port free on the loopback addresses.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.LocalAddr().(*net.UDPAddr).Port
}

// Close ends the BFD sessions with AdminDown: the router's session goes
// Down with "neighbor signaled session down" and its remote state AdminDown,
// which RFC 5882 §3.2 says is no path failure.
func TestSpeakerCloseTellsBFDPeersAdminDown(t *testing.T) {
	router := newTestRouter(t, "127.0.0.2", 64500, routerOptions{})
	bfdPort := freeUDPPort(t)
	changes := make(chan bfd.Status, 16)
	routerUp := make(chan struct{}, 16)
	routerBFD, err := bfd.Listen(bfd.Options{ListenAddrs: []netip.Addr{router.addr}, Port: bfdPort, Logger: testLogger(t),
		OnChange: func(_ netip.Addr, from bfd.State, st bfd.Status) {
			if st.State == bfd.StateUp {
				routerUp <- struct{}{}
			}
			if from == bfd.StateUp {
				changes <- st
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	runRouterBFD(t, routerBFD)
	ctx := context.Background()
	if err := routerBFD.Set(ctx, ip(speakerAddr), bfd.SessionSpec{Config: bfd.Config{DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond, DetectMult: 5}, Source: router.addr, MinTTL: 255}); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Config{RouterID: ip("10.255.0.1"), Logger: testLogger(t), BFDListenAddrs: []netip.Addr{ip(speakerAddr)}, BFDPort: bfdPort})
	if err != nil {
		t.Fatal(err)
	}
	p := router.peer("r")
	// Half a second of detection on both sides: a loaded machine must not
	// take the sessions down before Close does.
	p.BFD = bgpspec.BFD{Profile: "steady", ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 100 * time.Millisecond, DetectMultiplier: 5}
	if err := s.SetPeers(ctx, []bgpspec.Peer{p}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	waitBFD(t, s, "r", func(st BFDStatus) bool { return st.State == bfd.StateUp })
	// The speaker's side is Up on the router's Init; the router's only once
	// the speaker's Up reaches it. Close before that would leave nothing Up.
	select {
	case <-routerUp:
	case <-time.After(10 * time.Second):
		t.Fatal("the router's BFD session did not come Up")
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	select {
	case st := <-changes:
		if st.RemoteState != bfd.StateAdminDown || st.Diag != bfd.DiagNeighborSignaledSessionDown || bfd.PathFailed(bfd.StateUp, st) {
			t.Fatalf("router's session after Close: %+v, want Down because the speaker went AdminDown", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the router's BFD session did not leave Up after Close")
	}
}

// A BFD port that cannot be opened fails only the peers that use BFD, as a
// *PeerError naming them; their BGP sessions come up without BFD, and the
// next SetPeers tries BFD again.
func TestSpeakerBFDPortTaken(t *testing.T) {
	router := newTestRouter(t, "127.0.0.2", 64500, routerOptions{})
	plain := newTestRouter(t, "127.0.0.3", 64500, routerOptions{})
	bfdPort := freeUDPPort(t)
	taken, err := net.ListenPacket("udp4", netip.AddrPortFrom(ip(speakerAddr), uint16(bfdPort)).String())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := New(ctx, Config{RouterID: ip("10.255.0.1"), Logger: testLogger(t),
		BFDListenAddrs: []netip.Addr{ip(speakerAddr)}, BFDPort: bfdPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	withBFD := router.peer("r")
	withBFD.BFD = fastBFD
	peers := []bgpspec.Peer{withBFD, plain.peer("plain")}
	failed := FailedPeers(s.SetPeers(ctx, peers))
	if len(failed) != 1 || failed["r"] == nil || !strings.Contains(failed["r"].Error(), "starting BFD") {
		t.Fatalf("SetPeers failed peers = %v, want r only, for BFD", failed)
	}
	waitEstablished(t, s, "r", "plain")

	_ = taken.Close()
	if err := s.SetPeers(ctx, peers); err != nil {
		t.Fatalf("SetPeers() once the port is free: %v", err)
	}
	all, err := s.BFDStatus(ctx)
	if err != nil || len(all) != 1 || all[0].Name != "r" {
		t.Fatalf("BFD sessions %+v, %v; want one, to r", all, err)
	}
}
