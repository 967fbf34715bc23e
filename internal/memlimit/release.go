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
// speaker holding 60 MB of Services keeps up to twice that resident, on
// every node. That is the right trade during a burst of work, when the
// heap's headroom saves collections; it is waste while the process is
// quiet. So while the process is quiet (allocating under quietRate) the
// trimmer
//   - runs the collector with quietGCPercent instead of GOGC: the heap
//     grows only a tenth past its live data before the next collection,
//     and the runtime's scavenger returns what lies beyond that goal. A
//     collection costs about a mark of the live heap, so the collector's
//     share of a core is about the allocation rate divided by the
//     headroom, times the mark cost per byte: at quiet rates, under 1 MiB/s,
//     it stays small (an idle speaker with 10,000 Services allocates
//     about 160 kB/s: a collection of its 60 MB every ~40 s);
//   - once the heap it holds beyond the live data reaches max(minWaste, an
//     eighth of the live data), as after a burst, collects and returns the
//     free pages at once (debug.FreeOSMemory) instead of leaving that to
//     the scavenger's pace.
// When work resumes, GOGC and the soft memory limit govern again.

// Heap figures the pacing decision reads, in bytes.
type HeapSample struct {
	// Allocated is the total ever allocated on the heap (it only grows).
	Allocated uint64
	// Live is the heap the last collection found reachable.
	Live uint64
	// Retained is the heap held from the kernel: objects (live or
	// garbage) and free pages not yet returned.
	Retained uint64
}

// Pacing thresholds.
const (
	// SampleInterval is how often the heap is sampled: the trimmer acts
	// within two of them after a burst ends.
	SampleInterval = 2 * time.Second
	// quietRate is the allocation rate under which the process counts as
	// quiet (an idle speaker allocates some hundred kB/s for gossip,
	// probes and scrapes).
	quietRate = 1 << 20 // bytes per second
	// quietGCPercent is the collector's GOGC while the process is quiet.
	quietGCPercent = 10
	// minWaste is the least held-but-unused heap worth a release.
	minWaste = 8 << 20
)

// Pace is what the trimmer sets for the next sample period.
type Pace struct {
	// GCPercent is the collector's target heap growth (debug.SetGCPercent).
	GCPercent int
	// Release asks for a collection and the return of the free heap now.
	Release bool
}

// Decide paces the collector from two samples taken period apart. gogc is
// the collector's setting for busy periods (the process's GOGC): a quiet
// period gets quietGCPercent unless gogc is lower or collection is off
// (negative), and a release when the heap held beyond the live data is at
// least minWaste and an eighth of the live data. Live is as the last
// collection found it, which may have run in the middle of a burst: the
// waste is then understated, never overstated. Samples that cannot come
// from one process period apart count as busy.
func Decide(previous, current HeapSample, period time.Duration, gogc int) Pace {
	busy := Pace{GCPercent: gogc}
	if gogc < 0 || period <= 0 || current.Allocated < previous.Allocated {
		return busy
	}
	if float64(current.Allocated-previous.Allocated) >= quietRate*period.Seconds() {
		return busy
	}
	quiet := Pace{GCPercent: min(gogc, quietGCPercent)}
	if current.Retained > current.Live {
		waste := current.Retained - current.Live
		quiet.Release = waste >= max(minWaste, current.Live/8)
	}
	return quiet
}

// runtimeMetrics are the runtime/metrics names a HeapSample is read from,
// then the collector's GOGC.
var runtimeMetrics = []string{
	"/gc/heap/allocs:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/gc/gogc:percent",
}

// heapReader samples the runtime's heap figures.
type heapReader []metrics.Sample

func newHeapReader() heapReader {
	samples := make(heapReader, len(runtimeMetrics))
	for i, name := range runtimeMetrics {
		samples[i].Name = name
	}
	return samples
}

func (samples heapReader) value(i int) uint64 {
	if samples[i].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return samples[i].Value.Uint64()
}

func (samples heapReader) read() HeapSample {
	metrics.Read(samples)
	return HeapSample{Allocated: samples.value(0), Live: samples.value(1), Retained: samples.value(2) + samples.value(3)}
}

// gcPercent returns the collector's GOGC as the runtime has it, negative
// when collection is off.
func (samples heapReader) gcPercent() int {
	metrics.Read(samples)
	return int(int32(samples.value(4)))
}

// TrimHeapWhenQuiet samples the heap every interval (SampleInterval) until
// ctx ends and sets the collector's pace Decide gives. It restores the
// busy GOGC before it returns.
func TrimHeapWhenQuiet(ctx context.Context, log *slog.Logger, interval time.Duration) {
	heap := newHeapReader()
	gogc := heap.gcPercent()
	current := gogc
	defer func() { debug.SetGCPercent(gogc) }()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	previous, at := heap.read(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			sample := heap.read()
			pace := Decide(previous, sample, now.Sub(at), gogc)
			if pace.GCPercent != current {
				debug.SetGCPercent(pace.GCPercent)
				current = pace.GCPercent
			}
			if pace.Release {
				debug.FreeOSMemory()
				after := heap.read()
				log.Debug("returned unused heap to the kernel", "heldMiB", sample.Retained>>20, "liveMiB", after.Live>>20, "nowHeldMiB", after.Retained>>20)
				sample = after
			}
			previous, at = sample, time.Now()
		}
	}
}
