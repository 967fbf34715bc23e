package memlimit

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go runtime lets the heap grow to twice its live data before it
// collects (GOGC=100) and returns freed pages to the kernel slowly, so a
// speaker holding 70 MB of Services keeps up to twice that resident, on
// every node. While the process is quiet (allocating under quietRate) the
// trimmer keeps the heap it holds within max(minWaste, a quarter of the
// live data) of the live data: past that it collects and returns the free
// pages at once (debug.FreeOSMemory). During a burst of work it does
// nothing: GOGC and the soft memory limit govern. Measured in the lab with
// 10,000 Services (docs/bgp.md), a collection every ~45 s, each returning
// ~33 MB.

// Heap figures the release decision reads, in bytes.
type HeapSample struct {
	// Allocated is the total ever allocated on the heap (it only grows).
	Allocated uint64
	// Live is the heap the last collection found reachable.
	Live uint64
	// Retained is the heap held from the kernel: objects (live or
	// garbage) and free pages not yet returned.
	Retained uint64
}

// Release thresholds.
const (
	// ReleaseInterval is how often the heap is sampled.
	ReleaseInterval = 5 * time.Second
	// quietRate is the allocation rate under which the process counts as
	// quiet (an idle speaker allocates a few kB/s for gossip and scrapes).
	quietRate = 1 << 20 // bytes per second
	// minWaste is the least held-but-unused heap worth a release.
	minWaste = 32 << 20
)

// ShouldRelease decides from two samples taken period apart whether to
// release the unused heap now: the process was quiet during the period,
// and the heap it holds beyond the live data is at least minWaste and a
// quarter of the live data. Live is as the last collection found it, which
// may have run in the middle of the burst: the waste is then understated,
// never overstated.
func ShouldRelease(previous, current HeapSample, period time.Duration) bool {
	if period <= 0 || current.Allocated < previous.Allocated {
		return false
	}
	quiet := float64(current.Allocated-previous.Allocated) < quietRate*period.Seconds()
	if !quiet || current.Retained <= current.Live {
		return false
	}
	waste := current.Retained - current.Live
	return waste >= max(minWaste, current.Live/4)
}

// runtimeMetrics are the runtime/metrics names a HeapSample is read from.
var runtimeMetrics = []string{
	"/gc/heap/allocs:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
}

// readHeap samples the runtime's heap figures.
func readHeap(samples []metrics.Sample) HeapSample {
	metrics.Read(samples)
	value := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	return HeapSample{Allocated: value(0), Live: value(1), Retained: value(2) + value(3)}
}

// TrimHeapWhenQuiet samples the heap every interval (ReleaseInterval)
// until ctx ends and returns the unused heap to the kernel when
// ShouldRelease says so.
func TrimHeapWhenQuiet(ctx context.Context, log *slog.Logger, interval time.Duration) {
	samples := make([]metrics.Sample, len(runtimeMetrics))
	for i, name := range runtimeMetrics {
		samples[i].Name = name
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	previous, at := readHeap(samples), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			current := readHeap(samples)
			if ShouldRelease(previous, current, now.Sub(at)) {
				debug.FreeOSMemory()
				after := readHeap(samples)
				log.Debug("returned unused heap to the kernel", "heldMiB", current.Retained>>20, "liveMiB", after.Live>>20, "nowHeldMiB", after.Retained>>20)
				current = after
			}
			previous, at = current, time.Now()
		}
	}
}
