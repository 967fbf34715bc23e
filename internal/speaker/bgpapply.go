package speaker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgp"
)

// Backoff of BGP retries: a peer or route that failed is tried again after
// minBGPRetry, then twice as long each time it fails again, at most
// maxBGPRetry.
const (
	minBGPRetry = time.Second
	maxBGPRetry = time.Minute
)

// ReasonBGPPeerNotApplied is the reason of the Warning Event written on a
// BGPPeer that a speaker leaves out, serves in part or fails to apply.
const ReasonBGPPeerNotApplied = "BGPPeerNotApplied"

// bgpApply is what the speaker knows of its BGP shell: the plan it last
// handed over, the peers that failed in it, and what it last reported.
type bgpApply struct {
	speaker  *bgp.Speaker
	applied  announce.BGPPlan
	failed   map[string]error
	backoff  time.Duration
	retry    *time.Timer
	reported map[string]string // peer → problem last reported
}

// applyBGP hands the BGP plan to the shell, peer by peer: a peer that
// fails leaves the others applied. What failed is retried with backoff and
// reported (log, ConfigurationState, an Event on the BGPPeer) together with
// the plan's own problems. It returns the plan as applied: the services'
// peers without the failed ones, which is what the status objects and
// metrics show.
func (s *Speaker) applyBGP(ctx context.Context, desired announce.BGPPlan) announce.BGPPlan {
	b := &s.bgpState
	failed := map[string]error{}
	switch {
	case b.speaker == nil && len(desired.Peers) == 0:
	case b.speaker == nil:
		if err := s.startBGP(ctx, desired.RouterID); err != nil {
			for _, p := range desired.Peers {
				failed[p.Name] = fmt.Errorf("starting BGP: %w", err)
			}
			break
		}
		fallthrough
	default:
		failed = s.setBGP(ctx, desired, len(b.failed) > 0)
	}
	b.applied, b.failed = desired, failed
	s.scheduleBGPRetry(len(failed) > 0)
	s.reportBGPProblems(ctx, peerProblems(desired, failed))
	desired.Services = withoutFailedPeers(desired.Services, failed)
	return desired
}

// setBGP applies what changed since the last plan, or everything again when
// the last one failed somewhere, and returns the failures by peer.
func (s *Speaker) setBGP(ctx context.Context, desired announce.BGPPlan, retry bool) map[string]error {
	b := &s.bgpState
	failed := map[string]error{}
	everyPeer := func(err error) {
		for _, p := range desired.Peers {
			failed[p.Name] = errors.Join(failed[p.Name], err)
		}
	}
	collect := func(err error) {
		byPeer := bgp.FailedPeers(err)
		for name, perr := range byPeer {
			failed[name] = errors.Join(failed[name], perr)
		}
		if err != nil && len(byPeer) == 0 {
			everyPeer(err)
		}
	}
	if len(desired.Peers) > 0 {
		if err := b.speaker.SetRouterID(ctx, desired.RouterID); err != nil {
			everyPeer(fmt.Errorf("router ID %s: %w", desired.RouterID, err))
		}
	}
	routesChanged := retry || !reflect.DeepEqual(desired.Routes, b.applied.Routes)
	if routesFirst(b.applied, desired) {
		// Only stored: no session exists yet. SetPeers then puts each new
		// session's routes in place before dialling.
		collect(b.speaker.SetRoutes(ctx, desired.Routes))
	}
	if retry || !reflect.DeepEqual(desired.Peers, b.applied.Peers) {
		collect(b.speaker.SetPeers(ctx, desired.Peers))
		s.bgpMetrics.setPeers(desired.Peers)
	}
	if routesChanged {
		// Again after SetPeers, which leaves out routes a session cannot
		// carry without reporting them: this call reports them.
		collect(b.speaker.SetRoutes(ctx, desired.Routes))
	}
	return failed
}

// routesFirst reports whether the routes of desired go to the shell before
// its peers: when the first peers arrive, so that every first session opens
// with its whole table. A restarting speaker must not open a session with a
// part of it: the End-of-RIB after its first UPDATEs makes a
// graceful-restart router drop the stale routes they did not renew.
func routesFirst(applied, desired announce.BGPPlan) bool {
	return len(applied.Peers) == 0 && len(desired.Peers) > 0
}

