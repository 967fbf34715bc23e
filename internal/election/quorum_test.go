package election

import "testing"

func TestQuorum(t *testing.T) {
	tests := []struct {
		name         string
		q            Quorum
		alreadyOwned bool
		held, answer bool
	}{
		{"running unknown: MetalLB's behaviour", Quorum{Seen: 1, Running: 0}, false, true, true},
		{"all seen", Quorum{Seen: 3, Running: 3}, false, true, true},
		{"one of three lost: the majority fails over", Quorum{Seen: 2, Running: 3}, false, true, true},
		{"isolated one of three takes over nothing", Quorum{Seen: 1, Running: 3}, false, false, false},
		{"isolated one of three keeps what it answers", Quorum{Seen: 1, Running: 3}, true, false, true},
		{"exactly half of four", Quorum{Seen: 2, Running: 4}, false, true, true},
		{"one of two: a partition cannot be told from a loss", Quorum{Seen: 1, Running: 2}, false, true, true},
		{"two of five", Quorum{Seen: 2, Running: 5}, false, false, false},
		{"more seen than running (a pod not yet Ready)", Quorum{Seen: 4, Running: 3}, false, true, true},
		{"being cut off: two of three seen, but own probes unanswered", Quorum{Seen: 2, Running: 3, Degraded: true}, false, false, false},
		{"being cut off keeps what it answers", Quorum{Seen: 2, Running: 3, Degraded: true}, true, false, true},
		{"degraded survivor of two: nobody could confirm its probes", Quorum{Seen: 1, Running: 2, Degraded: true}, false, true, true},
		{"degraded, running unknown", Quorum{Seen: 1, Degraded: true}, false, true, true},
		{"healed: every running speaker seen, health score not yet back to 0", Quorum{Seen: 3, Running: 3, Degraded: true}, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.Held(); got != tt.held {
				t.Errorf("%+v.Held() = %v, want %v", tt.q, got, tt.held)
			}
			if got := MayAnswer(tt.alreadyOwned, false, tt.q); got != tt.answer {
				t.Errorf("MayAnswer(%v, false, %+v) = %v, want %v", tt.alreadyOwned, tt.q, got, tt.answer)
			}
		})
	}
}

// TestMayAnswerClaimedElsewhere: an owner without quorum gives up an IP
// once the API server shows another node announcing it (the majority took
// it over); with quorum the claim does not matter (the election decides, and
// the other node gives it up).
func TestMayAnswerClaimedElsewhere(t *testing.T) {
	tests := []struct {
		name                  string
		q                     Quorum
		alreadyOwned, claimed bool
		answer                bool
	}{
		{"cut-off owner, no claim: keeps it (every node may be cut off)", Quorum{Seen: 1, Running: 3}, true, false, true},
		{"cut-off owner, the majority's owner claims it: gives it up", Quorum{Seen: 1, Running: 3}, true, true, false},
		{"being cut off, claimed: gives it up", Quorum{Seen: 2, Running: 3, Degraded: true}, true, true, false},
		{"cut off, not owned, claimed: still nothing", Quorum{Seen: 1, Running: 3}, false, true, false},
		{"with quorum a stale claim does not matter", Quorum{Seen: 3, Running: 3}, true, true, true},
		{"with quorum, taking over from a claimant", Quorum{Seen: 2, Running: 3}, false, true, true},
		{"running unknown: MetalLB's behaviour", Quorum{Seen: 1}, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MayAnswer(tt.alreadyOwned, tt.claimed, tt.q); got != tt.answer {
				t.Errorf("MayAnswer(%v, %v, %+v) = %v, want %v", tt.alreadyOwned, tt.claimed, tt.q, got, tt.answer)
			}
		})
	}
}
