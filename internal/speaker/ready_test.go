package speaker

import (
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgp"
)

func TestBGPSettled(t *testing.T) {
	established := bgp.PeerStatus{Name: "router", State: bgp.SessionEstablished, AdvertisedPrefixes: 2, UpdatesSent: 1}
	withdrawnOnly := bgp.PeerStatus{Name: "router", State: bgp.SessionEstablished}
	unsent := bgp.PeerStatus{Name: "router", State: bgp.SessionEstablished, AdvertisedPrefixes: 2}
	connecting := bgp.PeerStatus{Name: "other", State: bgp.SessionActive}
	for _, tc := range []struct {
		name     string
		statuses []bgp.PeerStatus
		waited   time.Duration
		want     bool
		why      string // substring of the reason; "" for none
	}{
		{name: "no BGP peer", want: true},
		{name: "established, routes sent", statuses: []bgp.PeerStatus{established}, want: true},
		{name: "established, nothing to advertise", statuses: []bgp.PeerStatus{withdrawnOnly}, want: true},
		{name: "established, routes not sent yet", statuses: []bgp.PeerStatus{unsent}, want: false, why: "not sent its routes"},
		{name: "one session not up", statuses: []bgp.PeerStatus{established, connecting}, want: false, why: "other is active"},
		{name: "not up, waited just under the bound", statuses: []bgp.PeerStatus{connecting}, waited: maxBGPSettle - time.Millisecond, want: false, why: "other is active"},
		{name: "not up, waited the bound", statuses: []bgp.PeerStatus{connecting}, waited: maxBGPSettle, want: true, why: "ready anyway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := bgpSettled(tc.statuses, tc.waited)
			if got != tc.want {
				t.Errorf("bgpSettled = %v (%q), want %v", got, why, tc.want)
			}
			if (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
				t.Errorf("reason %q, want one containing %q", why, tc.why)
			}
		})
	}
}
