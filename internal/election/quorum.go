package election

// Quorum is what a speaker knows of its cluster's size: how many speakers
// it sees as live members (itself included) and how many the API server
// lists as running (Ready speaker pods, one per node). Running is 0 when
// that count is unknown (memberlist disabled, or the pods cannot be read).
type Quorum struct {
	Seen    int
	Running int
	// Degraded is true while memberlist's local health score is above 0:
	// this speaker's own probes go unanswered while the other members'
	// do not (Lifeguard). A speaker being cut off loses its peers one probe
	// at a time and would, for a moment, still see half of them.
	Degraded bool
}

// minRunningForHealth is the fewest running speakers for which Degraded
// counts: with two, a survivor's probes of the dead peer have nobody to
// confirm them, so its health score rises on a real loss too.
const minRunningForHealth = 3

// Held reports whether the speaker sees at least half of the running
// speakers and, from three on, its own probes are answered. A speaker cut off from the others (typically port 7946
// blocked) sees only itself and would otherwise elect itself for every IP;
// without quorum it takes over nothing. An unknown running count holds
// quorum, as MetalLB has no such rule.
func (q Quorum) Held() bool {
	switch {
	case q.Running == 0:
		return true
	case q.Degraded && q.Running >= minRunningForHealth:
		return false
	}
	return 2*q.Seen >= q.Running
}

// MayAnswer reports whether this node, elected owner of an IP, answers for
// it: always for an IP it already answers (dropping it could leave the IP
// answered by nobody), and for a new one only with quorum, so that a
// partition never makes a second answerer, while the majority side still
// takes over the IPs of a node that is really gone.
func MayAnswer(alreadyOwned bool, q Quorum) bool {
	return alreadyOwned || q.Held()
}
