package main

import (
	"reflect"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/ironlb/ironlb/internal/members"
)

// The metallb profile is memberlist's DefaultLANConfig, which MetalLB's
// speaker uses unchanged; the tuned one is ironlb's shipped default.
func TestProfileConfig(t *testing.T) {
	lan := memberlist.DefaultLANConfig()
	metallb, err := profileConfig("metallb")
	if err != nil {
		t.Fatal(err)
	}
	if metallb.ProbeInterval != lan.ProbeInterval || metallb.ProbeTimeout != lan.ProbeTimeout ||
		metallb.SuspicionMult != lan.SuspicionMult || metallb.GossipInterval != lan.GossipInterval ||
		metallb.StreamTimeout != lan.TCPTimeout {
		t.Errorf("metallb profile %+v differs from DefaultLANConfig (probe %v/%v, suspicion ×%d, gossip %v, TCP %v)",
			metallb, lan.ProbeInterval, lan.ProbeTimeout, lan.SuspicionMult, lan.GossipInterval, lan.TCPTimeout)
	}
	tuned, err := profileConfig("tuned")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tuned, members.DefaultConfig()) {
		t.Errorf("tuned profile %+v, want members.DefaultConfig() %+v", tuned, members.DefaultConfig())
	}
	if _, err := profileConfig("fast"); err == nil {
		t.Error("profileConfig(\"fast\") = nil error, want an unknown profile error")
	}
}
