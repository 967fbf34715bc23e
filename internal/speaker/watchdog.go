package speaker

import (
	"fmt"
	"sync/atomic"
	"time"
)

// The main loop beats every heartbeatInterval, between plans; /healthz
// fails once no beat came for stuckAfter, so the kubelet restarts a speaker
// whose loop hangs (a call without answer, a deadlock) instead of leaving
// it a member that answers from a stale plan. Every call the loop makes to
// GoBGP or the API server has a deadline well below stuckAfter.
const (
	heartbeatInterval = 5 * time.Second
	stuckAfter        = 2 * time.Minute
	// loopCallTimeout bounds one plan's calls to GoBGP and the API server.
	loopCallTimeout = 30 * time.Second
)

// watchdog records the main loop's last beat.
type watchdog struct {
	last atomic.Int64 // unix nanoseconds; 0 before the loop started
}

func (w *watchdog) beat(now time.Time) { w.last.Store(now.UnixNano()) }

// healthy returns nil unless the loop started and then did not beat for
// stuckAfter.
func (w *watchdog) healthy(now time.Time) error {
	last := w.last.Load()
	if last == 0 {
		return nil // starting: readiness, not liveness, says so
	}
	if since := now.Sub(time.Unix(0, last)); since > stuckAfter {
		return fmt.Errorf("main loop stuck: no progress for %v", since.Round(time.Second))
	}
	return nil
}
