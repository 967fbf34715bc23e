//go:build heapprofile

package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
)

// HeapProfileAddr is where a speaker built with -tags heapprofile serves
// net/http/pprof, on loopback of its network namespace: the lab's
// BenchmarkBGPScale saves its heap profile from there when
// IRONLB_HEAP_PROFILE names a file (GOFLAGS=-tags=heapprofile reaches the
// lab's image build). Shipped builds have no such endpoint.
const HeapProfileAddr = "127.0.0.1:6061"

func init() {
	go func() {
		if err := http.ListenAndServe(HeapProfileAddr, nil); err != nil {
			slog.Error("heap profile endpoint", "addr", HeapProfileAddr, "err", err)
		}
	}()
}
