package memlimit

import (
	"context"
	"log/slog"
	"runtime/metrics"
	"testing"
	"time"
)

const mib = 1 << 20

func TestShouldRelease(t *testing.T) {
	period := 5 * time.Second
	quietAllocs := uint64(period.Seconds()*quietRate) - 1
	tests := []struct {
		name              string
		previous, current HeapSample
		period            time.Duration
		want              bool
	}{
		{"quiet, heap more than twice the live data", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 1000*mib + quietAllocs, Live: 66 * mib, Retained: 190 * mib}, period, true},
		{"busy: a burst still allocating", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 1000*mib + quietAllocs + 1, Live: 66 * mib, Retained: 190 * mib}, period, false},
		{"waste below a quarter of the live data", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 1000 * mib, Live: 400 * mib, Retained: 499 * mib}, period, false},
		{"waste a quarter of the live data", HeapSample{Allocated: 1000 * mib}, HeapSample{Allocated: 1000 * mib, Live: 400 * mib, Retained: 500 * mib}, period, true},
		{"small heap: waste under minWaste", HeapSample{Allocated: 10 * mib}, HeapSample{Allocated: 10 * mib, Live: 8 * mib, Retained: 30 * mib}, period, false},
		{"waste exactly minWaste", HeapSample{}, HeapSample{Live: 8 * mib, Retained: 8*mib + minWaste}, period, true},
		{"nothing held beyond the live data", HeapSample{}, HeapSample{Live: 100 * mib, Retained: 100 * mib}, period, false},
		{"live above retained (samples between a collection's steps)", HeapSample{}, HeapSample{Live: 100 * mib, Retained: 90 * mib}, period, false},
		{"no period", HeapSample{}, HeapSample{Live: 66 * mib, Retained: 190 * mib}, 0, false},
		{"counter went back (not one process)", HeapSample{Allocated: 2000 * mib}, HeapSample{Allocated: 1000 * mib, Live: 66 * mib, Retained: 190 * mib}, period, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ShouldRelease(tt.previous, tt.current, tt.period); got != tt.want {
				t.Errorf("ShouldRelease(%+v, %+v, %s) = %v, want %v", tt.previous, tt.current, tt.period, got, tt.want)
			}
		})
	}
}

// sink keeps the burst's allocations reachable until the test drops them.
var sink [][]byte

// TestTrimHeapWhenQuietReturnsTheHeap runs the trimmer on this process:
// after a burst leaves much more heap than live data and the process goes
// quiet, the heap it holds comes back down near the live data.
func TestTrimHeapWhenQuietReturnsTheHeap(t *testing.T) {
	samples := make([]metrics.Sample, len(runtimeMetrics))
	for i, name := range runtimeMetrics {
		samples[i].Name = name
	}
	for range 128 {
		sink = append(sink, make([]byte, mib))
	}
	sink = nil // the burst is over: 128 MiB of garbage
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { TrimHeapWhenQuiet(ctx, slog.New(slog.DiscardHandler), 100*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		heap := readHeap(samples)
		if heap.Retained < heap.Live+minWaste {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the heap still holds %d MiB for %d MiB of live data", heap.Retained/mib, heap.Live/mib)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
