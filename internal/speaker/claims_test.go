package speaker

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

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

// claimsAPI serves one ServiceL2Status list and counts the lists.
type claimsAPI struct {
	mu    sync.Mutex
	lists int
}

func (a *claimsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.lists++
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"kind":"ServiceL2StatusList","apiVersion":"metallb.io/v1beta1","items":[
{"metadata":{"name":"l2-a"},"status":{"node":"node2","serviceName":"web","serviceNamespace":"default"}},
{"metadata":{"name":"l2-b"},"status":{"node":"node1","serviceName":"mine","serviceNamespace":"default"}}]}`)
}

func (a *claimsAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lists
}

// TestFollowClaims: while the last plan answered addresses without quorum,
// the speaker reads the ServiceL2Status objects and hands the Services
// other nodes claim to the plan, asking for one; once it no longer does, it
// stops reading and clears them, asking for a plan again.
func TestFollowClaims(t *testing.T) {
	api := &claimsAPI{}
	server := httptest.NewServer(api)
	defer server.Close()
	s := &Speaker{clients: clientsFor(t, server), opts: Options{Namespace: "metallb-system", NodeName: "node1"},
		log: slog.New(slog.DiscardHandler), changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.followClaims(ctx)

	time.Sleep(3 * claimsPollInterval)
	if n := api.count(); n != 0 {
		t.Fatalf("%d lists with quorum, want none", n)
	}
	s.claims.setCutOff(true)
	waitFor(t, func() bool { return maps.Equal(s.claims.snapshot(), map[string]bool{"default/web": true}) })
	select {
	case <-s.changed:
	default:
		t.Error("no plan asked for after the claims changed")
	}
	s.claims.setCutOff(false)
	waitFor(t, func() bool { return s.claims.snapshot() == nil })
	select {
	case <-s.changed:
	default:
		t.Error("no plan asked for after the claims were cleared")
	}
	lists := api.count()
	time.Sleep(3 * claimsPollInterval)
	if n := api.count(); n != lists {
		t.Errorf("%d more lists after the speaker was no longer cut off", n-lists)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
	}
}
