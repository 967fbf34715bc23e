package bgp

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// Defaults for zero-valued bgpspec.Peer fields.
const (
	// DefaultPort is the BGP port dialled when Peer.Port is zero.
	DefaultPort = 179
	// DefaultHoldTime is proposed when Peer.HoldTime is zero (RFC 4271's suggestion).
	DefaultHoldTime = 90 * time.Second
	// DefaultConnectTime is the wait between connection attempts when Peer.ConnectTime is zero.
	DefaultConnectTime = 10 * time.Second
	// GracefulRestartTime is the restart time offered to peers when Peer.GracefulRestart is set.
	GracefulRestartTime = 120 * time.Second
	// multiHopTTL is the IP TTL used for eBGP sessions with EBGPMultiHop.
	multiHopTTL = 255
)

// PeerError is a failure to apply one peer's session or routes. The other
// peers are applied regardless, and the next SetPeers or SetRoutes tries the
// failed part again.
type PeerError struct {
	Peer string
	Err  error
}

func (e *PeerError) Error() string { return fmt.Sprintf("bgp peer %q: %v", e.Peer, e.Err) }

func (e *PeerError) Unwrap() error { return e.Err }

// FailedPeers returns, by peer name, the PeerErrors that err joins.
func FailedPeers(err error) map[string]error {
	out := map[string]error{}
	var walk func(error)
	walk = func(err error) {
		var pe *PeerError
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		if errors.As(err, &pe) {
			out[pe.Peer] = errors.Join(out[pe.Peer], pe.Err)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// peerErrors gathers the errors of one call by peer.
type peerErrors map[string][]error

func (e peerErrors) add(peer string, err error) {
	if err != nil {
		e[peer] = append(e[peer], err)
	}
}

// join returns one PeerError per failed peer, sorted by name.
func (e peerErrors) join() error {
	var out []error
	for _, name := range slices.Sorted(maps.Keys(e)) {
		if err := summarise(e[name]); err != nil {
			out = append(out, &PeerError{Peer: name, Err: err})
		}
	}
	return errors.Join(out...)
}

// port returns the TCP port to dial.
func port(p bgpspec.Peer) uint16 {
	if p.Port == 0 {
		return DefaultPort
	}
	return p.Port
}

// holdTime returns the hold time to propose.
func holdTime(p bgpspec.Peer) time.Duration {
	if p.HoldTime == 0 {
		return DefaultHoldTime
	}
	return p.HoldTime
}

// keepaliveTime returns the keepalive interval to use.
func keepaliveTime(p bgpspec.Peer) time.Duration {
	if p.KeepaliveTime == 0 {
		return holdTime(p) / 3
	}
	return p.KeepaliveTime
}

// connectTime returns the wait between connection attempts.
func connectTime(p bgpspec.Peer) time.Duration {
	if p.ConnectTime == 0 {
		return DefaultConnectTime
	}
	return p.ConnectTime
}

// peerPlan is what must change to go from the applied peers to the desired ones.
type peerPlan struct {
	add    []bgpspec.Peer
	remove []bgpspec.Peer
	change []peerChange
}

// peerChange is a peer whose settings changed (same name).
type peerChange struct {
	old, new bgpspec.Peer
}

// needsNewNeighbor reports whether the gobgp neighbour must be deleted and added again
// rather than updated in place (gobgp keys neighbours by address).
func (c peerChange) needsNewNeighbor() bool { return c.old.Address != c.new.Address }

// withoutBFD is p without its BFD session, which gobgp does not hold.
func withoutBFD(p bgpspec.Peer) bgpspec.Peer {
	p.BFD = bgpspec.BFD{}
	return p
}

// planPeers compares applied and desired peers by name. Unchanged peers
// appear nowhere; nor do peers whose BFD session alone changed (applyBFD's).
func planPeers(applied map[string]bgpspec.Peer, desired []bgpspec.Peer) peerPlan {
	var plan peerPlan
	wanted := make(map[string]bool, len(desired))
	for _, p := range desired {
		wanted[p.Name] = true
		old, ok := applied[p.Name]
		switch {
		case !ok:
			plan.add = append(plan.add, p)
		case withoutBFD(old) != withoutBFD(p):
			plan.change = append(plan.change, peerChange{old: old, new: p})
		}
	}
	for name, p := range applied {
		if !wanted[name] {
			plan.remove = append(plan.remove, p)
		}
	}
	byName := func(a, b bgpspec.Peer) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(plan.add, byName)
	slices.SortFunc(plan.remove, byName)
	slices.SortFunc(plan.change, func(a, b peerChange) int { return byName(a.new, b.new) })
	return plan
}
