package install

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// BenchmarkInstall measures a user's install on real nodes: from `kubectl
// apply -f metallb-native.yaml` to the controller and every speaker Ready
// (ready-s), and to the first answer through a new LoadBalancer Service
// backed by pods (first-answer-s). Each round uninstalls afterwards.
func BenchmarkInstall(b *testing.B) {
	l := lab.Shared(b)
	ctx := b.Context()
	var ready, answer float64
	for b.Loop() {
		got, err := installAndServe(ctx, l, "bench", corev1.ServiceExternalTrafficPolicyCluster)
		if err != nil {
			b.Fatal(err)
		}
		ready += got.ready.Seconds()
		answer += got.firstAnswer.Seconds()
		b.StopTimer()
		if err := uninstall(ctx, l, "bench"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(ready/float64(b.N), "ready-s")
	b.ReportMetric(answer/float64(b.N), "first-answer-s")
}

// failoverTrials is how many crashes BenchmarkL2FailoverCrashPods times; the
// kubelet's restart back-off (10 s, 20 s, ...) makes each one slower.
const failoverTrials = 5

// BenchmarkL2FailoverCrashPods kills the speaker container of the node that
// owns a layer 2 Service IP (SIGKILL through containerd, as a crash) and
// times until the client gets an answer from another node
// (externalTrafficPolicy: Local, so the answering node is the announcing
// one). It reports p50-s and p99-s over failoverTrials crashes.
func BenchmarkL2FailoverCrashPods(b *testing.B) {
	l := lab.Shared(b)
	ctx := b.Context()
	got, err := installAndServe(ctx, l, "failover", corev1.ServiceExternalTrafficPolicyLocal)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := uninstall(context.Background(), l, "failover"); err != nil {
			b.Error(err)
		}
	})
	var took []time.Duration
	for range failoverTrials {
		owner, err := steadyAnswer(ctx, l, got.ip)
		if err != nil {
			b.Fatal(err)
		}
		i := nodeIndex(owner)
		restarts, err := speakerRestarts(ctx, l, i)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := l.KillSpeakerContainer(ctx, i); err != nil {
			b.Fatal(err)
		}
		if _, err := answerOtherThan(ctx, l, got.ip, owner, 20*time.Second); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		lab.Eventually(b, 3*time.Minute, "the killed speaker restarted and Ready", func() error {
			return speakerRestarted(ctx, l, i, restarts)
		})
	}
	slices.Sort(took)
	b.ReportMetric(took[len(took)/2].Seconds(), "p50-s")
	b.ReportMetric(took[(len(took)*99+99)/100-1].Seconds(), "p99-s")
	b.Logf("failovers: %v", took)
}

// steadyAnswer returns the node that answers on ip three times in a row.
func steadyAnswer(ctx context.Context, l *lab.Lab, ip netip.Addr) (string, error) {
	last, same := "", 0
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		answer, err := l.Client().Curl(ctx, ip)
		if err != nil || answer != last {
			last, same = answer, 0
			continue
		}
		if same++; same == 2 {
			return answer, nil
		}
	}
	return "", fmt.Errorf("no steady answer on %s within a minute (last %q)", ip, last)
}

// answerOtherThan polls ip every 10 ms until a node other than owner
// answers, and returns it.
func answerOtherThan(ctx context.Context, l *lab.Lab, ip netip.Addr, owner string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		probe, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		answer, err := l.Client().Curl(probe, ip)
		cancel()
		if err == nil && answer != owner {
			return answer, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("only %s answered on %s for %s", owner, ip, timeout)
}

// nodeIndex is the index of node name ("node2" → 2).
func nodeIndex(name string) int {
	var i int
	fmt.Sscanf(name, "node%d", &i)
	return i
}
