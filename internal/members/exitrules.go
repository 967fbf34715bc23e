package members

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
)

// heldStreamMarker is the first byte of a held stream (exitwatch.go), in
// both directions: the dialer sends it, the accepting member answers with
// it. memberlist starts its own streams with a message type (0 to 13 in
// v0.5: ping … errMsg, encryptMsg when gossip is encrypted) or with
// hasLabelMsg (244); it never sends 0xE0, and appends new types after 13.
const heldStreamMarker byte = 0xE0

// isHeldStream reports whether a stream on the memberlist port whose first
// byte is first is a held stream (true) or memberlist's (false).
func isHeldStream(first byte) bool { return first == heldStreamMarker }

// dialOutcome is what a dial at a member's memberlist port tells about its
// process.
type dialOutcome int

const (
	// dialSilent: no answer (a timeout, an unreachable host, a reset after
	// connecting): the node may be frozen, partitioned or dropping
	// packets; memberlist's probes decide as before.
	dialSilent dialOutcome = iota
	// dialAnswered: something listens: the process runs.
	dialAnswered
	// dialRefused: the node's kernel answered that nobody listens on the
	// port: the process exited.
	dialRefused
)

// outcomeOf classifies the error of a dial at a member's memberlist port.
func outcomeOf(err error) dialOutcome {
	switch {
	case err == nil:
		return dialAnswered
	case errors.Is(err, syscall.ECONNREFUSED):
		return dialRefused
	default:
		return dialSilent
	}
}

// endOutcome returns what the dials at a member's port after its held
// stream ended tell together: refused if any was refused, since an exiting
// process may end its streams before it closes its listener, which answers
// the first dial and refuses the next; else answered if any was answered;
// else silent.
func endOutcome(outcomes []dialOutcome) dialOutcome {
	switch {
	case slices.Contains(outcomes, dialRefused):
		return dialRefused
	case slices.Contains(outcomes, dialAnswered):
		return dialAnswered
	default:
		return dialSilent
	}
}

// goneAfter returns whether a member counts as gone after a dial at its
// port with outcome, given whether it counted as gone before: only a
// refused connection makes it gone, only an answer brings it back, and
// silence changes nothing.
func goneAfter(wasGone bool, outcome dialOutcome) bool {
	switch outcome {
	case dialRefused:
		return true
	case dialAnswered:
		return false
	default:
		return wasGone
	}
}

// holdsStream reports whether member self dials the held stream to member
// peer: of each pair, the member with the smaller name dials, the other
// accepts.
func holdsStream(self, peer string) bool { return self < peer }

// acceptedPeer returns the member that a held stream from address from
// belongs to: among peers (member name → address), the one that dials self
// (holdsStream) and advertises from's address. Streams from any other
// address, or from an address two such members share, are refused.
func acceptedPeer(self string, peers map[string]netip.AddrPort, from netip.Addr) (string, bool) {
	var found []string
	for name, addr := range peers {
		if holdsStream(name, self) && addr.Addr() == from.Unmap() {
			found = append(found, name)
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return found[0], true
}

// liveSet returns the live members: those memberlist lists as alive less
// those whose process exited (gone), sorted by name.
func liveSet(alive map[string]Member, gone map[string]bool) []Member {
	members := make([]Member, 0, len(alive))
	for name, m := range alive {
		if !gone[name] {
			members = append(members, m)
		}
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return members
}
