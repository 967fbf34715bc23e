package speaker

import (
	"testing"
	"time"
)

func TestWatchdog(t *testing.T) {
	start := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	var w watchdog
	if err := w.healthy(start.Add(time.Hour)); err != nil {
		t.Errorf("before the loop started: %v, want healthy", err)
	}
	w.beat(start)
	for _, tt := range []struct {
		after   time.Duration
		healthy bool
	}{
		{0, true},
		{heartbeatInterval, true},
		{stuckAfter, true},
		{stuckAfter + time.Second, false},
	} {
		if err := w.healthy(start.Add(tt.after)); (err == nil) != tt.healthy {
			t.Errorf("%v after the last beat: %v, want healthy %v", tt.after, err, tt.healthy)
		}
	}
	w.beat(start.Add(stuckAfter + 2*time.Second))
	if err := w.healthy(start.Add(stuckAfter + 3*time.Second)); err != nil {
		t.Errorf("after a new beat: %v, want healthy", err)
	}
}
