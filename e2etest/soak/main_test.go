// Package soak runs ironlb (installed as pods) under hours of churn —
// Services created and deleted, some sharing an address, a pool shrunk and
// grown, the controller and speakers killed — while an invariant checker
// looks for an address shown by two Services that may not share it, a
// Service left without its address, an address answered by two nodes or by
// none, and an address still answered after its Service went away. It
// reports the violations and the memory and goroutines of a speaker and the
// controller over time. `make soak` runs it; IRONLB_SOAK_DURATION sets how
// long (default 2h). Without that variable the package does nothing, so
// `go test ./e2etest/...` does not start a soak.
package soak

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// durationVariable names the soak's duration.
const durationVariable = "IRONLB_SOAK_DURATION"

func TestMain(m *testing.M) {
	if os.Getenv(durationVariable) == "" {
		fmt.Println("soak: " + durationVariable + " not set (make soak sets it): nothing to do")
		os.Exit(0)
	}
	os.Exit(lab.Main(m, lab.Options{Pods: true}))
}

// soakDuration returns the duration IRONLB_SOAK_DURATION asks for.
func soakDuration(t *testing.T) time.Duration {
	d, err := time.ParseDuration(os.Getenv(durationVariable))
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration such as 2h or 15m", durationVariable, os.Getenv(durationVariable))
	}
	return d
}
