package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ironlb/ironlb/internal/members"
)

// The metallb profile is memberlist's DefaultLANConfig, which MetalLB's
// speaker uses unchanged, with no exit watch; default and fast are
// ironlb's.
func TestProfileConfig(t *testing.T) {
	lan := memberlist.DefaultLANConfig()
	metallb, err := profileConfig("metallb")
	if err != nil {
		t.Fatal(err)
	}
	if metallb.ProbeInterval != lan.ProbeInterval || metallb.ProbeTimeout != lan.ProbeTimeout ||
		metallb.SuspicionMult != lan.SuspicionMult || metallb.GossipInterval != lan.GossipInterval ||
		metallb.StreamTimeout != lan.TCPTimeout || !metallb.ProbesOnly {
		t.Errorf("metallb profile %+v differs from DefaultLANConfig (probe %v/%v, suspicion ×%d, gossip %v, TCP %v)",
			metallb, lan.ProbeInterval, lan.ProbeTimeout, lan.SuspicionMult, lan.GossipInterval, lan.TCPTimeout)
	}
	for name, want := range map[string]members.Config{"default": members.DefaultConfig(), "fast": members.FastConfig()} {
		got, err := profileConfig(name)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("profileConfig(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	slow, err := profileConfig("default-gossip-100ms")
	if want := members.DefaultConfig(); err != nil || slow.GossipInterval != 100*time.Millisecond || slow.ProbeInterval != want.ProbeInterval {
		t.Errorf("profileConfig(\"default-gossip-100ms\") = %+v, %v; want the default with gossip every 100 ms", slow, err)
	}
	probesOnly, err := profileConfig("default-gossip-100ms-probes-only")
	if want := members.DefaultConfig(); err != nil || !probesOnly.ProbesOnly || probesOnly.GossipInterval != 100*time.Millisecond || probesOnly.ProbeTimeout != want.ProbeTimeout {
		t.Errorf("profileConfig(\"default-gossip-100ms-probes-only\") = %+v, %v; want the default with gossip every 100 ms and no exit watch", probesOnly, err)
	}
	for _, bad := range []string{"default-gossip-", "default-gossip-0s", "tuned-gossip-100ms", "tuned-probes-only"} {
		if _, err := profileConfig(bad); err == nil {
			t.Errorf("profileConfig(%q) = nil error, want one", bad)
		}
	}
	if _, err := profileConfig("tuned"); err == nil {
		t.Error("profileConfig(\"tuned\") = nil error, want an unknown profile error")
	}
}
