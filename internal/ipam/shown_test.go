package ipam

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

// mustAssignShown assigns and fails the test on error.
func mustAssignShown(t *testing.T, a *Allocator, req Request, shown string) (Assignment, bool) {
	t.Helper()
	var list []netip.Addr
	if shown != "" {
		list = mustIPs(shown)
	}
	asg, freed, err := a.AssignShown(req, list)
	if err != nil {
		t.Fatalf("AssignShown(%s): %v", req.Service, err)
	}
	return asg, freed
}

// A Service moved to another address keeps the old one quarantined while its
// status still shows it: a status write that failed (429, timeout, a policy
// webhook) never lets another Service show the same address.
func TestAssignShownQuarantinesUntilTheStatusChanges(t *testing.T) {
	a, err := New([]Pool{pool("a", "10.0.0.1-10.0.0.1"), pool("b", "10.0.1.1-10.0.1.1")})
	if err != nil {
		t.Fatal(err)
	}
	if asg, _ := mustAssignShown(t, a, svc("first", fromPool("a")), ""); format(asg) != "a 10.0.0.1" {
		t.Fatalf("first = %s", format(asg))
	}
	// first moves to pool b; its status write fails, so it still shows 10.0.0.1.
	asg, freed := mustAssignShown(t, a, svc("first", fromPool("b")), "10.0.0.1")
	if format(asg) != "b 10.0.1.1" || freed {
		t.Fatalf("first = %s, freed %v; want b 10.0.1.1, nothing freed", format(asg), freed)
	}
	var refusal *Error
	if _, _, err := a.AssignShown(svc("second", fromPool("a")), nil); !errors.As(err, &refusal) || refusal.Reason != PoolExhausted {
		t.Fatalf("second got an address first's status still shows (err %v)", err)
	}
	// The retried write lands: first's status shows 10.0.1.1 only.
	if _, freed := mustAssignShown(t, a, svc("first", fromPool("b")), "10.0.1.1"); !freed {
		t.Error("quarantine lifted but not reported as freed")
	}
	if asg, _ := mustAssignShown(t, a, svc("second", fromPool("a")), ""); format(asg) != "a 10.0.0.1" {
		t.Errorf("second = %s, want a 10.0.0.1 once first's status no longer shows it", format(asg))
	}
}

// A Service can go back to the address its own status still shows: its
// quarantine keeps others away, not the Service itself.
func TestAssignShownGivesBackTheServicesOwnAddress(t *testing.T) {
	a, err := New([]Pool{pool("a", "10.0.0.1-10.0.0.1"), pool("b", "10.0.1.1-10.0.1.1")})
	if err != nil {
		t.Fatal(err)
	}
	mustAssignShown(t, a, svc("first", fromPool("a")), "")
	// Moved to b; the write fails, the status still shows 10.0.0.1.
	mustAssignShown(t, a, svc("first", fromPool("b")), "10.0.0.1")
	// The user reverts the change before the write lands.
	asg, _ := mustAssignShown(t, a, svc("first", fromPool("a")), "10.0.0.1")
	if format(asg) != "a 10.0.0.1" {
		t.Errorf("first = %s, want its own a 10.0.0.1 back", format(asg))
	}
	if asg, _ := mustAssignShown(t, a, svc("first", ips("10.0.0.1")), "10.0.0.1"); format(asg) != "a 10.0.0.1" {
		t.Errorf("first requesting its own shown address = %s", format(asg))
	}
}

