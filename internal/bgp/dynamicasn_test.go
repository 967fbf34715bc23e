package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// A peer without PeerASN (dynamicASN external) takes any AS but its own;
// other peers refuse nothing here (gobgp checks their AS in the OPEN).
func TestRefusal(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		name        string
		peerASN     uint32
		routerAS    uint32
		wantRefused bool
	}{
		{"dynamic external, router in another AS", 0, 64500, false},
		{"dynamic external, router in our AS", 0, 64512, true},
		{"fixed eBGP AS", 64500, 64500, false},
		{"iBGP (dynamicASN internal)", 64512, 64512, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			book := newStatusBook()
			book.track(bgpspec.Peer{Name: "p", MyASN: 64512, PeerASN: tc.peerASN, Address: addr}, time.Now())
			reason, communication, refused := book.refusal(addr, tc.routerAS)
			if refused != tc.wantRefused {
				t.Fatalf("refusal(AS %d) = %q, %v; want refused %v", tc.routerAS, reason, refused, tc.wantRefused)
			}
			if refused && (!strings.HasPrefix(reason, communication) || communication != "dynamicASN external: the router is in AS 64512, ours") {
				t.Errorf("reason %q, NOTIFICATION text %q: want them to say why", reason, communication)
			}
		})
	}
	book := newStatusBook()
	if _, _, refused := book.refusal(addr, 64512); refused {
		t.Error("an unknown neighbour is refused")
	}
	book.track(bgpspec.Peer{Name: "p", MyASN: 64512, Address: addr}, time.Now())
	book.rename(bgpspec.Peer{Name: "p", MyASN: 64512, PeerASN: 64512, Address: addr})
	if _, _, refused := book.refusal(addr, 64512); refused {
		t.Error("a peer changed in place to dynamicASN internal is still refused")
	}
}

// dynamicExternalPeer is the IPv4 session to the lab's BIRD without its AS.
func dynamicExternalPeer(lab *birdLab) bgpspec.Peer {
	return bgpspec.Peer{Name: "bird4", MyASN: speakerASN, Address: ip(lab.birdV4), SourceAddress: ip(lab.hostV4), ConnectTime: time.Second}
}

// dynamicASN external against BIRD 2 in another AS: the session comes up
// with BIRD's AS taken from its OPEN, and BIRD installs the route.
func TestDynamicExternalWithBIRD(t *testing.T) {
	lab := newBirdLab(t)
	s := newTestSpeaker(t, nil)
	ctx := context.Background()
	if err := s.SetPeers(ctx, []bgpspec.Peer{dynamicExternalPeer(lab)}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	if err := s.SetRoutes(ctx, unfold([]route{{Prefix: pfx("203.0.113.10/32"), Peers: []string{"bird4"}}})); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		r := lab.kernelRoute("203.0.113.10/32")
		return strings.Contains(r, "via "+lab.hostV4) && strings.Contains(r, "proto bird"), fmt.Sprintf("kernel route %q; status %+v", r, s.Status())
	})
	if out := lab.birdc("show", "route", "all", "203.0.113.10/32"); !strings.Contains(out, fmt.Sprintf("BGP.as_path: %d", speakerASN)) {
		t.Errorf("BIRD's route is not an eBGP route from AS %d:\n%s", speakerASN, out)
	}
}

// dynamicASN external against BIRD 2 in our own AS: the session is closed
// once BIRD's OPEN shows it iBGP, and stays closed with the reason in its
// status.
func TestDynamicExternalRefusesOwnAS(t *testing.T) {
	lab := newBirdLab(t)
	_ = lab.birdCmd.Process.Kill() // the PID we started; restarted in our AS
	<-lab.birdDone
	lab.birdASN = speakerASN
	lab.startBird()
	s := newTestSpeaker(t, nil)
	if err := s.SetPeers(context.Background(), []bgpspec.Peer{dynamicExternalPeer(lab)}); err != nil {
		t.Fatalf("SetPeers() error = %v", err)
	}
	refused := func() (bool, string) {
		st, _ := statusOf(s, "bird4")
		// The reason, or gobgp's record of the NOTIFICATION carrying its start.
		return !st.Established() && strings.Contains(st.LastError, fmt.Sprintf("dynamicASN external: the router is in AS %d, ours", speakerASN)), fmt.Sprintf("status %+v", st)
	}
	eventually(t, 20*time.Second, refused)
	// Disabled, not retried: after several connect times it is still down.
	time.Sleep(3 * time.Second)
	if ok, why := refused(); !ok {
		t.Errorf("the refused session came back: %s", why)
	}
}
