// Package memlimit gives the Go runtime a soft memory limit below the
// container's hard one. The manifests pass the container's memory limit
// through the downward API (resourceFieldRef limits.memory, in bytes) in
// EnvVar; with the soft limit the garbage collector works harder as the
// process nears it, instead of letting the heap grow to twice its live data
// (GOGC=100) and the kernel kill the container. TrimHeapWhenQuiet keeps a
// quiet process's heap near its live data: it collects with a lower GOGC
// while the process allocates little, and returns the free heap to the
// kernel after a burst.
package memlimit

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
)

// EnvVar holds the container's memory limit in bytes.
const EnvVar = "IRONLB_MEMORY_LIMIT"

// Fraction is the share of the container's limit the Go runtime keeps its
// memory under; the rest is for what the runtime does not count (the
// binary's mapped pages, memory outside the Go heap) and for the garbage
// collector to catch up.
const Fraction = 0.9

// Soft returns the soft memory limit for a container limit in bytes (the
// value of EnvVar); ok is false when there is none to set: the variable is
// empty, or GOMEMLIMIT is set (goMemLimit), which the runtime applies itself
// and which wins.
func Soft(containerLimit, goMemLimit string) (limit int64, ok bool, err error) {
	if containerLimit == "" || goMemLimit != "" {
		return 0, false, nil
	}
	bytes, err := strconv.ParseInt(containerLimit, 10, 64)
	if err != nil || bytes <= 0 {
		return 0, false, fmt.Errorf("%s=%q: not a memory limit in bytes", EnvVar, containerLimit)
	}
	return int64(math.Floor(float64(bytes) * Fraction)), true, nil
}

// Apply sets the soft limit from the environment, logging what it set or
// why it set none.
func Apply(log *slog.Logger) {
	limit, ok, err := Soft(os.Getenv(EnvVar), os.Getenv("GOMEMLIMIT"))
	switch {
	case err != nil:
		log.Warn("no soft memory limit", "err", err)
	case ok:
		debug.SetMemoryLimit(limit)
		log.Info("soft memory limit", "bytes", limit, "containerLimitBytes", os.Getenv(EnvVar))
	}
}
