package speaker

import (
	"errors"
	"maps"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/announce"
)

func TestPeerProblemsJoinPlanAndFailures(t *testing.T) {
	plan := announce.BGPPlan{Problems: []announce.PeerProblem{
		{Peer: "a", Reason: "dualStackAddressFamily: no IPv6"},
		{Peer: "b", Refused: true, Reason: "routerID differs"},
	}}
	failed := map[string]error{"a": errors.New("adding session: boom\nsecond line"), "c": errors.New("route x: refused")}
	want := map[string]string{
		"a": "dualStackAddressFamily: no IPv6; not applied (retrying): adding session: boom; second line",
		"b": "routerID differs",
		"c": "not applied (retrying): route x: refused",
	}
	if got := peerProblems(plan, failed); !maps.Equal(got, want) {
		t.Errorf("peerProblems() =\n%v\nwant\n%v", got, want)
	}
	if got := peerProblems(announce.BGPPlan{}, nil); len(got) != 0 {
		t.Errorf("peerProblems(nothing) = %v, want none", got)
	}
}

func TestWithoutFailedPeers(t *testing.T) {
	ip := netip.MustParseAddr("203.0.113.1")
	services := map[string]announce.AdvertisedService{
		"default/both": {IPs: []netip.Addr{ip}, Peers: []string{"bad", "good"}},
		"default/bad":  {IPs: []netip.Addr{ip}, Peers: []string{"bad"}},
	}
	got := withoutFailedPeers(services, map[string]error{"bad": errors.New("x")})
	want := map[string]announce.AdvertisedService{"default/both": {IPs: []netip.Addr{ip}, Peers: []string{"good"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("withoutFailedPeers() = %+v, want %+v", got, want)
	}
	if services["default/both"].Peers[0] != "bad" {
		t.Error("withoutFailedPeers changed its input")
	}
}

func TestNextBGPRetryBacksOff(t *testing.T) {
	var waits []time.Duration
	var last time.Duration
	for range 8 {
		last = nextBGPRetry(last)
		waits = append(waits, last)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	if !reflect.DeepEqual(waits, want) {
		t.Errorf("waits = %v, want %v", waits, want)
	}
}
