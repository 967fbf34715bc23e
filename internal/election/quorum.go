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
// speakers and, from three on, its own probes are answered or it sees them
// all. A speaker cut off from the others (typically port 7946 blocked) sees
// only itself and would otherwise elect itself for every IP; without quorum
// it takes over nothing. One that sees every running speaker elects as they
// all do, so its health score does not matter: after a partition heals the
// score takes a while to fall back to 0, and the node would leave its
// addresses unanswered meanwhile (the interim owner gives them up as soon as
// it sees the node again). An unknown running count holds quorum, as MetalLB
// has no such rule.
func (q Quorum) Held() bool {
	switch {
	case q.Running == 0:
		return true
	case q.Degraded && q.Running >= minRunningForHealth && q.Seen < q.Running:
		return false
	}
	return 2*q.Seen >= q.Running
}

// MayAnswer reports whether this node, elected owner of an IP, answers for
// it. With quorum it does. Without, it takes over no IP it does not answer
// already (a partition never makes a second answerer), and keeps one it
// answers (dropping it could leave the IP answered by nobody: every node may
// be cut off) until claimedElsewhere: the API server shows another node
// announcing it, which only a node with quorum does after taking it over
// from this one. A cut-off owner thus stops answering once the majority's
// new owner has written its status, instead of answering alongside it until
// the partition heals.
func MayAnswer(alreadyOwned, claimedElsewhere bool, q Quorum) bool {
	if q.Held() {
		return true
	}
	return alreadyOwned && !claimedElsewhere
}
