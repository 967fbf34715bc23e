package speaker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/k8s"
)

func TestOthersObjects(t *testing.T) {
	object := func(name, node string) metav1.PartialObjectMetadata {
		labels := map[string]string{LabelServiceName: "web", LabelServiceNamespace: "default"}
		if node != "" {
			labels[LabelNode] = node
		}
		return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	tests := []struct {
		name  string
		items []metav1.PartialObjectMetadata
		want  []string
	}{
		{"none", nil, nil},
		{"only ours", []metav1.PartialObjectMetadata{object("l2-a", "node1")}, nil},
		{"a dead owner's", []metav1.PartialObjectMetadata{object("l2-a", "node1"), object("l2-b", "node2")}, []string{"l2-b"}},
		{"several others", []metav1.PartialObjectMetadata{object("l2-b", "node2"), object("l2-c", "node3")}, []string{"l2-b", "l2-c"}},
		{"no node label", []metav1.PartialObjectMetadata{object("l2-x", "")}, []string{"l2-x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := othersObjects(tt.items, "node1"); !slices.Equal(got, tt.want) {
				t.Errorf("othersObjects = %v, want %v", got, tt.want)
			}
		})
	}
}

// fakeStatusAPI serves the metallb.io status resources like an API server
// that refuses invalid labels and fails the first creations it is sent.
type fakeStatusAPI struct {
	mu         sync.Mutex
	failCreate int      // creations still to fail with a 500
	selectors  []string // label selectors of the lists
	created    []map[string]string
	patched    chan string // names of objects whose status was written
	// collectionDeletes are "resource labelSelector" of the collection
	// deletes.
	collectionDeletes []string
	// othersL2, when set, is listed for a Service's ServiceL2Status objects
	// (another node's); deleted are the names of the objects deleted.
	othersL2 string
	deleted  []string
}

