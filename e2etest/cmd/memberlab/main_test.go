package main

import (
	"reflect"
	"testing"

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
	if _, err := profileConfig("tuned"); err == nil {
		t.Error("profileConfig(\"tuned\") = nil error, want an unknown profile error")
	}
}
