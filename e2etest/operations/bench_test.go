package operations

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// admissionTrials is the number of admission requests timed per benchmark
// iteration.
const admissionTrials = 50

// BenchmarkWebhookAdmission times one admission request through the real
// API server and the controller's webhook: a server-side dry-run create of
// a valid IPAddressPool (allowed) and of an L2Advertisement naming a missing
// pool (refused), from the client's call to its answer. Each decision reads
// the current configuration from the API server and builds it twice.
func BenchmarkWebhookAdmission(b *testing.B) {
	l := lab.Shared(b)
	if err := l.WaitWebhook(b.Context(), time.Minute); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, resource, object, refusal string
	}{
		{"allowed", "ipaddresspools", `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bench-pool, namespace: metallb-system}
spec: {addresses: [198.51.100.0/24]}
`, ""},
		{"refused", "l2advertisements", badAdvertisement, badAdvertisementMessage},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var obj unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(bc.object), &obj.Object); err != nil {
				b.Fatal(err)
			}
			client := l.Dynamic().Resource(schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: bc.resource}).
				Namespace(lab.IronLBNamespace)
			for b.Loop() {
				durations := make([]time.Duration, 0, admissionTrials)
				for range admissionTrials {
					start := time.Now()
					_, err := client.Create(context.Background(), &obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
					durations = append(durations, time.Since(start))
					switch {
					case bc.refusal == "" && err != nil:
						b.Fatalf("refused: %v", err)
					case bc.refusal != "" && (err == nil || !strings.Contains(err.Error(), bc.refusal)):
						b.Fatalf("want the refusal %q, got %v", bc.refusal, err)
					}
				}
				slices.Sort(durations)
				b.ReportMetric(ms(durations[len(durations)/2]), "p50-ms")
				b.ReportMetric(ms(durations[len(durations)*95/100]), "p95-ms")
				b.ReportMetric(ms(durations[len(durations)-1]), "max-ms")
			}
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
