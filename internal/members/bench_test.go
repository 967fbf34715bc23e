package members

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkDetection measures, on three members over loopback with the
// default timing, how long the two survivors take to drop the third from
// their member sets: after a crash (Shutdown without Leave) and after a
// graceful Leave. Each op is one three-member cluster; detect-ms-mean and
// detect-ms-max cover both survivors of every op.
func BenchmarkDetection(b *testing.B) {
	b.Run("crash", func(b *testing.B) {
		measureDetection(b, func(l *List) { l.Shutdown() })
	})
	b.Run("leave", func(b *testing.B) {
		measureDetection(b, func(l *List) { l.Leave(time.Second); l.Shutdown() })
	})
}

func measureDetection(b *testing.B, stop func(*List)) {
	var samples []time.Duration
	for b.Loop() {
		a, s, c := cluster(b)
		drain(a)
		drain(s)
		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)
		start := time.Now()
		for _, l := range []*List{a, s} {
			wg.Go(func() {
				for ms := range l.Changes() {
					if !slices.ContainsFunc(ms, func(m Member) bool { return m.Name == "c" }) {
						mu.Lock()
						samples = append(samples, time.Since(start))
						mu.Unlock()
						return
					}
				}
			})
		}
		stop(c)
		wg.Wait()
		a.Shutdown()
		s.Shutdown()
	}
	var sum, worst time.Duration
	for _, d := range samples {
		sum += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(sum)/float64(len(samples))/1e6, "detect-ms-mean")
	b.ReportMetric(float64(worst)/1e6, "detect-ms-max")
}

func drain(l *List) {
	select {
	case <-l.Changes():
	default:
	}
}
