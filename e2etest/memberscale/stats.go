package memberscale

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event is one line a member reported: at its monotonic time At, Member saw
// Kind ("ready", "members", "up", "down") with Arg (an address, a count or
// a member name).
type Event struct {
	At     time.Duration // CLOCK_MONOTONIC
	Member string
	Kind   string
	Arg    string
}

// ParseEvent parses one line of memberlab's output
// ("<ns> <member> <kind> <arg>").
func ParseEvent(line string) (Event, error) {
	fields := strings.Fields(line)
	if len(fields) != 4 {
		return Event{}, fmt.Errorf("line %q: want \"<ns> <member> <kind> <arg>\"", line)
	}
	ns, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || ns < 0 {
		return Event{}, fmt.Errorf("line %q: bad time %q", line, fields[0])
	}
	return Event{At: time.Duration(ns), Member: fields[1], Kind: fields[2], Arg: fields[3]}, nil
}

// Detections returns, for each observer in observers, how long after since
// it first reported target down; observers that did not are missing.
func Detections(events []Event, target string, since time.Duration, observers []string) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, e := range events {
		if e.Kind != "down" || e.Arg != target || e.At < since || !slices.Contains(observers, e.Member) {
			continue
		}
		if _, seen := out[e.Member]; !seen {
			out[e.Member] = e.At - since
		}
	}
	return out
}

// Percentile returns the nearest-rank percentile p (0 < p ≤ 100) of
// samples, 0 for none.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(samples))
	rank := int(float64(len(sorted))*p/100 + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Failovers summarizes how the other members saw one live member.
type Failovers struct {
	// Declarations counts the times any member declared target dead.
	Declarations int
	// Episodes counts the intervals during which at least one member
	// held target dead: each is a false failover of target's IPs.
	Episodes int
	// Dead is the total time at least one member held target dead.
	Dead time.Duration
	// Observers is how many distinct members declared target dead.
	Observers int
}

// FalseFailovers counts, in events between from and to, the times the other
// members declared target dead while it was alive. A member holding target
// dead at to counts until to.
func FalseFailovers(events []Event, target string, from, to time.Duration) Failovers {
	var f Failovers
	down := map[string]bool{}
	declared := map[string]bool{}
	var episodeStart time.Duration
	ordered := slices.SortedStableFunc(slices.Values(events), func(a, b Event) int { return int(a.At - b.At) })
	for _, e := range ordered {
		if e.Arg != target || e.Member == target || e.At < from || e.At > to {
			continue
		}
		switch {
		case e.Kind == "down" && !down[e.Member]:
			if len(down) == 0 {
				f.Episodes++
				episodeStart = e.At
			}
			down[e.Member] = true
			declared[e.Member] = true
			f.Declarations++
		case e.Kind == "up" && down[e.Member]:
			delete(down, e.Member)
			if len(down) == 0 {
				f.Dead += e.At - episodeStart
			}
		}
	}
	if len(down) > 0 {
		f.Dead += to - episodeStart
	}
	f.Observers = len(declared)
	return f
}

// SelfDrops counts the times member itself declared another member dead
// between from and to: a starved member that drops the others would take
// over their IPs.
func SelfDrops(events []Event, member string, from, to time.Duration) int {
	n := 0
	for _, e := range events {
		if e.Member == member && e.Kind == "down" && e.At >= from && e.At <= to {
			n++
		}
	}
	return n
}
