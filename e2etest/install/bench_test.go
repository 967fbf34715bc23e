package install

import (
	"testing"

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
		got, err := installAndServe(ctx, l, "bench")
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
