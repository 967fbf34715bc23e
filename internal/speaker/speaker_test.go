package speaker

import (
	"testing"
	"time"
)

func TestCoalesceWait(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name                string
		lastCost, sinceLast time.Duration
		want                time.Duration
	}{
		{"first plan", 0, time.Since(time.Time{}), 0},
		{"quick plans never wait", 200 * time.Microsecond, ms, 0},
		{"a change right after a long plan", 80 * ms, 5 * ms, 235 * ms},
		{"a change long after a long plan", 80 * ms, 300 * ms, 0},
		{"bounded", 5 * time.Second, 0, maxCoalesceWait},
	}
	for _, tt := range tests {
		if got := coalesceWait(tt.lastCost, tt.sinceLast); got != tt.want {
			t.Errorf("%s: coalesceWait(%s, %s) = %s, want %s", tt.name, tt.lastCost, tt.sinceLast, got, tt.want)
		}
	}
}
