package layer2

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// A BGPPeer whose password is in a Secret; it selects no node, so no
// session is opened. Deleting the Secret (Secrets are not checked at
// admission) makes the whole configuration invalid.
const (
	startupSecretName = "l2e2e-startup-password"
	startupSecret     = `apiVersion: v1
kind: Secret
metadata: {name: l2e2e-startup-password, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {password: s3cret}
`
	startupPeer = `apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: l2e2e-startup, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64500
  peerAddress: 192.0.2.1
  passwordSecret: {name: l2e2e-startup-password, namespace: metallb-system}
  nodeSelectors:
  - matchLabels: {lab.ironlb.io/node: none}
`
)

// TestStartingSpeakerJoinsOnlyWhenItCanAnswer: a speaker that starts while
// the configuration is refused cannot answer for anything, so it must not
// join the memberlist cluster: the other speakers would elect it owner of
// addresses nobody then answers for. It stays out (the others count one
// member fewer, its /readyz fails) until the configuration is valid again,
// and then joins. The speaker starts as on a new node, with no last valid
// configuration saved (a saved one would let it answer, and join: see
// docs/reliability.md); the lab's nodes share the state hostPath, so the
// test empties it.
func TestStartingSpeakerJoinsOnlyWhenItCanAnswer(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	waitMembers(t, l)
	n := l.NodeCount()
	i := n // the starting speaker's node
	if err := l.Apply(ctx, startupSecret+"---\n"+startupPeer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		l.Apply(ctx, startupSecret) // the BGPPeer cannot be deleted while it is refused
		l.Kubectl(ctx, "", "delete", "-n", lab.IronLBNamespace, "bgppeer/l2e2e-startup", "secret/"+startupSecretName, "--ignore-not-found")
	})
	waitStale(t, l, 0, allNodes(l)...)

	restartSpeaker(t, l, i)
	if err := l.KillSpeaker(i, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := l.KubeClient().CoreV1().Secrets(lab.IronLBNamespace).Delete(ctx, startupSecretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	others := allNodes(l)[:n-1]
	waitStale(t, l, 1, others...)
	saved, _ := filepath.Glob(filepath.Join(lab.SpeakerStateHostPath, "*"))
	for _, file := range saved { // the directory stays: running speakers mount it
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.StartSpeaker(i); err != nil {
		t.Fatal(err)
	}
	// It runs and has read the refused configuration (a speaker that never
	// loaded one reports loaded 0, not stale)...
	lab.Eventually(t, 30*time.Second, "the started speaker read the refused configuration", func() error {
		updates, err := speakerMetric(ctx, l, i, "metallb_k8s_client_updates_total")
		if err != nil {
			return err
		}
		loaded, err := speakerMetric(ctx, l, i, "metallb_k8s_client_config_loaded_bool")
		if err != nil {
			return err
		}
		if updates < 1 || loaded != 0 {
			return fmt.Errorf("%s: %v updates, config loaded %v", lab.NodeName(i), updates, loaded)
		}
		return nil
	})
	// ...and stays out of the cluster while it cannot answer.
	for range 8 {
		time.Sleep(250 * time.Millisecond)
		for _, o := range others {
			if got, err := l.MemberCount(ctx, o); err != nil || got != n-1 {
				t.Fatalf("%s sees %d members (%v) while %s's speaker has no valid configuration, want %d", lab.NodeName(o), got, err, lab.NodeName(i), n-1)
			}
		}
		if code := readyz(ctx, l, i); code == "200" {
			t.Fatalf("%s's speaker reports ready without a valid configuration", lab.NodeName(i))
		}
	}

	if err := l.Apply(ctx, startupSecret); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, l)
	lab.Eventually(t, 30*time.Second, "the started speaker reports ready", func() error {
		if code := readyz(ctx, l, i); code != "200" {
			return fmt.Errorf("/readyz answers %q", code)
		}
		return nil
	})
}

func allNodes(l *lab.Lab) []int {
	var out []int
	for _, n := range l.Nodes() {
		out = append(out, n.Index)
	}
	return out
}

// waitStale waits until the speakers of the given nodes report
// metallb_k8s_client_config_stale_bool want.
func waitStale(tb testing.TB, l *lab.Lab, want float64, nodes ...int) {
	tb.Helper()
	lab.Eventually(tb, 30*time.Second, fmt.Sprintf("config_stale_bool %v on nodes %v", want, nodes), func() error {
		for _, i := range nodes {
			got, err := speakerMetric(context.Background(), l, i, "metallb_k8s_client_config_stale_bool")
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s: config_stale_bool %v", lab.NodeName(i), got)
			}
		}
		return nil
	})
}

// speakerMetric returns the value of an unlabelled metric of node i's
// speaker.
func speakerMetric(ctx context.Context, l *lab.Lab, i int, name string) (float64, error) {
	body, err := l.Node(i).Exec(ctx, "curl", "-sf", "--max-time", "2", "http://127.0.0.1:7472/metrics")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(body) {
		if value, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			_, err := fmt.Sscan(value, &v)
			return v, err
		}
	}
	return 0, fmt.Errorf("%s: no %s in /metrics", lab.NodeName(i), name)
}

// readyz returns the HTTP status code node i's speaker answers /readyz with.
func readyz(ctx context.Context, l *lab.Lab, i int) string {
	out, _ := l.Node(i).Exec(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "http://127.0.0.1:7472/readyz")
	return strings.TrimSpace(out)
}
