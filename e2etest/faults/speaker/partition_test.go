package speaker

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/members"
)

// blockDuration is how long the fault table's partition lasts.
const blockDuration = 30 * time.Second

// TestBlockedMemberlistPortThenHeal blocks TCP and UDP 7946 for 30 s on one
// node, then heals, recording which nodes answer ARP for a Service's
// address throughout (an ARP request from the client every 100 ms) and the
// client's and the router's neighbour entries after the heal.
//
//   - On a non-owner: the owner alone answers, during the block and after
//     (the cut-off speaker has no quorum and takes nothing over).
//   - On the owner: the two others, a majority, take the address over; the
//     cut-off owner, without quorum, gives it up once the API server shows
//     the new owner's ServiceL2Status (two answerers for about a second,
//     measured here, instead of until the heal). After the heal the owner
//     is elected again and announces the address, so both neighbour
//     entries name it.
//
// Both cases require the speakers to rejoin and the neighbour entries to
// name the owner after the heal, and only the owner to answer from then on.
func TestBlockedMemberlistPortThenHeal(t *testing.T) {
	l := setup(t)
	ip := createService(t, l, "partition")
	for _, tc := range []struct {
		name    string
		onOwner bool
	}{{"non-owner", false}, {"owner", true}} {
		t.Run(tc.name, func(t *testing.T) {
			waitMembers(t, l)
			owner := waitSingleAnswerer(t, l, ip)
			cut := nodeIndex(t, l, owner)
			if !tc.onOwner {
				cut = cut%l.NodeCount() + 1
			}
			blockAndHeal(t, l, ip, owner, cut)
		})
	}
}

// blockAndHeal runs one partition of node cut while owner answers for ip.
func blockAndHeal(t *testing.T, l *lab.Lab, ip netip.Addr, owner string, cut int) {
	ctx := t.Context()
	cutName := l.Node(cut).Name
	neighborEntries(ctx, l, ip)
	lab.Eventually(t, 5*time.Second, "client and router resolve "+ip.String()+" to "+owner, func() error {
		return wantNeighbors(l, ip, owner)
	})
	tl := startTimeline(t, l, ip)
	time.Sleep(time.Second)

	blocked := time.Now()
	l.BlockMemberlist(t, cut, "-I")
	time.Sleep(blockDuration)
	during := tl.summarize(blocked, time.Now())
	clientDuring, routerDuring, _ := neighborsOf(l, ip)
	l.BlockMemberlist(t, cut, "-D")
	healed := time.Now()

	var rejoined, right time.Time
	deadline := healed.Add(30 * time.Second)
	for (rejoined.IsZero() || right.IsZero()) && time.Now().Before(deadline) {
		if rejoined.IsZero() && l.EverySpeakerSeesAll(ctx) == nil {
			rejoined = time.Now()
		}
		if right.IsZero() && wantNeighbors(l, ip, owner) == nil {
			right = time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	tl.stop()
	after := tl.summarize(healed, time.Now())
	t.Logf("%s cut off %v: during the block: %s; neighbour entries at its end: client %q, router %q",
		cutName, blockDuration, during.describe(blocked), clientDuring, routerDuring)
	t.Logf("after the heal: speakers rejoined after %v, client and router entries name %s after %v; %s",
		since(healed, rejoined), owner, since(healed, right), after.describe(healed))
	if rejoined.IsZero() || right.IsZero() {
		t.Fatalf("30 s after the heal: rejoined %v, neighbour entries right %v (%v)", !rejoined.IsZero(), !right.IsZero(), wantNeighbors(l, ip, owner))
	}
	settled := tl.summarize(right.Add(time.Second), time.Now())
	if others := settled.others(owner); len(others) > 0 {
		t.Errorf("after the heal, once the entries named %s, %v still answered: %s", owner, others, settled.describe(healed))
	}
	if cut != nodeIndex(t, l, owner) {
		if others := during.others(owner); len(others) > 0 {
			t.Errorf("%v answered while the non-owner %s was cut off: %s", others, cutName, during.describe(blocked))
		}
		return
	}
	// The cut-off owner gives the address up once it lost quorum and the
	// majority's new owner has written its ServiceL2Status: within
	// cutOffYieldBound of the block.
	if late := tl.summarize(blocked.Add(cutOffYieldBound()), blocked.Add(blockDuration)); late.twoAnswerers > 0 || len(late.byNode) != 1 {
		t.Errorf("later in the block, the address still had two answerers or none: %s", late.describe(blocked))
	}
}

// since returns how long after t0 t came, or -1 when it never did.
func since(t0, t time.Time) time.Duration {
	if t.IsZero() {
		return -1
	}
	return t.Sub(t0).Round(10 * time.Millisecond)
}

// wantNeighbors reports nil when both the client's and the router's
// neighbour entries for ip name node.
func wantNeighbors(l *lab.Lab, ip netip.Addr, node string) error {
	client, router, err := neighborsOf(l, ip)
	if err != nil {
		return err
	}
	if got := []string{client, router}; !slices.Equal(got, []string{node, node}) {
		return fmt.Errorf("client's entry names %q, router's %q; want %s", client, router, node)
	}
	return nil
}

// cutOffYieldBound is how long into a block the cut-off owner may still
// answer. It loses quorum once its suspicions of the others run out; with
// nobody left to confirm them they last memberlist's longest suspicion
// timeout (its SuspicionMaxTimeoutMult, 6, times SuspicionMult probe
// intervals: 9 s with the shipped timing, 1.8 s with the fast one). It then
// reads the majority's claim within a second; the rest is margin.
func cutOffYieldBound() time.Duration {
	cfg := members.DefaultConfig()
	return 6*time.Duration(cfg.SuspicionMult)*cfg.ProbeInterval + 2*cfg.ProbeInterval + 2*time.Second
}
