package config

import (
	"testing"
	"time"
)

// A BGPPeer's bfdProfile resolves to the validated profile, with MetalLB's
// defaults (300 ms, 300 ms, 3, active, minimumTtl 254) for what it leaves out.
func TestPeerBFDProfileResolves(t *testing.T) {
	docs := `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tuned, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: plain, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.2, bfdProfile: defaults}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: none, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.3}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 100, transmitInterval: 150, detectMultiplier: 5, passiveMode: true, minimumTtl: 200, echoMode: false}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: defaults, namespace: metallb-system}
`
	cfg, err := buildYAML(t, docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer string
		want *BFDProfile
	}{
		{"tuned", &BFDProfile{Name: "fast", ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 150 * time.Millisecond,
			DetectMultiplier: 5, PassiveMode: true, MinimumTTL: 200}},
		{"plain", &BFDProfile{Name: "defaults", ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond,
			DetectMultiplier: 3, MinimumTTL: 254}},
		{"none", nil},
	} {
		got := cfg.Peers[tc.peer].BFD
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("peer %s: BFD = %+v, want %+v", tc.peer, got, tc.want)
		}
	}
}
