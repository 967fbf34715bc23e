package configstate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
)

// fakeStates is an API server holding one ConfigurationState.
type fakeStates struct {
	mu    sync.Mutex
	state v1beta1.ConfigurationState
}

func (f *fakeStates) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&f.state); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(&f.state) //nolint:errcheck // the client reports a broken answer
}

func (f *fakeStates) condition(typ string) *metav1.Condition {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := meta.FindStatusCondition(f.state.Status.Conditions, typ)
	if c == nil {
		return nil
	}
	copied := *c
	return &copied
}

// newTestReporter returns a Reporter writing to a fake API server.
func newTestReporter(t *testing.T) (*Reporter, *fakeStates) {
	api := &fakeStates{state: v1beta1.ConfigurationState{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1beta1.GroupVersion.String(), Kind: "ConfigurationState"},
		ObjectMeta: metav1.ObjectMeta{Name: "speaker-node1", Namespace: "metallb-system"},
	}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	scheme := runtime.NewScheme()
	if err := v1beta1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	client, err := rest.RESTClientFor(&rest.Config{Host: srv.URL, APIPath: "/apis", ContentConfig: rest.ContentConfig{
		GroupVersion: &v1beta1.GroupVersion, NegotiatedSerializer: serializer.NewCodecFactory(scheme).WithoutConversion()}})
	if err != nil {
		t.Fatal(err)
	}
	return NewReporter(client, "metallb-system", "speaker-node1", slog.New(slog.NewTextHandler(io.Discard, nil))), api
}

// waitForCondition polls the fake API server until condition typ satisfies
// ok.
func waitForCondition(t *testing.T, api *fakeStates, typ, what string, ok func(*metav1.Condition) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(api.condition(typ)) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: condition is %+v", what, api.condition(typ))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReporterRestoredServesTheLastValid(t *testing.T) {
	r, api := newTestReporter(t)
	r.Restored = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	r.Report(errors.New("BGPPeer metallb-system/p: spec.passwordSecret: Secret metallb-system/s not found"), config.Resources{})
	waitForCondition(t, api, ConditionStale, "refused after a restore", func(c *metav1.Condition) bool {
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == ReasonServingLastValid
	})
}

func TestReporterWritesBGPPeerProblems(t *testing.T) {
	r, api := newTestReporter(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	wait := func(what string, ok func(*metav1.Condition) bool) {
		t.Helper()
		waitForCondition(t, api, ConditionBGPPeers, what, ok)
	}
	r.ReportPeers([]string{"BGPPeer b: left out"}) // before any configuration: kept for the first write
	r.Report(nil, config.Resources{})
	wait("problem written with the configuration", func(c *metav1.Condition) bool {
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonPeerProblems && c.Message == "BGPPeer b: left out"
	})
	if valid := api.condition(ConditionValid); valid == nil || valid.Status != metav1.ConditionTrue {
		t.Errorf("ConfigurationValid = %+v, want True beside the peer problems", valid)
	}
	r.ReportPeers(nil)
	wait("problem gone", func(c *metav1.Condition) bool {
		return c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "every BGPPeer")
	})
}

// A speaker's BFD sessions become the BFDSessionsUp condition: True when
// every one is Up, False when one is not, gone when it has none.
func TestReporterWritesBFDSessions(t *testing.T) {
	r, api := newTestReporter(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	wait := func(what string, ok func(*metav1.Condition) bool) {
		t.Helper()
		waitForCondition(t, api, ConditionBFD, what, ok)
	}
	up := "router-v4 172.30.0.254: Up, transmit 100ms, detection 300ms"
	r.ReportBFD(BFDReport{Lines: []string{up}}) // before any configuration: kept for the first write
	r.Report(nil, config.Resources{})
	wait("sessions Up", func(c *metav1.Condition) bool {
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == ReasonBFDUp && c.Message == up
	})
	down := "router-v6 fd00::fe: Down (control detection time expired)"
	r.ReportBFD(BFDReport{Lines: []string{up, down}, NotUp: 1})
	wait("one session Down", func(c *metav1.Condition) bool {
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonBFDNotUp && c.Message == up+"\n"+down
	})
	r.Report(nil, config.Resources{}) // a new configuration keeps the sessions' condition
	r.ReportBFD(BFDReport{})
	wait("no session", func(c *metav1.Condition) bool { return c == nil })
	if valid := api.condition(ConditionValid); valid == nil || valid.Status != metav1.ConditionTrue {
		t.Errorf("ConfigurationValid = %+v, want True beside the BFD sessions", valid)
	}
}
