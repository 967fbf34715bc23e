package memlimit

import (
	"context"
	"log/slog"
	"runtime/debug"
	"testing"
	"time"
)

const mib = 1 << 20

func TestDecide(t *testing.T) {
	period := 5 * time.Second
	quietAllocs := uint64(period.Seconds()*quietRate) - 1
	tests := []struct {
		name              string
		previous, current HeapSample
		period            time.Duration
		gogc              int
		want              Pace
	}{
		{"quiet, heap more than twice the live data", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 1000*mib + quietAllocs, Live: 66 * mib, Retained: 190 * mib}, period, 100, Pace{GCPercent: quietGCPercent, Release: true}},
		{"busy: a burst still allocating", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 1000*mib + quietAllocs + 1, Live: 66 * mib, Retained: 190 * mib}, period, 100, Pace{GCPercent: 100}},
		{"quiet, heap near the live data: only the lower GOGC", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 1000 * mib, Live: 66 * mib, Retained: 72 * mib}, period, 100, Pace{GCPercent: quietGCPercent}},
		{"waste below an eighth of the live data", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 1000 * mib, Live: 400 * mib, Retained: 449 * mib}, period, 100, Pace{GCPercent: quietGCPercent}},
		{"waste an eighth of the live data", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 1000 * mib, Live: 400 * mib, Retained: 450 * mib}, period, 100, Pace{GCPercent: quietGCPercent, Release: true}},
		{"small heap: waste under minWaste", HeapSample{Allocated: 10 * mib}, HeapSample{Allocated: 10 * mib, Live: 8 * mib, Retained: 15 * mib}, period, 100, Pace{GCPercent: quietGCPercent}},
		{"waste exactly minWaste", HeapSample{}, HeapSample{Live: 8 * mib, Retained: 8*mib + minWaste}, period, 100, Pace{GCPercent: quietGCPercent, Release: true}},
		{"nothing held beyond the live data", HeapSample{}, HeapSample{Live: 100 * mib, Retained: 100 * mib}, period, 100, Pace{GCPercent: quietGCPercent}},
		{"live above retained (samples between a collection's steps)", HeapSample{}, HeapSample{Live: 100 * mib, Retained: 90 * mib}, period, 100, Pace{GCPercent: quietGCPercent}},
		{"GOGC already below the quiet one stays", HeapSample{}, HeapSample{Live: 66 * mib, Retained: 70 * mib}, period, 5, Pace{GCPercent: 5}},
		{"GOGC higher when busy", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 2000 * mib}, period, 400, Pace{GCPercent: 400}},
		{"collection off stays off", HeapSample{}, HeapSample{Live: 66 * mib, Retained: 190 * mib}, period, -1, Pace{GCPercent: -1}},
		{"no period", HeapSample{}, HeapSample{Live: 66 * mib, Retained: 190 * mib}, 0, 100, Pace{GCPercent: 100}},
		{"counter went back (not one process)", HeapSample{Allocated: 2000 * mib}, HeapSample{Allocated: 1000 * mib, Live: 66 * mib, Retained: 190 * mib}, period, 100, Pace{GCPercent: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.previous, tt.current, tt.period, tt.gogc); got != tt.want {
				t.Errorf("Decide(%+v, %+v, %s, %d) = %+v, want %+v", tt.previous, tt.current, tt.period, tt.gogc, got, tt.want)
			}
		})
	}
}

// sink keeps the burst's allocations reachable until the test drops them.
var sink [][]byte

// TestTrimHeapWhenQuietReturnsTheHeap runs the trimmer on this process:
// after a burst leaves much more heap than live data and the process goes
// quiet, the heap it holds comes back down near the live data, the
// collector runs with the quiet GOGC, and the process's own GOGC is back
// once the trimmer stops.
func TestTrimHeapWhenQuietReturnsTheHeap(t *testing.T) {
	heap := newHeapReader()
	gogc := heap.gcPercent()
	for range 128 {
		sink = append(sink, make([]byte, mib))
	}
	sink = nil // the burst is over: 128 MiB of garbage
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { TrimHeapWhenQuiet(ctx, slog.New(slog.DiscardHandler), 100*time.Millisecond); close(done) }()
	stop := func() { cancel(); <-done }
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sample := heap.read()
		if sample.Retained < sample.Live+minWaste && heap.gcPercent() == min(gogc, quietGCPercent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the heap still holds %d MiB for %d MiB of live data, GOGC %d", sample.Retained/mib, sample.Live/mib, heap.gcPercent())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if got := heap.gcPercent(); got != gogc {
		t.Errorf("GOGC after the trimmer stopped = %d, want the process's %d", got, gogc)
	}
}

func TestGCPercentReadsOff(t *testing.T) {
	heap := newHeapReader()
	previous := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(previous)
	if got := heap.gcPercent(); got >= 0 {
		t.Errorf("gcPercent with collection off = %d, want negative", got)
	}
}
