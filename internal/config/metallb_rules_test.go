package config

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The tables below follow MetalLB v0.16's internal/config/config.go:
// parseTimers, peerFromCR, validateBGPAdvPerPool and
// BGPAdvertisementsHaveCompatibleLocalPref.

func TestSessionTimersFollowMetalLB(t *testing.T) {
	d := func(s string) *metav1.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return &metav1.Duration{Duration: v}
	}
	cases := []struct {
		name                    string
		hold, keepalive         *metav1.Duration
		wantHold, wantKeepalive time.Duration
		wantField               string // "" means accepted
	}{
		{"neither set", nil, nil, 90 * time.Second, 30 * time.Second, ""},
		{"hold only: keepalive is a third", d("90s"), nil, 90 * time.Second, 30 * time.Second, ""},
		{"hold 10s only: keepalive 3.333s carried as 3s", d("10s"), nil, 10 * time.Second, 3 * time.Second, ""},
		{"keepalive only: hold is three times", nil, d("20s"), 60 * time.Second, 20 * time.Second, ""},
		{"keepalive equal to hold", d("30s"), d("30s"), 30 * time.Second, 30 * time.Second, ""},
		{"hold 0 disables keepalives", d("0s"), nil, 0, 0, ""},
		{"hold 3.5s truncates to 3s", d("3.5s"), nil, 3 * time.Second, time.Second, ""},
		{"hold 3s is the minimum", d("3s"), nil, 3 * time.Second, time.Second, ""},
		{"hold 2s", d("2s"), nil, 0, 0, "spec.holdTime"},
		{"hold 2.9s truncates below the minimum", d("2.9s"), nil, 0, 0, "spec.holdTime"},
		{"keepalive longer than hold", d("9s"), d("10s"), 0, 0, "spec.keepaliveTime"},
		{"keepalive only, hold 3 x 0.5s below the minimum", nil, d("500ms"), 0, 0, "spec.keepaliveTime"},
		{"keepalive with hold 0", d("0s"), d("10s"), 0, 0, "spec.keepaliveTime"},
		// ironlb refuses what OPEN cannot carry; MetalLB would overflow.
		{"hold beyond 16 bits", d("65536s"), nil, 0, 0, "spec.holdTime"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hold, keepalive, err := sessionTimers(tc.hold, tc.keepalive)
			switch {
			case tc.wantField == "" && err != nil:
				t.Fatalf("refused (%s: %s), want accepted", err.field, err.message)
			case tc.wantField != "" && err == nil:
				t.Fatalf("accepted (%s, %s), want %s refused", hold, keepalive, tc.wantField)
			case err != nil && err.field != tc.wantField:
				t.Fatalf("refused %s (%s), want %s", err.field, err.message, tc.wantField)
			case err == nil && (hold != tc.wantHold || keepalive != tc.wantKeepalive):
				t.Fatalf("hold %s keepalive %s, want %s and %s", hold, keepalive, tc.wantHold, tc.wantKeepalive)
			}
		})
	}
}

