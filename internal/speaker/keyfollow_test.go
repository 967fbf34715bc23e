package speaker

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/members"
	"github.com/ironlb/ironlb/internal/metrics"
)

// TestFollowKeysInstallsAndKeeps runs the key follower on a real member:
// a new accepted key in the mounted directory is installed and saved; the
// directory emptied (Secret deleted) keeps the keys and says so in an Event.
func TestFollowKeysInstallsAndKeeps(t *testing.T) {
	secretDir, stateDir := t.TempDir(), t.TempDir()
	writeKey := func(name string, content []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(secretDir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKey("secretkey", secretOld)
	recorder := record.NewFakeRecorder(10)
	s := New(nil, recorder, slog.New(slog.DiscardHandler), Options{
		NodeName: "node1", MemberlistSecretDir: secretDir, StateDir: stateDir,
		Metrics: Metrics{Speaker: metrics.NewSpeaker(prometheus.NewRegistry(), "node1")},
	})
	keys, _, err := s.initialKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg := members.DefaultConfig()
	cfg.NodeName, cfg.BindAddr, cfg.Port, cfg.Keys = "node1", netip.MustParseAddr("127.0.0.1"), 0, keys
	if s.members, err = members.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.members.Shutdown() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.followKeys(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	writeKey("secretkey.next", secretNew)
	want := members.Keys{Primary: derived(t, secretOld), Accepted: [][]byte{derived(t, secretNew)}}
	waitEvent(t, recorder, ReasonMemberlistKeyChanged)
	if got := s.members.Keys(); !got.Equal(want) {
		t.Fatalf("keys %s after secretkey.next appeared, want %s", got, want)
	}
	if saved, err := loadSavedKeys(stateDir, ""); err != nil || string(saved["secretkey.next"]) != string(secretNew) {
		t.Fatalf("saved %q, %v; want the new key saved for the next restart", saved, err)
	}

	for _, name := range []string{"secretkey", "secretkey.next"} {
		if err := os.Remove(filepath.Join(secretDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, recorder, ReasonMemberlistKeyKept)
	if got := s.members.Keys(); !got.Equal(want) {
		t.Fatalf("keys %s after the Secret was deleted, want the same %s", got, want)
	}
}

// TestNewInstallationWaitsForItsSecret: a speaker of a new installation on
// a node where an uninstalled one saved its keys, with no Secret mounted
// yet, does not start with those keys (its controller, seeing a Ready
// speaker with a key it never saw, would create no Secret): it waits for
// the Secret of its own installation.
func TestNewInstallationWaitsForItsSecret(t *testing.T) {
	secretDir, stateDir := t.TempDir(), t.TempDir()
	if err := saveKeys(stateDir, "uninstalled-ds", map[string][]byte{"secretkey": secretOld}); err != nil {
		t.Fatal(err)
	}
	kube := fake.NewClientset()
	s := New(&k8s.Clients{Kube: kube}, record.NewFakeRecorder(10), slog.New(slog.DiscardHandler), Options{
		NodeName: "node1", Namespace: "metallb-system", MemberlistSecretDir: secretDir, StateDir: stateDir,
	})
	s.installation = "new-ds"
	type result struct {
		keys members.Keys
		err  error
	}
	done := make(chan result, 1)
	go func() {
		keys, _, err := s.initialKeys(t.Context())
		done <- result{keys, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("started with %s (%v) before the installation's Secret exists", r.keys, r.err)
	case <-time.After(2 * keyPollInterval):
	}
	// The new controller creates the Secret.
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: k8s.MemberlistSecret, Namespace: "metallb-system"},
		Data: map[string][]byte{k8s.MemberlistSecretKey: secretNew}}
	if _, err := kube.CoreV1().Secrets("metallb-system").Create(t.Context(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if want := (members.Keys{Primary: derived(t, secretNew)}); r.err != nil || !r.keys.Equal(want) {
		t.Fatalf("started with %s, %v; want the new Secret's %s", r.keys, r.err, want)
	}
}

func waitEvent(t *testing.T, recorder *record.FakeRecorder, reason string) {
	t.Helper()
	timeout := time.After(10 * keyPollInterval)
	for {
		select {
		case e := <-recorder.Events:
			if strings.Contains(e, reason) {
				return
			}
		case <-timeout:
			t.Fatalf("no %s Event", reason)
		}
	}
}
