package ipam

import (
	"net/netip"

	"github.com/google/btree"
	"go4.org/netipx"
)

// usedSet is the set of addresses of one pool that are held by services,
// kept as maximal runs of consecutive usable addresses in an ordered tree.
// "Consecutive" steps over the .0/.255 addresses a pool with avoidBuggyIPs
// skips, so sequential allocation keeps the set at a handful of runs and the
// lowest free address of a range is found with one or two O(log n) lookups.
// Memory grows with the number of runs, never with the size of the pool.
type usedSet struct {
	avoidBuggy bool
	runs       *btree.BTreeG[run]
}

// run is a maximal sequence of held addresses first..last: every usable
// address between them is held, and the usable neighbours outside are not.
type run struct{ first, last netip.Addr }

func newUsedSet(avoidBuggy bool) *usedSet {
	return &usedSet{
		avoidBuggy: avoidBuggy,
		runs:       btree.NewG(32, func(a, b run) bool { return a.first.Less(b.first) }),
	}
}

// isBuggy reports whether ip is an IPv4 address ending in .0 or .255, which
// some old network equipment drops.
func isBuggy(ip netip.Addr) bool {
	if !ip.Is4() {
		return false
	}
	last := ip.As4()[3]
	return last == 0 || last == 255
}

// usable reports whether the set's pool may hand out ip, given that ip lies in
// one of the pool's ranges.
func (s *usedSet) usable(ip netip.Addr) bool { return !s.avoidBuggy || !isBuggy(ip) }

// next returns the first usable address after ip, or an invalid address past
// the end of the address space.
func (s *usedSet) next(ip netip.Addr) netip.Addr {
	ip = ip.Next()
	for ip.IsValid() && !s.usable(ip) {
		ip = ip.Next()
	}
	return ip
}

// prev returns the last usable address before ip, or an invalid address
// before the start of the address space.
func (s *usedSet) prev(ip netip.Addr) netip.Addr {
	ip = ip.Prev()
	for ip.IsValid() && !s.usable(ip) {
		ip = ip.Prev()
	}
	return ip
}

// runContaining returns the run that contains ip, if any.
func (s *usedSet) runContaining(ip netip.Addr) (run, bool) {
	var found run
	ok := false
	s.runs.DescendLessOrEqual(run{first: ip}, func(r run) bool {
		if !r.last.Less(ip) {
			found, ok = r, true
		}
		return false
	})
	return found, ok
}

// add marks the usable address ip as held, merging it with the runs that end
// just before it and start just after it.
func (s *usedSet) add(ip netip.Addr) {
	merged := run{first: ip, last: ip}
	if before := s.prev(ip); before.IsValid() {
		if r, ok := s.runContaining(before); ok {
			s.runs.Delete(r)
			merged.first = r.first
		}
	}
	if after := s.next(ip); after.IsValid() {
		if r, ok := s.runs.Get(run{first: after}); ok {
			s.runs.Delete(r)
			merged.last = r.last
		}
	}
	s.runs.ReplaceOrInsert(merged)
}

// remove marks the held address ip as free, splitting its run.
func (s *usedSet) remove(ip netip.Addr) {
	r, ok := s.runContaining(ip)
	if !ok {
		return
	}
	s.runs.Delete(r)
	if r.first.Less(ip) {
		s.runs.ReplaceOrInsert(run{first: r.first, last: s.prev(ip)})
	}
	if ip.Less(r.last) {
		s.runs.ReplaceOrInsert(run{first: s.next(ip), last: r.last})
	}
}

// lowestFree returns the lowest usable address of rng that is not held.
func (s *usedSet) lowestFree(rng netipx.IPRange) (netip.Addr, bool) {
	candidate := rng.From()
	if !s.usable(candidate) {
		candidate = s.next(candidate)
	}
	for candidate.IsValid() && rng.Contains(candidate) {
		r, held := s.runContaining(candidate)
		if !held {
			return candidate, true
		}
		candidate = s.next(r.last)
	}
	return netip.Addr{}, false
}
