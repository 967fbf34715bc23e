package ipam

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"slices"
	"sort"

	"go4.org/netipx"
)

// poolState is a configured pool with the addresses of it that are held.
type poolState struct {
	Pool
	// ranges are the pool's merged ranges, sorted, IPv4 before IPv6.
	ranges []netipx.IPRange
	used   *usedSet
	// capacity and assigned count usable and held addresses per family,
	// indexed by Family.index.
	capacity [2]*big.Int
	assigned [2]int64
}

// hasFamily reports whether the pool has addresses of family f.
func (p *poolState) hasFamily(f Family) bool { return p.capacity[f.index()].Sign() > 0 }

// lowestFree returns the pool's lowest usable free address of family f.
func (p *poolState) lowestFree(f Family) (netip.Addr, bool) {
	for _, rng := range p.ranges {
		if FamilyOf(rng.From()) != f {
			continue
		}
		if ip, ok := p.used.lowestFree(rng); ok {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// stats returns the pool's counts, clamping availability to math.MaxInt64.
func (p *poolState) stats() PoolStats {
	available := func(f Family) int64 {
		free := new(big.Int).Sub(p.capacity[f.index()], big.NewInt(p.assigned[f.index()]))
		if !free.IsInt64() {
			return math.MaxInt64
		}
		return free.Int64()
	}
	return PoolStats{
		Pool:          p.Name,
		AssignedIPv4:  p.assigned[IPv4.index()],
		AssignedIPv6:  p.assigned[IPv6.index()],
		AvailableIPv4: available(IPv4),
		AvailableIPv6: available(IPv6),
	}
}

// poolTable is an immutable view of the configured pools.
type poolTable struct {
	byName map[string]*poolState
	// ordered lists the pools in the order automatic requests try them:
	// priority (lower non-zero first, 0 last), restricted before
	// unrestricted, then name.
	ordered []*poolState
	// index lists every range of every pool, sorted, to find an address's
	// pool by binary search.
	index []indexedRange
}

type indexedRange struct {
	rng  netipx.IPRange
	pool *poolState
}

// newPoolTable validates pools and builds their empty states.
func newPoolTable(pools []Pool) (*poolTable, error) {
	t := &poolTable{byName: make(map[string]*poolState, len(pools))}
	for i := range pools {
		p, err := newPoolState(pools[i])
		if err != nil {
			return nil, err
		}
		if t.byName[p.Name] != nil {
			return nil, fmt.Errorf("pool %q is defined twice", p.Name)
		}
		t.byName[p.Name] = p
		t.ordered = append(t.ordered, p)
		for _, rng := range p.ranges {
			t.index = append(t.index, indexedRange{rng: rng, pool: p})
		}
	}
	slices.SortFunc(t.ordered, func(a, b *poolState) int { return comparePoolOrder(a.Pool, b.Pool) })
	slices.SortFunc(t.index, func(a, b indexedRange) int { return a.rng.From().Compare(b.rng.From()) })
	for i := 1; i < len(t.index); i++ {
		prev, cur := t.index[i-1], t.index[i]
		if prev.rng.To().Less(cur.rng.From()) {
			continue
		}
		return nil, fmt.Errorf("pools %q and %q overlap: %s and %s", prev.pool.Name, cur.pool.Name, prev.rng, cur.rng)
	}
	return t, nil
}

// comparePoolOrder orders pools as automatic requests try them: lower
// non-zero priority first and unset (0) priority last, then restricted pools
// before unrestricted ones, then by name.
func comparePoolOrder(a, b Pool) int {
	rank := func(p Pool) int {
		if p.Priority <= 0 {
			return math.MaxInt
		}
		return p.Priority
	}
	restrictedFirst := func(p Pool) int {
		if p.Restricted {
			return 0
		}
		return 1
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(restrictedFirst(a), restrictedFirst(b)),
		cmp.Compare(a.Name, b.Name))
}

// newPoolState validates one pool and merges its ranges.
func newPoolState(p Pool) (*poolState, error) {
	if p.Name == "" {
		return nil, fmt.Errorf("a pool has no name")
	}
	var builder netipx.IPSetBuilder
	for _, rng := range p.Ranges {
		if !rng.IsValid() {
			return nil, fmt.Errorf("pool %q: range %s is not a valid IP range", p.Name, rng)
		}
		for _, ip := range []netip.Addr{rng.From(), rng.To()} {
			if err := checkAddr(ip); err != nil {
				return nil, fmt.Errorf("pool %q: range %s: %w", p.Name, rng, err)
			}
		}
		builder.AddRange(rng)
	}
	set, err := builder.IPSet()
	if err != nil {
		return nil, fmt.Errorf("pool %q: %w", p.Name, err)
	}
	state := &poolState{
		Pool:     p,
		ranges:   set.Ranges(),
		used:     newUsedSet(p.AvoidBuggyIPs),
		capacity: [2]*big.Int{new(big.Int), new(big.Int)},
	}
	state.Ranges = slices.Clone(p.Ranges)
	for _, rng := range state.ranges {
		size := rangeSize(rng)
		if p.AvoidBuggyIPs {
			size.Sub(size, big.NewInt(buggyCount(rng)))
		}
		total := state.capacity[FamilyOf(rng.From()).index()]
		total.Add(total, size)
	}
	return state, nil
}

// rangeSize returns the number of addresses in rng.
func rangeSize(rng netipx.IPRange) *big.Int {
	from, to := rng.From().As16(), rng.To().As16()
	size := new(big.Int).Sub(new(big.Int).SetBytes(to[:]), new(big.Int).SetBytes(from[:]))
	return size.Add(size, big.NewInt(1))
}

// buggyCount returns the number of IPv4 addresses in rng ending in .0 or .255.
func buggyCount(rng netipx.IPRange) int64 {
	if !rng.From().Is4() {
		return 0
	}
	from, to := rng.From().As4(), rng.To().As4()
	lo := int64(from[0])<<24 | int64(from[1])<<16 | int64(from[2])<<8 | int64(from[3])
	hi := int64(to[0])<<24 | int64(to[1])<<16 | int64(to[2])<<8 | int64(to[3])
	// upTo counts the addresses in [0, x] whose last byte is b.
	upTo := func(x int64, b int64) int64 {
		if x < b {
			return 0
		}
		return (x-b)/256 + 1
	}
	return upTo(hi, 0) - upTo(lo-1, 0) + upTo(hi, 255) - upTo(lo-1, 255)
}

// poolOf returns the pool that may hand out ip: the pool with a range
// containing it, unless that pool avoids ip as a .0/.255 address. The second
// result is that pool when it avoids ip.
func (t *poolTable) poolOf(ip netip.Addr) (pool, avoidedBy *poolState) {
	i := sort.Search(len(t.index), func(i int) bool { return !t.index[i].rng.To().Less(ip) })
	if i == len(t.index) || !t.index[i].rng.Contains(ip) {
		return nil, nil
	}
	p := t.index[i].pool
	if !p.used.usable(ip) {
		return nil, p
	}
	return p, nil
}

// PoolOf returns the name of the pool that may hand out ip, as the
// allocator counts it: an address outside every range, or a .0/.255 address
// its pool avoids, is in none (ok is false).
func (a *Allocator) PoolOf(ip netip.Addr) (pool string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, _ := a.pools.poolOf(ip); p != nil {
		return p.Name, true
	}
	return "", false
}
