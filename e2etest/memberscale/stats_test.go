package memberscale

import (
	"testing"
	"time"
)

func millis(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestParseEvent(t *testing.T) {
	tests := []struct {
		line    string
		want    Event
		wantErr bool
	}{
		{line: "1500000 down m007", want: Event{At: millis(1) + 500*time.Microsecond, Member: "m001", Kind: "down", Arg: "m007"}},
		{line: "42 members 10", want: Event{At: 42, Member: "m001", Kind: "members", Arg: "10"}},
		{line: "x down m007", wantErr: true},
		{line: "-5 down m007", wantErr: true},
		{line: "5 down", wantErr: true},
		{line: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseEvent("m001", tt.line)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseEvent(%q) = %+v, %v; want %+v, error %v", tt.line, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDetections(t *testing.T) {
	events := []Event{
		{At: millis(50), Member: "a", Kind: "down", Arg: "v"}, // before the kill: an earlier episode
		{At: millis(300), Member: "a", Kind: "down", Arg: "v"},
		{At: millis(400), Member: "a", Kind: "down", Arg: "v"}, // only the first counts
		{At: millis(350), Member: "b", Kind: "down", Arg: "v"},
		{At: millis(360), Member: "c", Kind: "down", Arg: "w"}, // another target
		{At: millis(370), Member: "d", Kind: "down", Arg: "v"}, // not an observer
		{At: millis(380), Member: "c", Kind: "up", Arg: "v"},
	}
	got := Detections(events, "v", millis(100), []string{"a", "b", "c"})
	want := map[string]time.Duration{"a": millis(200), "b": millis(250)}
	if len(got) != len(want) || got["a"] != want["a"] || got["b"] != want["b"] {
		t.Errorf("Detections = %v, want %v", got, want)
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = millis(100 - i)
	}
	tests := []struct {
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{samples: nil, p: 50, want: 0},
		{samples: []time.Duration{millis(7)}, p: 99, want: millis(7)},
		{samples: []time.Duration{millis(3), millis(1), millis(2)}, p: 50, want: millis(2)},
		{samples: []time.Duration{millis(3), millis(1), millis(2)}, p: 99, want: millis(3)},
		{samples: hundred, p: 50, want: millis(50)},
		{samples: hundred, p: 99, want: millis(99)},
		{samples: hundred, p: 100, want: millis(100)},
	}
	for _, tt := range tests {
		if got := Percentile(tt.samples, tt.p); got != tt.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.samples, tt.p, got, tt.want)
		}
	}
}

func TestFalseFailovers(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   Failovers
	}{
		{name: "none", events: []Event{{At: millis(10), Member: "a", Kind: "up", Arg: "s"}}},
		{
			name: "two observers overlap: one episode",
			events: []Event{
				{At: millis(100), Member: "a", Kind: "down", Arg: "s"},
				{At: millis(150), Member: "b", Kind: "down", Arg: "s"},
				{At: millis(300), Member: "a", Kind: "up", Arg: "s"},
				{At: millis(400), Member: "b", Kind: "up", Arg: "s"},
			},
			want: Failovers{Declarations: 2, Episodes: 1, Dead: millis(300), Observers: 2},
		},
		{
			name: "one observer twice: two episodes",
			events: []Event{
				{At: millis(400), Member: "a", Kind: "up", Arg: "s"},
				{At: millis(500), Member: "a", Kind: "down", Arg: "s"},
				{At: millis(100), Member: "a", Kind: "down", Arg: "s"}, // out of order on purpose
				{At: millis(200), Member: "a", Kind: "up", Arg: "s"},
			},
			want: Failovers{Declarations: 2, Episodes: 2, Dead: millis(100) + millis(500), Observers: 1},
		},
		{
			name: "outside the window, other targets and the target itself do not count",
			events: []Event{
				{At: millis(5), Member: "a", Kind: "down", Arg: "s"},
				{At: millis(100), Member: "a", Kind: "down", Arg: "x"},
				{At: millis(100), Member: "s", Kind: "down", Arg: "s"},
				{At: millis(2000), Member: "b", Kind: "down", Arg: "s"},
			},
		},
	}
	for _, tt := range tests {
		if got := FalseFailovers(tt.events, "s", millis(10), millis(1000)); got != tt.want {
			t.Errorf("%s: FalseFailovers = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestSelfDrops(t *testing.T) {
	events := []Event{
		{At: millis(100), Member: "s", Kind: "down", Arg: "a"},
		{At: millis(200), Member: "s", Kind: "up", Arg: "a"},
		{At: millis(300), Member: "b", Kind: "down", Arg: "a"},
		{At: millis(5000), Member: "s", Kind: "down", Arg: "b"},
	}
	if got := SelfDrops(events, "s", millis(10), millis(1000)); got != 1 {
		t.Errorf("SelfDrops = %d, want 1", got)
	}
}
