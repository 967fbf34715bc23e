package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// SessionState is the state of a session's BGP finite state machine (RFC 4271 §8.2.2).
type SessionState int

// Session states, in the order of RFC 4271 (and gobgp's API).
const (
	SessionUnknown SessionState = iota
	SessionIdle
	SessionConnect
	SessionActive
	SessionOpenSent
	SessionOpenConfirm
	SessionEstablished
)

var sessionStateNames = [...]string{"unknown", "idle", "connect", "active", "opensent", "openconfirm", "established"}

// String returns the lower-case state name, e.g. "established".
func (s SessionState) String() string {
	if s < 0 || int(s) >= len(sessionStateNames) {
		return sessionStateNames[SessionUnknown]
	}
	return sessionStateNames[s]
}

// PeerStatus is a snapshot of one session, for metrics, status and logs.
type PeerStatus struct {
	// Name and Address identify the peer (Peer.Name, Peer.Address).
	Name    string
	Address netip.Addr
	// State is the session state; StateSince is when it was entered (for
	// SessionEstablished this is when the session came up, so uptime = now - StateSince).
	State      SessionState
	StateSince time.Time
	// LastError is the most recent reason the session failed or went down (connection
	// refused or timed out, NOTIFICATION sent or received, hold timer expiry), with its
	// time; empty if none happened since the peer was configured.
	LastError     string
	LastErrorTime time.Time
	// AdvertisedPrefixes is how many prefixes this session is given (sent while Established).
	AdvertisedPrefixes int
	// Message counters of the current gobgp neighbour.
	UpdatesSent, UpdatesReceived             uint64
	NotificationsSent, NotificationsReceived uint64
}

// Established reports whether the session is up.
func (s PeerStatus) Established() bool { return s.State == SessionEstablished }

// statusBook records what gobgp tells us about sessions: state changes from its event
// stream and failure reasons from its log. It is keyed by neighbour address, which is
// how gobgp names sessions.
type statusBook struct {
	mu       sync.Mutex
	sessions map[netip.Addr]*sessionRecord
}

// sessionRecord is the book's entry for one neighbour.
type sessionRecord struct {
	name        string
	hasPassword bool
	// forbiddenAS is, for a peer whose AS comes from its OPEN (dynamicASN
	// external), the local AS, which that peer must not be in; 0: none.
	forbiddenAS   uint32
	state         SessionState
	stateSince    time.Time
	lastError     string
	lastErrorTime time.Time
	// specificError is set when a precise failure reason (a NOTIFICATION, a connect
	// error) was recorded since gobgp last logged a state change, so that the vaguer
	// reason gobgp logs with the state change does not replace it.
	specificError bool
	// reported are the failure reasons reported since the session was last
	// established, so that failures repeating at every retry (possibly taking turns,
	// like "no route to host" and "i/o timeout") are each reported once.
	reported map[string]bool
}

// maxReportedReasons bounds sessionRecord.reported; when full it starts over.
const maxReportedReasons = 16

// failure is a session failure reason that has not been reported before.
type failure struct {
	peer    string
	address netip.Addr
	reason  string
}

func newStatusBook() *statusBook {
	return &statusBook{sessions: map[netip.Addr]*sessionRecord{}}
}

// track starts recording a neighbour; an existing record for the address is replaced.
func (b *statusBook) track(p bgpspec.Peer, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sessions[p.Address] = &sessionRecord{name: p.Name, hasPassword: p.Password != "", forbiddenAS: forbiddenAS(p), state: SessionIdle, stateSince: now}
}

// forbiddenAS is the AS a router peering as p must not be in: with
// dynamicASN external, any AS but ours (as FRR's "remote-as external").
func forbiddenAS(p bgpspec.Peer) uint32 {
	if p.DynamicExternal() {
		return p.MyASN
	}
	return 0
}

