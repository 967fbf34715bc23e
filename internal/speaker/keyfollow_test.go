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
	"k8s.io/client-go/tools/record"

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
	if saved, err := loadSavedKeys(stateDir); err != nil || string(saved["secretkey.next"]) != string(secretNew) {
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
