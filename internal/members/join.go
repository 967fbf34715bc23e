package members

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Peer is a node that may run a speaker: its name and the addresses its
// speaker may listen on (one per InternalIP, so two on a dual-stack node).
type Peer struct {
	Name  string
	Addrs []netip.AddrPort
	// Running is true when the API server lists a Ready speaker pod on the
	// node: a running speaker that is not a member is cut off (a partition
	// that may heal any moment), so it is tried every joinRetryRunning
	// without backoff.
	Running bool
}

// Join backoff: a node whose speaker did not answer is tried again after
// joinRetryMin, then after twice as long each time, up to joinRetryMax. A
// node without a speaker (excluded by the DaemonSet's node selector, or
// still starting) thus costs one attempt every few minutes instead of one
// every maintenance round. A node whose speaker runs is tried every
// joinRetryRunning however often it failed, so that the speakers find each
// other again about a second after a partition heals.
const (
	joinRetryMin     = 5 * time.Second
	joinRetryMax     = 5 * time.Minute
	joinRetryRunning = time.Second
)

// maxParallelJoins bounds the joins in flight at once.
const maxParallelJoins = 8

// unknownPeers returns the peers that are not members: neither by name nor
// by any of their addresses. A dual-stack node whose speaker gossips from
// its first address is known, and its second address is not contacted.
func unknownPeers(members []Member, peers []Peer) []Peer {
	byName := make(map[string]bool, len(members))
	byAddr := make(map[netip.AddrPort]bool, len(members))
	for _, m := range members {
		byName[m.Name] = true
		byAddr[m.Addr] = true
	}
	var out []Peer
	for _, p := range peers {
		if byName[p.Name] || anyKnown(byAddr, p.Addrs) || len(p.Addrs) == 0 {
			continue
		}
		out = append(out, p)
	}
	return out
}

func anyKnown(known map[netip.AddrPort]bool, addrs []netip.AddrPort) bool {
	for _, a := range addrs {
		if known[a] {
			return true
		}
	}
	return false
}

// JoinBackoff remembers, per node, the failed joins and when the next
// attempt is due. It is safe for concurrent use: attempts may overlap, one
// still waiting for an answer while the next is due.
type JoinBackoff struct {
	mu       sync.Mutex
	failures map[string]int
	next     map[string]time.Time
}

// NewJoinBackoff returns a backoff with no failures recorded.
func NewJoinBackoff() *JoinBackoff {
	return &JoinBackoff{failures: map[string]int{}, next: map[string]time.Time{}}
}

// Due returns the peers to contact at now: those not members (unknownPeers)
// whose backoff has run out, and schedules their next attempt as if this one
// failed (Record forgets it on success). Nodes that are members again, or
// gone from peers, lose their failure history.
func (b *JoinBackoff) Due(now time.Time, members []Member, peers []Peer) []Peer {
	b.mu.Lock()
	defer b.mu.Unlock()
	unknown := unknownPeers(members, peers)
	wanted := make(map[string]bool, len(unknown))
	var due []Peer
	for _, p := range unknown {
		wanted[p.Name] = true
		if next, ok := b.next[p.Name]; ok && now.Before(next) {
			continue
		}
		due = append(due, p)
		if p.Running {
			b.next[p.Name] = now.Add(joinRetryRunning)
		} else {
			b.next[p.Name] = now.Add(retryDelay(b.failures[p.Name] + 1))
		}
	}
	for name := range b.next {
		if !wanted[name] {
			delete(b.next, name)
		}
	}
	for name := range b.failures {
		if !wanted[name] {
			delete(b.failures, name)
		}
	}
	return due
}

// Record notes the outcome of an attempt to join name.
func (b *JoinBackoff) Record(name string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		delete(b.failures, name)
		delete(b.next, name)
		return
	}
	b.failures[name]++
}

// retryDelay is the wait after the given number of consecutive failures.
func retryDelay(failures int) time.Duration {
	delay := joinRetryMin
	for i := 1; i < failures && delay < joinRetryMax; i++ {
		delay *= 2
	}
	return min(delay, joinRetryMax)
}

// JoinPeers contacts the given peers in parallel (at most maxParallelJoins
// at once), each at its addresses in order until one answers, and returns
// the error of each peer that none of its addresses answered, by name. Each
// attempt is bounded by Config.StreamTimeout.
func (l *List) JoinPeers(peers []Peer) map[string]error {
	var (
		mu     sync.Mutex
		failed = map[string]error{}
		wg     sync.WaitGroup
		slots  = make(chan struct{}, maxParallelJoins)
	)
	for _, p := range peers {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := l.joinPeer(p); err != nil {
				mu.Lock()
				failed[p.Name] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// joinPeer tries p's addresses in order and stops at the first that answers.
func (l *List) joinPeer(p Peer) error {
	var err error
	for _, addr := range p.Addrs {
		if _, err = l.ml.Join([]string{addr.String()}); err == nil {
			return nil
		}
		// The peer's answer, encrypted with a key this member lacks,
		// fails here rather than in memberlist's log.
		if l.cfg.OnDecryptFailure != nil && isDecryptFailure(err.Error()) {
			l.cfg.OnDecryptFailure()
		}
	}
	return fmt.Errorf("members: node %q joining node %q: %w", l.cfg.NodeName, p.Name, err)
}
