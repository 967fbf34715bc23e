package layer2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/members"
)

// TestMemberlistSecretDeletedAndKeyRotated is the fault-table row "memberlist
// Secret deleted and recreated; key rotated": the Secret is deleted (the
// controller recreates it with the same key) and a speaker restarted right
// after, which rejoins; then the key is rotated in the documented three steps while the
// speakers run. Throughout, every speaker sees every other (one ring), no
// message fails to decrypt, and only the Service's owner answers for it.
func TestMemberlistSecretDeletedAndKeyRotated(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	secrets := l.KubeClient().CoreV1().Secrets(lab.IronLBNamespace)
	original, err := secrets.Get(ctx, "memberlist", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitMembers(t, l)
	svc := createService(t, "keyrotation", nil)
	owner := waitOwner(t, l, svc, "the Service has an owner", anyNode)
	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	start := time.Now()
	if err := secrets.Delete(ctx, "memberlist", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, 30*time.Second, "the controller recreates the memberlist Secret", func() error {
		got, err := secrets.Get(ctx, "memberlist", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !maps.EqualFunc(got.Data, original.Data, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("the recreated Secret holds other keys than the deleted one: a restarted speaker would split the ring")
		}
		return nil
	})
	t.Logf("Secret recreated with the same key %v after its deletion", time.Since(start).Round(time.Millisecond))
	restarted := nodeIndex(t, l, owner)%l.NodeCount() + 1
	if err := l.KillSpeakerContainer(ctx, restarted); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, l)
	t.Logf("%s's speaker, restarted after the Secret was recreated, rejoined: one ring", l.Node(restarted).Name)

	failuresBefore := decryptFailures(t, l)
	ring := watchRing(ctx, l)
	rotationStart := time.Now()
	oldSecret := original.Data["secretkey"]
	newSecret := []byte(fmt.Sprintf("a rotated memberlist key for the lab, %d", time.Now().UnixNano()))
	steps := []struct {
		name string
		data map[string][]byte
	}{
		{"1: accept the new key everywhere", map[string][]byte{"secretkey": oldSecret, "secretkey.next": newSecret}},
		{"2: send with the new key", map[string][]byte{"secretkey": newSecret, "secretkey.previous": oldSecret}},
		{"3: drop the old key", map[string][]byte{"secretkey": newSecret}},
	}
	for _, step := range steps {
		stepStart := time.Now()
		secret, err := secrets.Get(ctx, "memberlist", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		secret.Data = step.data
		if _, err := secrets.Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want := keyInfo(t, step.data)
		lab.Eventually(t, 3*time.Minute, "step "+step.name+" reaches every speaker", func() error {
			for _, n := range l.Nodes() {
				got, err := speakerKeys(ctx, l, n.Index)
				if err != nil {
					return err
				}
				if !slices.Equal(got, want) {
					return fmt.Errorf("%s holds %v, want %v", n.Name, got, want)
				}
			}
			return nil
		})
		t.Logf("rotation step %s on every speaker after %v", step.name, time.Since(stepStart).Round(time.Second))
	}

	minMembers, samples := ring.stop()
	t.Logf("ring: %d samples of every speaker's member count over the %v rotation, smallest %d of %d", samples, time.Since(rotationStart).Round(time.Second), minMembers, l.NodeCount())
	if minMembers != l.NodeCount() {
		t.Errorf("a speaker saw %d members during the rotation, want %d throughout (one ring)", minMembers, l.NodeCount())
	}
	if after := decryptFailures(t, l); after != failuresBefore {
		t.Errorf("decryption failures went from %d to %d during the rotation, want none", failuresBefore, after)
	}
	checkOnlyOwnerAnnounced(t, l, capture, svc, owner, "during the deletion and the rotation")
	if err := checkOwner(ctx, l, svc, owner); err != nil {
		t.Errorf("after the rotation: %v", err)
	}
}

// keyInfo returns the ironlb_memberlist_key_info series a speaker holding
// the Secret data shows, as "role/fingerprint", sorted.
func keyInfo(t *testing.T, data map[string][]byte) []string {
	t.Helper()
	var out []string
	for name, secret := range data {
		key, err := members.DeriveKey(secret)
		if err != nil {
			t.Fatal(err)
		}
		role := "accepted"
		if name == "secretkey" {
			role = "primary"
		}
		out = append(out, role+"/"+members.Fingerprint(key))
	}
	slices.Sort(out)
	return out
}

// speakerMetrics returns node i's speaker's /metrics.
func speakerMetrics(ctx context.Context, l *lab.Lab, i int) (string, error) {
	return l.Node(i).Exec(ctx, "curl", "-sf", "--max-time", "2", "http://127.0.0.1:7472/metrics")
}

// speakerKeys returns node i's ironlb_memberlist_key_info series as
// "role/fingerprint", sorted.
func speakerKeys(ctx context.Context, l *lab.Lab, i int) ([]string, error) {
	body, err := speakerMetrics(ctx, l, i)
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(body) {
		labels, ok := strings.CutPrefix(line, "ironlb_memberlist_key_info{")
		if !ok {
			continue
		}
		var fingerprint, role string
		for _, kv := range strings.Split(labels[:strings.Index(labels, "}")], ",") {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "fingerprint":
				fingerprint = v
			case "role":
				role = v
			}
		}
		out = append(out, role+"/"+fingerprint)
	}
	slices.Sort(out)
	return out, nil
}

// decryptFailures sums every speaker's ironlb_memberlist_decrypt_failures_total.
func decryptFailures(t *testing.T, l *lab.Lab) int {
	t.Helper()
	total := 0
	for _, n := range l.Nodes() {
		body, err := speakerMetrics(t.Context(), l, n.Index)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(body) {
			if v, ok := strings.CutPrefix(line, "ironlb_memberlist_decrypt_failures_total "); ok {
				var f float64
				fmt.Sscan(v, &f) //nolint:errcheck // a malformed value counts as 0 and fails the comparison
				total += int(f)
			}
		}
	}
	return total
}

// ringWatcher samples every speaker's member count until stopped.
type ringWatcher struct {
	cancel  context.CancelFunc
	done    sync.WaitGroup
	min     int
	samples int
}

// watchRing samples every speaker's ironlb_memberlist_members about every
// 200 ms; a speaker being restarted (no answer) is skipped.
func watchRing(ctx context.Context, l *lab.Lab) *ringWatcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &ringWatcher{cancel: cancel, min: l.NodeCount()}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for ctx.Err() == nil {
			for _, n := range l.Nodes() {
				if got, err := l.MemberCount(ctx, n.Index); err == nil {
					w.min = min(w.min, got)
					w.samples++
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *ringWatcher) stop() (minMembers, samples int) {
	w.cancel()
	w.done.Wait()
	return w.min, w.samples
}