// A released Service whose status still shows its address (its type changed
// and the write clearing the status failed), or a Service of another
// loadBalancerClass showing an address of our pools, keeps the address from
// everybody else; a deleted Service (nil) frees it.
func TestReleaseShownKeepsWhatTheStatusShows(t *testing.T) {
	a, err := New([]Pool{pool("a", "10.0.0.1-10.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	mustAssignShown(t, a, svc("mine"), "")
	if freed := a.ReleaseShown("ns/mine", mustIPs("10.0.0.1")); freed {
		t.Error("address still shown reported as freed")
	}
	if freed := a.ReleaseShown("other/foreign", mustIPs("10.0.0.2")); freed {
		t.Error("nothing was freed")
	}
	if _, _, err := a.AssignShown(svc("new"), nil); err == nil {
		t.Fatal("a new Service got an address another Service's status shows")
	} else if got := err.Error(); got != `no free IPv4 address for ns/new in pool "a"` {
		t.Errorf("error = %q", got)
	}
	if freed := a.ReleaseShown("ns/mine", nil); !freed {
		t.Error("deleting the Service did not free its address")
	}
	if asg, _ := mustAssignShown(t, a, svc("new"), ""); format(asg) != "a 10.0.0.1" {
		t.Errorf("new = %s, want a 10.0.0.1", format(asg))
	}
	if _, _, err := a.AssignShown(svc("asks", ips("10.0.0.2")), nil); err == nil ||
		err.Error() != "10.0.0.2 for ns/asks is in use by other/foreign (shown in its status)" {
		t.Errorf("requesting the foreign Service's address: %v", err)
	}
	if got := a.Stats()[0]; got.AssignedIPv4 != 2 {
		t.Errorf("assigned = %d, want 2: shown addresses count as used", got.AssignedIPv4)
	}
}

// SharingRefusal is the allocator's own rule.
func TestSharingRefusal(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name        string
		req, other  Request
		wantAllowed bool
		want        Reason
		conflict    SharingConflict
	}{
		{"no key", svc("x"), svc("y", sharing("k", "TCP/80")), false, IPInUse, 0},
		{"keys differ", svc("x", sharing("k", "TCP/80")), svc("y", sharing("l", "TCP/81")), false, SharingRefused, KeysDiffer},
		{"backends differ", svc("x", sharing("k", "TCP/80"), backend("a")), svc("y", sharing("k", "TCP/81"), backend("b")), false, SharingRefused, BackendsDiffer},
		{"ports overlap", svc("x", sharing("k", "TCP/80 UDP/53")), svc("y", sharing("k", "UDP/53")), false, SharingRefused, PortsOverlap},
		{"shareable", svc("x", sharing("k", "TCP/80")), svc("y", sharing("k", "TCP/443")), true, 0, 0},
	}
	for _, tt := range tests {
		err := SharingRefusal(ip, tt.req, tt.other)
		var refusal *Error
		switch {
		case tt.wantAllowed && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case !tt.wantAllowed && !errors.As(err, &refusal):
			t.Errorf("%s: allowed, want %v", tt.name, tt.want)
		case !tt.wantAllowed && (refusal.Reason != tt.want || refusal.Conflict != tt.conflict || refusal.Holder != "ns/y"):
			t.Errorf("%s: %v (%v/%v), want %v/%v held by ns/y", tt.name, err, refusal.Reason, refusal.Conflict, tt.want, tt.conflict)
		}
	}
}

// A Service of another class showing an address the allocator also gave
// away: the holders yield when the caller's rule says so, and the address
// stays the other Service's.
func TestClaimShownEvictsOnlyWhenTheHoldersYield(t *testing.T) {
	a, err := New([]Pool{pool("a", "10.0.0.1-10.0.0.9")})
	if err != nil {
		t.Fatal(err)
	}
	mustAssignShown(t, a, svc("mine", sharing("k", "TCP/80")), "")
	mustAssignShown(t, a, svc("also-mine", sharing("k", "TCP/443")), "")
	if evicted := a.ClaimShown("other/older", mustIPs("10.0.0.1"), func(string) bool { return false }); len(evicted) != 0 {
		t.Fatalf("evicted %v although no holder yields", evicted)
	}
	if asg, _ := a.Lookup("ns/mine"); format(asg) != "a 10.0.0.1" {
		t.Fatalf("mine = %s", format(asg))
	}
	evicted := a.ClaimShown("other/older", mustIPs("10.0.0.1"), func(h string) bool { return h != "" })
	if !slices.Equal(evicted, []string{"ns/also-mine", "ns/mine"}) {
		t.Fatalf("evicted %v, want both holders", evicted)
	}
	if _, held := a.Lookup("ns/mine"); held {
		t.Error("mine still holds an address")
	}
	if asg, _ := mustAssignShown(t, a, svc("mine", sharing("k", "TCP/80")), "10.0.0.1"); format(asg) != "a 10.0.0.2" {
		t.Errorf("mine reassigned %s, want a 10.0.0.2 (10.0.0.1 is the other Service's)", format(asg))
	}
}

// RevertShown puts a service back on what its status shows.
func TestRevertShown(t *testing.T) {
	a, err := New([]Pool{pool("a", "10.0.0.0/24 fd00::/120")})
	if err != nil {
		t.Fatal(err)
	}
	dual := svc("dual", families(RequireDualStack, IPv4, IPv6))
	if err := a.Restore(svc("dual"), mustIPs("10.0.0.7")); err != nil {
		t.Fatal(err)
	}
	if asg, _ := mustAssignShown(t, a, dual, "10.0.0.7"); format(asg) != "a 10.0.0.7,fd00::" {
		t.Fatalf("dual = %s", format(asg))
	}
	// fd00:: turned out to be shown by another Service: back to the status.
	a.RevertShown(dual, mustIPs("10.0.0.7"))
	if asg, _ := a.Lookup("ns/dual"); format(asg) != "a 10.0.0.7" {
		t.Errorf("after revert dual = %s, want a 10.0.0.7", format(asg))
	}
	// A status address another service holds stays out of reach for others
	// only through that holder; nothing else is held.
	mustAssignShown(t, a, svc("other", ips("10.0.0.9")), "")
	a.RevertShown(svc("late"), mustIPs("10.0.0.9"))
	if _, held := a.Lookup("ns/late"); held {
		t.Error("late holds an address another service holds")
	}
}
