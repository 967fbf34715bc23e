package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

func TestRestartingOpen(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.1")
	other := netip.MustParseAddr("192.0.2.2")
	tests := []struct {
		name   string
		gr     bool
		opened map[netip.Addr]bool
		want   bool
	}{
		{"first session, graceful restart", true, nil, true},
		{"first session to this address, another dialled", true, map[netip.Addr]bool{other: true}, true},
		{"address dialled before in this process", true, map[netip.Addr]bool{addr: true}, false},
		{"no graceful restart", false, nil, false},
		{"no graceful restart, dialled before", false, map[netip.Addr]bool{addr: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := bgpspec.Peer{Name: "p", Address: addr, GracefulRestart: tt.gr}
			if got := restartingOpen(p, tt.opened); got != tt.want {
				t.Errorf("restartingOpen() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeptForRestart(t *testing.T) {
	tests := []struct {
		gr, restart, want bool
	}{
		{gr: true, restart: true, want: true},
		{gr: true, restart: false, want: false},
		{gr: false, restart: true, want: false},
		{gr: false, restart: false, want: false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("gr=%v,restart=%v", tt.gr, tt.restart), func(t *testing.T) {
			if got := keptForRestart(bgpspec.Peer{GracefulRestart: tt.gr}, tt.restart); got != tt.want {
				t.Errorf("keptForRestart() = %v, want %v", got, tt.want)
			}
		})
	}
}

// The restart time offered is the speaker's (Config.GracefulRestartTime).
func TestNeighborRestartTime(t *testing.T) {
	p := bgpspec.Peer{Name: "p", Address: netip.MustParseAddr("192.0.2.1"), GracefulRestart: true}
	if got := neighborFor(p, "peer-1", 5*time.Second).GracefulRestart.RestartTime; got != 5 {
		t.Errorf("restart time %d s, want 5", got)
	}
	p.GracefulRestart = false
	if gr := neighborFor(p, "peer-1", 5*time.Second).GracefulRestart; gr != nil {
		t.Errorf("graceful restart %+v offered to a peer without it", gr)
	}
}

func TestMarkRestarting(t *testing.T) {
	p := bgpspec.Peer{Name: "p", Address: netip.MustParseAddr("192.0.2.1"), GracefulRestart: true}
	n := neighborFor(p, "peer-1", GracefulRestartTime)
	markRestarting(n)
	if !n.GracefulRestart.LocalRestarting || n.GracefulRestart.DeferralTime != SelectionDeferralTime {
		t.Errorf("markRestarting: %+v, want LocalRestarting and deferral %d", n.GracefulRestart, SelectionDeferralTime)
	}
}

// restartFlags returns the Restart State bit of the graceful restart
// capability the router received and whether every family's Forwarding
// State bit is set.
func restartFlags(t *testing.T, r *testRouter) (restartState, forwarding, found bool) {
	t.Helper()
	for _, c := range r.session().GetState().GetRemoteCap() {
		gr := &api.GracefulRestartCapability{}
		if c.UnmarshalTo(gr) != nil {
			continue
		}
		forwarding = len(gr.Tuples) > 0
		for _, tuple := range gr.Tuples {
			forwarding = forwarding && tuple.Flags&0x80 != 0
		}
		return gr.Flags&0x08 != 0, forwarding, true
	}
	return false, false, false
}

// TestRestartingSpeakerOpensWithRestartState: the first session to a
// graceful-restart peer opens with the Restart State and Forwarding State
// bits and carries the routes set before it; a later session to the same
// address (after a Cease of this process) opens without them.
func TestRestartingSpeakerOpensWithRestartState(t *testing.T) {
	router := newTestRouter(t, "127.0.0.2", 64500, routerOptions{gracefulRestart: true})
	s := newTestSpeaker(t, nil)
	ctx := context.Background()
	p := router.peer("r")
	p.GracefulRestart = true
	routes := []route{
		{Prefix: pfx("203.0.113.1/32"), Peers: []string{"r"}},
		{Prefix: pfx("203.0.113.2/32"), Peers: []string{"r"}},
	}
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	rec := router.recordUpdates()
	if err := s.SetPeers(ctx, []bgpspec.Peer{p}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		return router.established() && len(router.paths()) == 2, fmt.Sprintf("router has %d paths", len(router.paths()))
	})
	if r, f, found := restartFlags(t, router); !found || !r || !f {
		t.Errorf("first session: graceful restart capability found=%v, R=%v, F=%v; want R and F set", found, r, f)
	}
	for _, u := range rec.get() {
		if u.withdraw {
			t.Errorf("the router received a withdrawal of %s", u.prefix)
		}
	}

	if err := s.SetPeers(ctx, nil); err != nil {
		t.Fatalf("SetPeers(nil) error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) { return !router.established(), "session still up" })
	if err := s.SetPeers(ctx, []bgpspec.Peer{p}); err != nil {
		t.Fatalf("SetPeers() again error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		return router.established() && len(router.paths()) == 2, fmt.Sprintf("router has %d paths", len(router.paths()))
	})
	if r, f, found := restartFlags(t, router); !found || r || f {
		t.Errorf("second session: graceful restart capability found=%v, R=%v, F=%v; want neither bit", found, r, f)
	}
}

// TestSpeakerCloseForRestart: a stop followed by a restart leaves the
// graceful-restart peer's session and routes alone (no withdrawal, no
// NOTIFICATION: they end with the process) and withdraws and closes the
// session of a peer without graceful restart.
func TestSpeakerCloseForRestart(t *testing.T) {
	grRouter := newTestRouter(t, "127.0.0.2", 64500, routerOptions{gracefulRestart: true})
	plainRouter := newTestRouter(t, "127.0.0.3", 64501, routerOptions{})
	s := newTestSpeaker(t, nil)
	// The kept sessions end with the process; here, with the test.
	t.Cleanup(s.gobgp.stop)
	ctx := context.Background()
	gr, plain := grRouter.peer("gr"), plainRouter.peer("plain")
	gr.GracefulRestart = true
	routes := []route{
		{Prefix: pfx("203.0.113.1/32"), Peers: []string{"gr", "plain"}},
		{Prefix: pfx("203.0.113.2/32"), Peers: []string{"gr", "plain"}},
	}
	if err := s.SetPeers(ctx, []bgpspec.Peer{gr, plain}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	for _, r := range []*testRouter{grRouter, plainRouter} {
		eventually(t, 15*time.Second, func() (bool, string) { return len(r.paths()) == 2, "routes not received by " + r.addr.String() })
	}
	grUpdates := grRouter.recordUpdates()

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.CloseForRestart(closeCtx); err != nil {
		t.Fatalf("CloseForRestart() error = %v", err)
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		m := plainRouter.session().GetState().GetMessages().GetReceived()
		return m.GetNotification() == 1 && len(plainRouter.paths()) == 0,
			fmt.Sprintf("router without graceful restart received %d NOTIFICATIONs, has %d paths", m.GetNotification(), len(plainRouter.paths()))
	})
	if m := grRouter.session().GetState().GetMessages().GetReceived(); m.GetNotification() != 0 || !grRouter.established() {
		t.Errorf("graceful-restart router: %d NOTIFICATIONs received, established=%v; want its session left alone", m.GetNotification(), grRouter.established())
	}
	if got := grUpdates.get(); len(got) != 0 || len(grRouter.paths()) != 2 {
		t.Errorf("graceful-restart router received %+v and holds %d paths; want nothing sent and both routes kept", got, len(grRouter.paths()))
	}
	if err := s.SetRoutes(ctx, unfold(routes)); err != ErrClosed {
		t.Errorf("SetRoutes after CloseForRestart = %v, want ErrClosed", err)
	}
}

func TestNextGateStep(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	opening := restartGate{opening: a, since: now, waiting: []netip.Addr{b}}
	opened := func(g restartGate, since time.Time) restartGate { g.since = since; return g }
	tests := []struct {
		name  string
		gate  restartGate
		state openingState
		now   time.Time
		want  gateStep
	}{
		{"nothing waits", restartGate{opening: a, since: now}, openingState{exists: true, restarting: true}, now, gateDone},
		{"opening, not established yet", opening, openingState{exists: true, restarting: true}, now, gateWait},
		{"established, not synchronised yet", opening, openingState{exists: true, established: true, restarting: true}, now, gateWait},
		{"synchronised", opening, openingState{exists: true, established: true}, now, gateRelease},
		{"its restart ended before it opened", opening, openingState{exists: true}, now, gateRelease},
		{"removed", opening, openingState{}, now, gateRelease},
		{"nothing opening", restartGate{waiting: []netip.Addr{b}}, openingState{}, now, gateRelease},
		{"opening too long", opened(opening, now.Add(-restartGateWait)), openingState{exists: true, restarting: true}, now, gateRelease},
		{"opening, just under the bound", opened(opening, now.Add(-restartGateWait+time.Millisecond)), openingState{exists: true, restarting: true}, now, gateWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextGateStep(tt.gate, tt.state, tt.now); got != tt.want {
				t.Errorf("nextGateStep() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRestartGateGated(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	var g restartGate
	if g.gated(a, now) {
		t.Error("the first restarting neighbour waits; want it opening")
	}
	if !g.gated(b, now) || !g.gated(c, now) {
		t.Error("later restarting neighbours open at once; want them waiting")
	}
	if g.opening != a || !g.since.Equal(now) || len(g.waiting) != 2 || g.waiting[0] != b || g.waiting[1] != c {
		t.Errorf("gate = %+v, want %s opening and %s, %s waiting in order", g, a, b, c)
	}
}
