package ipam

import (
	"math"
	"testing"
)

func TestStats(t *testing.T) {
	a, err := New([]Pool{
		pool("a", "10.0.0.0/23", avoidBuggy),
		pool("b", "10.1.0.250-10.1.1.5 fd01::/120", avoidBuggy),
		pool("huge", "fd00::/64 2001:db8::/32", manual),
		pool("empty", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Request{
		svc("x", sharing("k", "TCP/1")),
		svc("y", sharing("k", "TCP/2")),
		svc("z"),
		svc("d", families(RequireDualStack, v4, v6), fromPool("b")),
		svc("h", families(SingleStack, v6), fromPool("huge")),
	} {
		if _, err := a.Assign(r); err != nil {
			t.Fatal(err)
		}
	}
	want := []PoolStats{
		{Pool: "a", AssignedIPv4: 2, AvailableIPv4: 512 - 4 - 2},
		{Pool: "b", AssignedIPv4: 1, AssignedIPv6: 1, AvailableIPv4: 12 - 2 - 1, AvailableIPv6: 256 - 1},
		{Pool: "empty"},
		{Pool: "huge", AssignedIPv6: 1, AvailableIPv6: math.MaxInt64},
	}
	got := a.Stats()
	if len(got) != len(want) {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Stats()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBuggyCount(t *testing.T) {
	tests := []struct {
		rng  string
		want int64
	}{
		{"10.0.0.0/24", 2},
		{"10.0.0.0/23", 4},
		{"10.0.0.1-10.0.0.254", 0},
		{"10.0.0.255-10.0.1.0", 2},
		{"10.0.0.0/32", 1},
		{"0.0.0.0/0", 1 << 25},
		{"fd00::/120", 0},
	}
	for _, tt := range tests {
		if got := buggyCount(mustRange(tt.rng)); got != tt.want {
			t.Errorf("buggyCount(%s) = %d, want %d", tt.rng, got, tt.want)
		}
	}
}