func (f *fakeStatusAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fail := func(code int, reason, msg string) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"message":%q,"code":%d}`, reason, msg, code)
	}
	switch {
	case r.Method == http.MethodGet:
		selector := r.URL.Query().Get("labelSelector")
		f.selectors = append(f.selectors, selector)
		if f.othersL2 != "" && strings.Contains(selector, LabelServiceName+"=") {
			fmt.Fprintf(w, `{"kind":"List","apiVersion":"metallb.io/v1beta1","items":[{"metadata":{"name":%q,"labels":{%q:"node2"}}}]}`, f.othersL2, LabelNode)
			return
		}
		fmt.Fprint(w, `{"kind":"List","apiVersion":"metallb.io/v1beta1","items":[]}`)
	case r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "statuses"):
		f.collectionDeletes = append(f.collectionDeletes, path.Base(r.URL.Path)+" "+r.URL.Query().Get("labelSelector"))
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Success"}`)
	case r.Method == http.MethodDelete:
		f.deleted = append(f.deleted, path.Base(r.URL.Path))
		fmt.Fprint(w, `{}`)
	case r.Method == http.MethodPost:
		var obj metav1.PartialObjectMetadata
		if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
			fail(http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		for k, v := range obj.Labels {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				fail(http.StatusUnprocessableEntity, "Invalid", fmt.Sprintf("metadata.labels %s: %v", k, errs))
				return
			}
		}
		if f.failCreate > 0 {
			f.failCreate--
			fail(http.StatusInternalServerError, "InternalError", "etcdserver: leader changed")
			return
		}
		f.created = append(f.created, obj.Labels)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{}`)
	case r.Method == http.MethodPatch:
		f.patched <- path.Base(path.Dir(r.URL.Path))
		fmt.Fprint(w, `{}`)
	default:
		fail(http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method)
	}
}

// clientsFor returns clients talking to api, through a kubeconfig as the
// speaker's own.
func clientsFor(t *testing.T, api *httptest.Server) *k8s.Clients {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, api.URL)
	if err := os.WriteFile(kubeconfig, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	clients, err := k8s.NewClients(kubeconfig, "test")
	if err != nil {
		t.Fatal(err)
	}
	return clients
}

// TestStatusWriteIsRetried: a ServiceL2Status whose creation fails is
// written again without waiting for another plan, and a node name longer
// than a label value still gives valid labels, found again by the node's
// selector.
func TestStatusWriteIsRetried(t *testing.T) {
	node := strings.Repeat("worker-", 12) + "1.rack-12.example.com" // 104 characters
	fake := &fakeStatusAPI{failCreate: 2, patched: make(chan string, 10)}
	api := httptest.NewServer(fake)
	defer api.Close()

	services := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	services.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}})
	recorder := record.NewFakeRecorder(10)
	w := newStatusWriter(clientsFor(t, api), recorder, corelisters.NewServiceLister(services), "metallb-system", node, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); <-w.stopped }()
	go w.run(ctx)

	w.update(announce.Plan{L2: []announce.L2Announcement{{IP: netip.MustParseAddr("192.0.2.1"), Service: "default/web"}}})
	select {
	case name := <-fake.patched:
		if want := w.objectName("l2", "default", "web"); name != want {
			t.Errorf("status written to %s, want %s", name, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the status write that failed was never retried")
	}
	if ev := <-recorder.Events; !strings.Contains(ev, ReasonNodeAssigned) {
		t.Errorf("event %q, want %s", ev, ReasonNodeAssigned)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.created) != 1 || fake.created[0][LabelNode] != k8s.LabelValue(node) {
		t.Errorf("created objects' labels %v, want node label %q", fake.created, k8s.LabelValue(node))
	}
	if want := LabelNode + "=" + k8s.LabelValue(node); !slices.Contains(fake.selectors, want) {
		t.Errorf("lists with selectors %q, want one for this node (%q)", fake.selectors, want)
	}
}

// TestDeletedL2StatusIsWrittenAgain: after a membership change the writer
// compares its objects with the API server's; one deleted meanwhile (the
// fake lists none: a node that took the address over for a moment removed
// it) is written again, though the plan did not change.
func TestDeletedL2StatusIsWrittenAgain(t *testing.T) {
	fake := &fakeStatusAPI{patched: make(chan string, 100)} // the later recheck writes again
	api := httptest.NewServer(fake)
	defer api.Close()
	services := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	services.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}})
	w := newStatusWriter(clientsFor(t, api), record.NewFakeRecorder(10), corelisters.NewServiceLister(services), "metallb-system", "node1", slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); <-w.stopped }()
	go w.run(ctx)

	w.update(announce.Plan{L2: []announce.L2Announcement{{IP: netip.MustParseAddr("192.0.2.1"), Service: "default/web"}}})
	want := w.objectName("l2", "default", "web")
	for i, step := range []func(){func() {}, w.recheck} {
		step()
		for written := false; !written; { // other patches (annotations) may come between
			select {
			case name := <-fake.patched:
				written = name == want
			case <-time.After(30 * time.Second):
				t.Fatalf("write %d of the ServiceL2Status status never came", i)
			}
		}
	}
}

// TestRewriteIsNoTakeover: a node taking an address over deletes the other
// nodes' ServiceL2Status objects of the Service; writing its own object
// again after it was deleted (the recheck) is no takeover and deletes
// nothing: a node cut off from the others must not delete the object the
// node that took its address over wrote (the claim it yields to), and
// writes no second nodeAssigned Event.
func TestRewriteIsNoTakeover(t *testing.T) {
	fake := &fakeStatusAPI{patched: make(chan string, 100), othersL2: "l2-node2-web"}
	api := httptest.NewServer(fake)
	defer api.Close()
	services := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	services.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}})
	recorder := record.NewFakeRecorder(10)
	w := newStatusWriter(clientsFor(t, api), recorder, corelisters.NewServiceLister(services), "metallb-system", "node1", slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); <-w.stopped }()
	go w.run(ctx)

	w.update(announce.Plan{L2: []announce.L2Announcement{{IP: netip.MustParseAddr("192.0.2.1"), Service: "default/web"}}})
	want := w.objectName("l2", "default", "web")
	for i, step := range []func(){func() {}, w.recheck} {
		step()
		for written := false; !written; {
			select {
			case name := <-fake.patched:
				written = name == want
			case <-time.After(30 * time.Second):
				t.Fatalf("write %d of the ServiceL2Status status never came", i)
			}
		}
		time.Sleep(100 * time.Millisecond) // a deletion would follow the write
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if !slices.Equal(fake.deleted, []string{"l2-node2-web"}) {
		t.Errorf("deleted %v, want node2's object once (at the takeover), not again at the rewrite", fake.deleted)
	}
	if n := len(recorder.Events); n != 1 {
		t.Errorf("%d events, want one nodeAssigned", n)
	}
}

func TestMissingL2(t *testing.T) {
	written := map[string]serviceState{
		"default/a": {l2: true}, "default/b": {l2: true}, "default/c": {bgp: true}, "default/d": {l2: true, bgp: true},
	}
	got := missingL2(written, map[string]bool{"default/a": true})
	if want := []string{"default/b", "default/d"}; !slices.Equal(got, want) {
		t.Errorf("missingL2 = %v, want %v (only layer 2 objects that are gone)", got, want)
	}
}

// TestStatusWithdrawnOnStop: once its writer stopped, a speaker deletes
// every status object of its node, in one collection delete per kind
// (RBAC deletecollection; the lab's pods-mode audit sees it only when a
// speaker stops gracefully).
func TestStatusWithdrawnOnStop(t *testing.T) {
	fake := &fakeStatusAPI{patched: make(chan string, 10)}
	api := httptest.NewServer(fake)
	defer api.Close()
	services := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	w := newStatusWriter(clientsFor(t, api), record.NewFakeRecorder(10), corelisters.NewServiceLister(services), "metallb-system", "node1", slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	go w.run(ctx)
	cancel()
	w.withdraw(t.Context())
	fake.mu.Lock()
	defer fake.mu.Unlock()
	want := []string{"servicel2statuses " + LabelNode + "=node1", "servicebgpstatuses " + LabelNode + "=node1"}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(fake.collectionDeletes))
	if !slices.Equal(got, want) {
		t.Errorf("collection deletes %q, want %q", got, want)
	}
}
