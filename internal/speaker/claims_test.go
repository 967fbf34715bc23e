package speaker

import (
	"maps"
	"testing"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
)

func TestClaimedElsewhere(t *testing.T) {
	status := func(node, namespace, name string) v1beta1.ServiceL2Status {
		return v1beta1.ServiceL2Status{Status: v1beta1.MetalLBServiceL2Status{Node: node, ServiceNamespace: namespace, ServiceName: name}}
	}
	got := claimedElsewhere([]v1beta1.ServiceL2Status{
		status("self", "default", "mine"),
		status("node2", "default", "taken"),
		status("node3", "other", "taken"),
		status("", "default", "not-yet-written"),
	}, "self")
	want := map[string]bool{"default/taken": true, "other/taken": true}
	if !maps.Equal(got, want) {
		t.Errorf("claimedElsewhere = %v, want %v", got, want)
	}
}

// TestClaimsUpdate: the plan is asked for again only when the claims
// change, and clearing them (quorum regained) is a change.
func TestClaimsUpdate(t *testing.T) {
	var c claims
	if c.update(nil) {
		t.Error("no claims to no claims reported as a change")
	}
	if !c.update(map[string]bool{"default/a": true}) {
		t.Error("a first claim not reported as a change")
	}
	if c.update(map[string]bool{"default/a": true}) {
		t.Error("the same claims reported as a change")
	}
	if !c.update(nil) {
		t.Error("cleared claims not reported as a change")
	}
	if c.snapshot() != nil {
		t.Errorf("snapshot after clearing = %v", c.snapshot())
	}
}
