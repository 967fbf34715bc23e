package speaker

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/members"
)

// startHarness runs awaitReadyToAnswer in the background.
type startHarness struct {
	started chan struct{}
	failed  chan error
	updates chan k8s.ConfigUpdate
	seen    chan k8s.ConfigUpdate // every update passed to onUpdate
	done    chan startResult
}

type startResult struct {
	cfg *config.Config
	err error
}

func newStartHarness(ctx context.Context, lastGood *config.Config) *startHarness {
	h := &startHarness{
		started: make(chan struct{}), failed: make(chan error, 1), updates: make(chan k8s.ConfigUpdate),
		seen: make(chan k8s.ConfigUpdate, 10), done: make(chan startResult, 1),
	}
	go func() {
		cfg, err := awaitReadyToAnswer(ctx, h.started, h.failed, h.updates, func(u k8s.ConfigUpdate) { h.seen <- u }, lastGood)
		h.done <- startResult{cfg, err}
	}()
	return h
}

// sendWhileWaiting hands over an update, failing the test if the wait
// returned before taking it: the update channel is unbuffered, so a wait
// that returned early leaves only done ready.
func (h *startHarness) sendWhileWaiting(t *testing.T, u k8s.ConfigUpdate) {
	t.Helper()
	select {
	case h.updates <- u:
	case r := <-h.done:
		t.Fatalf("the speaker became ready (config %p, err %v) before it could answer", r.cfg, r.err)
	}
}

var (
	validConfig   = &config.Config{}
	refusedUpdate = k8s.ConfigUpdate{Err: errors.New("IPAddressPool metallb-system/a: spec.addresses[0]: bad")}
)

func TestSpeakerDoesNotJoinBeforeAValidConfiguration(t *testing.T) {
	h := newStartHarness(t.Context(), nil)
	h.sendWhileWaiting(t, refusedUpdate)
	close(h.started)
	h.sendWhileWaiting(t, refusedUpdate) // responders up, configuration still refused
	h.sendWhileWaiting(t, k8s.ConfigUpdate{Config: validConfig})
	r := <-h.done
	if r.err != nil || r.cfg != validConfig {
		t.Fatalf("awaitReadyToAnswer = %p, %v; want the valid configuration", r.cfg, r.err)
	}
	if len(h.seen) != 3 {
		t.Errorf("%d updates reported, want all 3 (refusals must reach ConfigurationState while waiting)", len(h.seen))
	}
}

func TestSpeakerRestartedDuringARefusalServesTheLastGoodConfiguration(t *testing.T) {
	lastGood := &config.Config{}
	h := newStartHarness(t.Context(), lastGood)
	close(h.started)
	h.sendWhileWaiting(t, refusedUpdate)
	if r := <-h.done; r.err != nil || r.cfg != lastGood {
		t.Fatalf("awaitReadyToAnswer = %p, %v; want the last good configuration of the earlier run", r.cfg, r.err)
	}

	h = newStartHarness(t.Context(), lastGood)
	h.sendWhileWaiting(t, refusedUpdate)
	h.sendWhileWaiting(t, k8s.ConfigUpdate{Config: validConfig}) // before the responders start
	close(h.started)
	if r := <-h.done; r.err != nil || r.cfg != validConfig {
		t.Fatalf("awaitReadyToAnswer = %p, %v; want the valid configuration over the saved one", r.cfg, r.err)
	}
}

func TestSpeakerDoesNotJoinBeforeItsRespondersStart(t *testing.T) {
	h := newStartHarness(t.Context(), nil)
	h.sendWhileWaiting(t, k8s.ConfigUpdate{Config: &config.Config{}})
	h.sendWhileWaiting(t, k8s.ConfigUpdate{Config: validConfig}) // still waiting for the responders
	close(h.started)
	if r := <-h.done; r.err != nil || r.cfg != validConfig {
		t.Fatalf("awaitReadyToAnswer = %p, %v; want the latest valid configuration", r.cfg, r.err)
	}
}

func TestSpeakerStopsWhenItsRespondersFail(t *testing.T) {
	h := newStartHarness(t.Context(), nil)
	h.failed <- errors.New("listing interfaces: permission denied")
	if r := <-h.done; r.err == nil || r.cfg != nil {
		t.Fatalf("awaitReadyToAnswer = %p, %v; want the responders' error", r.cfg, r.err)
	}
}

func TestSpeakerStoppedWhileStarting(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	h := newStartHarness(ctx, nil)
	h.sendWhileWaiting(t, refusedUpdate)
	cancel()
	if r := <-h.done; r.err != nil || r.cfg != nil {
		t.Fatalf("awaitReadyToAnswer = %p, %v; want nothing", r.cfg, r.err)
	}
}

func TestPeersOf(t *testing.T) {
	node := func(name string, ips ...string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for _, ip := range ips {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
		}
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: name})
		return n
	}
	got := peersOf([]*corev1.Node{node("self", "10.0.0.1"), node("b", "10.0.0.2", "fd00::2"), node("c")}, "self", 7946, map[string]bool{"b": true, "self": true})
	want := []members.Peer{{Name: "b", Addrs: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:7946"), netip.MustParseAddrPort("[fd00::2]:7946")}, Running: true}, {Name: "c"}}
	if !slices.EqualFunc(got, want, func(a, b members.Peer) bool {
		return a.Name == b.Name && slices.Equal(a.Addrs, b.Addrs) && a.Running == b.Running
	}) {
		t.Errorf("peersOf = %v, want %v", got, want)
	}
}