func TestBGPRulesFollowMetalLB(t *testing.T) {
	peer := func(name, spec string) string {
		return "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: " + name +
			", namespace: metallb-system}\nspec: " + spec + "\n---\n"
	}
	adv := func(name, spec string) string {
		return "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: " + name +
			", namespace: metallb-system}\nspec: " + spec + "\n---\n"
	}
	peers := peer("r1", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1}") +
		peer("r2", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.2}")
	cases := []struct {
		name string
		docs string
		want string // "" means accepted; else the prefix of the only error
	}{
		{"ebgpMultiHop on iBGP", peer("p", "{myASN: 64500, peerASN: 64500, peerAddress: 10.0.0.1, ebgpMultiHop: true}"),
			"BGPPeer metallb-system/p: spec.ebgpMultiHop: is for eBGP sessions"},
		{"ebgpMultiHop on eBGP", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, ebgpMultiHop: true}"), ""},
		{"disableMP with dualStackAddressFamily", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, disableMP: true, dualStackAddressFamily: true}"), ""},
		{"fractional keepalive", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, holdTime: 10s}"), ""},
		{"link-local peer", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: \"fe80::1\"}"),
			"BGPPeer metallb-system/p: spec.peerAddress: fe80::1 is link-local: to peer over a link's link-local addresses, set interface"},
		{"unspecified peer", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 0.0.0.0}"),
			"BGPPeer metallb-system/p: spec.peerAddress: 0.0.0.0 is not a unicast address"},
		{"password beyond TCP-MD5", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, password: "+strings.Repeat("x", 81)+"}"),
			"BGPPeer metallb-system/p: spec.password: 81 bytes"},

		{"aggregation of a range: its shortest CIDR is enough", pool("a", "10.0.0.0-10.0.0.2") + adv("a", "{aggregationLength: 31}"), ""},
		{"aggregation of a range shorter than every CIDR", pool("a", "10.0.0.0-10.0.0.2") + adv("a", "{aggregationLength: 30}"),
			"BGPAdvertisement metallb-system/a: spec.aggregationLength: 30 is shorter than /31"},
		{"serviceSelectors with aggregationLength", pool("a", "10.0.0.0/24") + adv("a", "{aggregationLength: 24, serviceSelectors: [{matchLabels: {a: b}}]}"),
			"BGPAdvertisement metallb-system/a: spec.aggregationLength: serviceSelectors and aggregationLength are mutually exclusive"},
		{"serviceSelectors with aggregationLength 32", pool("a", "10.0.0.0/24") + adv("a", "{aggregationLength: 32, serviceSelectors: [{matchLabels: {a: b}}]}"), ""},

		{"localPref conflict", peers + pool("a", "10.0.0.0/24") + adv("a", "{localPref: 100}") + adv("b", "{localPref: 200}"),
			"BGPAdvertisement metallb-system/b: spec.localPref: 200 differs from localPref 100 of BGPAdvertisement a"},
		{"localPref equal", peers + pool("a", "10.0.0.0/24") + adv("a", "{localPref: 100}") + adv("b", "{localPref: 100}"), ""},
		{"localPref with other aggregation", peers + pool("a", "10.0.0.0/24") + adv("a", "{localPref: 100}") + adv("b", "{localPref: 200, aggregationLength: 24}"), ""},
		{"localPref, dual-stack pool, one family aggregated alike", peers + pool("a", "10.0.0.0/24", "fd00::/120") + adv("a", "{localPref: 100}") + adv("b", "{localPref: 200, aggregationLength: 24}"),
			"BGPAdvertisement metallb-system/b: spec.localPref: 200 differs"},
		{"localPref to other peers", peers + pool("a", "10.0.0.0/24") + adv("a", "{localPref: 100, peers: [r1]}") + adv("b", "{localPref: 200, peers: [r2]}"), ""},
		{"localPref, one to every peer", peers + pool("a", "10.0.0.0/24") + adv("a", "{localPref: 100}") + adv("b", "{localPref: 200, peers: [r2]}"),
			"BGPAdvertisement metallb-system/b: spec.localPref: 200 differs"},
		{"localPref with serviceSelectors", peers + pool("a", "10.0.0.0/24") + adv("a", "{localPref: 100}") + adv("b", "{localPref: 200, serviceSelectors: [{matchLabels: {a: b}}]}"), ""},
		{"localPref of other pools", peers + pool("a", "10.0.0.0/24") + pool("b", "10.0.1.0/24") + adv("a", "{localPref: 100, ipAddressPools: [a]}") + adv("b", "{localPref: 200, ipAddressPools: [b]}"), ""},
		{"localPref from other nodes", peers + pool("a", "10.0.0.0/24") + adv("a", "{localPref: 100, nodeSelectors: [{matchLabels: {rack: a}}]}") + adv("b", "{localPref: 200, nodeSelectors: [{matchLabels: {rack: b}}]}"), ""},
		{"localPref from the same nodes", peers + pool("a", "10.0.0.0/24") + adv("a", "{localPref: 100, nodeSelectors: [{matchLabels: {rack: a}}]}") + adv("b", "{localPref: 200, nodeSelectors: [{matchLabels: {rack: a}}]}"),
			"BGPAdvertisement metallb-system/b: spec.localPref: 200 differs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildYAML(t, tc.docs)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused, want accepted:\n%v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want %q", tc.want)
			case tc.want != "":
				errs := err.(Errors)
				if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
					t.Fatalf("errors:\n%v\nwant exactly one starting %q", err, tc.want)
				}
			}
		})
	}
}