// refusal says why the session to addr, established with a router in AS
// peerAS, is refused; ok is false when it is not.
func (b *statusBook) refusal(addr netip.Addr, peerAS uint32) (reason, communication string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, known := b.sessions[addr]
	if !known || r.forbiddenAS == 0 || r.forbiddenAS != peerAS {
		return "", "", false
	}
	communication = ownASRefusal(peerAS)
	return communication + "; session disabled until the BGPPeer changes (set dynamicASN internal or peerASN)", communication, true
}

// ownASRefusal is the NOTIFICATION's text when a dynamicASN external session
// is refused: short, for RFC 8203 allows 128 bytes.
func ownASRefusal(peerAS uint32) string {
	return fmt.Sprintf("dynamicASN external: the router is in AS %d, ours", peerAS)
}

// rename updates the name and password flag of a tracked neighbour without touching its state.
func (b *statusBook) rename(p bgpspec.Peer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.sessions[p.Address]; ok {
		r.name, r.hasPassword, r.forbiddenAS = p.Name, p.Password != "", forbiddenAS(p)
	}
}

// forget stops recording a neighbour.
func (b *statusBook) forget(addr netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.sessions, addr)
}

// setState records a state change; ok is false if the neighbour is unknown or the
// state did not change.
func (b *statusBook) setState(addr netip.Addr, state SessionState, now time.Time) (PeerStatus, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, known := b.sessions[addr]
	if !known || r.state == state {
		return PeerStatus{}, false
	}
	r.state, r.stateSince = state, now
	if state == SessionEstablished {
		clear(r.reported)
	}
	return r.status(addr), true
}

// setError records a precise failure reason; explain builds it from the neighbour's
// record (its settings and the reason recorded so far). It does nothing for unknown
// neighbours. It returns the failure when its reason is new (see newFailure).
func (b *statusBook) setError(addr netip.Addr, now time.Time, explain func(r sessionRecord) string) (failure, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, known := b.sessions[addr]
	if !known {
		return failure{}, false
	}
	r.lastError, r.lastErrorTime, r.specificError = explain(*r), now, true
	return r.newFailure(addr)
}

// setVagueError records a failure reason unless a precise one was recorded since the
// last logged state change. It returns the failure when its reason is new.
func (b *statusBook) setVagueError(addr netip.Addr, now time.Time, reason string) (failure, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, known := b.sessions[addr]
	if !known || r.specificError {
		return failure{}, false
	}
	r.lastError, r.lastErrorTime = reason, now
	return r.newFailure(addr)
}

// newFailure returns the recorded failure if its reason was not reported since the
// session was last established, and notes it as reported.
func (r *sessionRecord) newFailure(addr netip.Addr) (failure, bool) {
	if r.reported[r.lastError] {
		return failure{}, false
	}
	if r.reported == nil || len(r.reported) >= maxReportedReasons {
		r.reported = map[string]bool{}
	}
	r.reported[r.lastError] = true
	return failure{peer: r.name, address: addr, reason: r.lastError}, true
}

// stateChangeLogged notes that gobgp logged a state change of the neighbour.
func (b *statusBook) stateChangeLogged(addr netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, known := b.sessions[addr]; known {
		r.specificError = false
	}
}

// name returns the peer name recorded for a neighbour address.
func (b *statusBook) name(addr netip.Addr) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.sessions[addr]
	if !ok {
		return "", false
	}
	return r.name, true
}

// snapshot returns every recorded session, sorted by name.
func (b *statusBook) snapshot() []PeerStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]PeerStatus, 0, len(b.sessions))
	for addr, r := range b.sessions {
		out = append(out, r.status(addr))
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// established reports whether the session to addr is up.
func (b *statusBook) established(addr netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.sessions[addr]
	return ok && r.state == SessionEstablished
}

// anyEstablished reports whether some session is still up.
func (b *statusBook) anyEstablished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.sessions {
		if r.state == SessionEstablished {
			return true
		}
	}
	return false
}

func (r *sessionRecord) status(addr netip.Addr) PeerStatus {
	return PeerStatus{
		Name: r.name, Address: addr,
		State: r.state, StateSince: r.stateSince,
		LastError: r.lastError, LastErrorTime: r.lastErrorTime,
	}
}