// scheduleBGPRetry plans the next attempt after a failure, backing off, or
// forgets the backoff after a success.
func (s *Speaker) scheduleBGPRetry(failed bool) {
	b := &s.bgpState
	if b.retry != nil {
		b.retry.Stop()
		b.retry = nil
	}
	if !failed {
		b.backoff = 0
		return
	}
	b.backoff = nextBGPRetry(b.backoff)
	b.retry = time.AfterFunc(b.backoff, func() { s.signal(true) })
}

// nextBGPRetry doubles the wait before the next attempt, from minBGPRetry to
// maxBGPRetry.
func nextBGPRetry(last time.Duration) time.Duration {
	return min(max(2*last, minBGPRetry), maxBGPRetry)
}

// peerProblems returns, by BGPPeer name, why the node leaves it out or
// serves it in part: the plan's problems, then what failed to apply.
func peerProblems(plan announce.BGPPlan, failed map[string]error) map[string]string {
	out := map[string]string{}
	for _, p := range plan.Problems {
		out[p.Peer] = p.Reason
	}
	for name, err := range failed {
		text := "not applied (retrying): " + strings.ReplaceAll(err.Error(), "\n", "; ")
		if out[name] != "" {
			text = out[name] + "; " + text
		}
		out[name] = text
	}
	return out
}

// withoutFailedPeers returns services with the failed peers left out of
// each service's peers, and services left without peers dropped.
func withoutFailedPeers(services map[string]announce.AdvertisedService, failed map[string]error) map[string]announce.AdvertisedService {
	if len(failed) == 0 {
		return services
	}
	out := make(map[string]announce.AdvertisedService, len(services))
	for key, svc := range services {
		svc.Peers = slices.DeleteFunc(slices.Clone(svc.Peers), func(peer string) bool { return failed[peer] != nil })
		if len(svc.Peers) > 0 {
			out[key] = svc
		}
	}
	return out
}

// reportBGPProblems logs each new or changed problem, writes a Warning
// Event on its BGPPeer, and hands the whole list to the ConfigurationState.
func (s *Speaker) reportBGPProblems(ctx context.Context, problems map[string]string) {
	b := &s.bgpState
	if maps.Equal(problems, b.reported) {
		return
	}
	lines := make([]string, 0, len(problems))
	for _, name := range slices.Sorted(maps.Keys(problems)) {
		text := problems[name]
		lines = append(lines, fmt.Sprintf("BGPPeer %s: %s", name, text))
		if b.reported[name] == text {
			continue
		}
		s.log.Error("BGP peer not applied as configured", "peer", name, "problem", text)
		s.recorder.Event(s.bgpPeerRef(ctx, name), corev1.EventTypeWarning, ReasonBGPPeerNotApplied,
			fmt.Sprintf("node %s: %s", s.opts.NodeName, text))
	}
	for name := range b.reported {
		if _, still := problems[name]; !still {
			s.log.Info("BGP peer applied as configured", "peer", name)
		}
	}
	b.reported = problems
	if s.configState != nil {
		s.configState.ReportPeers(lines)
	}
}

// bgpPeerRef refers to a BGPPeer for an Event, with its UID when the API
// server tells it (kubectl describe shows only Events that carry it).
func (s *Speaker) bgpPeerRef(ctx context.Context, name string) *corev1.ObjectReference {
	ref := &corev1.ObjectReference{APIVersion: v1beta2.GroupVersion.String(), Kind: "BGPPeer", Namespace: s.opts.Namespace, Name: name}
	peer := &v1beta2.BGPPeer{}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.clients.MetalLBv1beta2.Get().Namespace(s.opts.Namespace).Resource("bgppeers").Name(name).Do(ctx).Into(peer); err == nil {
		ref.UID, ref.ResourceVersion = peer.UID, peer.ResourceVersion
	}
	return ref
}

// startBGP starts the BGP shell with the node's router ID.
func (s *Speaker) startBGP(ctx context.Context, routerID netip.Addr) error {
	speaker, err := bgp.New(ctx, bgp.Config{
		RouterID: routerID,
		Logger:   s.log.With("component", "bgp"),
		OnStateChange: func(st bgp.PeerStatus) {
			s.log.Info("BGP session state", "peer", st.Name, "state", st.State.String(), "lastError", st.LastError)
			s.bgpMetrics.observe(st)
		},
		OnBFDStateChange: func(st bgp.BFDStatus) {
			s.opts.Metrics.BFD.SessionState(st.Address.String(), st.State == bfd.StateUp)
		},
	})
	if err != nil {
		return err
	}
	s.bgpState.speaker = speaker
	// ctx is one plan's (it has a deadline); the polling lasts as long as
	// Run.
	go s.pollBGPStatus(s.runDone)
	return nil
}
