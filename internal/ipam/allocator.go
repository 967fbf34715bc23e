package ipam

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/google/btree"
)

// Allocator hands out addresses from pools and remembers who holds what. It
// is safe for concurrent use.
type Allocator struct {
	mu       sync.Mutex
	pools    *poolTable
	services map[string]*holding
	ips      map[netip.Addr]*ipState
	// groups lists, per sharing group with a non-empty key, the addresses
	// its services hold, so a new member finds them without a scan.
	groups map[sharingGroup]*btree.BTreeG[netip.Addr]
}

// New returns an Allocator over pools, holding nothing. It fails if a pool is
// invalid, two pools share a name, or the ranges of two pools overlap.
func New(pools []Pool) (*Allocator, error) {
	table, err := newPoolTable(pools)
	if err != nil {
		return nil, err
	}
	return &Allocator{
		pools:    table,
		services: map[string]*holding{},
		ips:      map[netip.Addr]*ipState{},
		groups:   map[sharingGroup]*btree.BTreeG[netip.Addr]{},
	}, nil
}

// Assign gives the service described by req its addresses and returns them.
//
// If the service already holds addresses that remain valid for req (in a pool
// that admits it, the requested pool if any, the requested IPs if any, of its
// families, shareable under its sharing key and ports), it keeps them: Assign
// is idempotent and never moves a valid address. A dual-stack service missing
// a family gets it from the pool it already uses; addresses of families the
// service no longer has are released. Otherwise the service gets the
// requested IPs or, for automatic requests, the lowest free address of the
// first eligible pool (see docs/allocation.md).
//
// On error (an *Error) the service keeps what it held, under its new sharing
// key and ports, unless those no longer allow it to share its addresses with
// their other holders: then it loses them. Either way Lookup tells what it
// holds, which is what its status should show.
func (a *Allocator) Assign(req Request) (Assignment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	asg, err := a.assign(&req)
	if err != nil {
		return Assignment{}, err
	}
	return asg, nil
}

// assign is Assign with the lock held.
func (a *Allocator) assign(req *Request) (Assignment, *Error) {
	want := newHolding(req)
	old := a.services[req.Service]
	a.detach(old) // the service's own addresses count as free while it chooses
	pool, ips, err := a.choose(req, want, old)
	if err != nil {
		a.keepAfterError(old, want)
		return Assignment{}, err
	}
	want.pool, want.ips = pool, ips
	a.attach(want)
	return a.assignment(want), nil
}

// keepAfterError puts back what a service held before a failed Assign or
// Restore, with the sharing key, backend key and ports of its new request
// (want): the allocator must judge later requests against what the service
// is now. If the service as it is now may not share its addresses with
// their other holders, it loses them.
func (a *Allocator) keepAfterError(old, want *holding) {
	if old == nil {
		return
	}
	want.pool, want.ips = old.pool, old.ips
	if a.checkSharing(want.ips, want) == nil {
		a.attach(want)
	}
}

// Restore records that the service described by req holds ips, as read from
// its status on start. It checks only what keeps the allocator sound: the
// addresses that lie in a pool are in one pool, and all can be shared with
// the services restored before (whose claims therefore win). An address in
// no pool is restored too, as unpooled (see Assignment.Unpooled): a restore
// under an incomplete configuration keeps the claim until its pool is
// applied. Whether the addresses still fit the service's request is left to
// the Assign that follows. On error (an *Error) the service's claim is not
// recorded (what it held before, if anything, is kept as after a failed
// Assign), and the caller should Assign it a new address.
func (a *Allocator) Restore(req Request, ips []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.restore(&req, ips); err != nil {
		return err
	}
	return nil
}

// RestoreAll restores claims oldest first (ties broken by service key), so
// that the result does not depend on the order of claims: when two claims
// cannot share an address, the older service keeps it. The returned errors
// are aligned with claims; nil means restored.
func (a *Allocator) RestoreAll(claims []Claim) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	order := make([]int, len(claims))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		return cmp.Or(claims[i].Created.Compare(claims[j].Created),
			cmp.Compare(claims[i].Request.Service, claims[j].Request.Service))
	})
	errs := make([]error, len(claims))
	for _, i := range order {
		if err := a.restore(&claims[i].Request, claims[i].IPs); err != nil {
			errs[i] = err
		}
	}
	return errs
}

func (a *Allocator) restore(req *Request, ips []netip.Addr) *Error {
	want := newHolding(req)
	old := a.services[req.Service]
	a.detach(old)
	err := validateRestore(req, ips)
	var pool *poolState
	if err == nil {
		pool, err = a.locateHeld(req.Service, ips)
	}
	if err == nil {
		err = a.checkSharing(ips, want)
	}
	if err != nil {
		a.keepAfterError(old, want)
		return err
	}
	want.pool, want.ips = pool, slices.Clone(ips)
	a.attach(want)
	return nil
}

// Release frees what the service holds and reports whether it held anything.
func (a *Allocator) Release(service string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.services[service]
	a.detach(h)
	return h != nil
}

// Lookup returns what the service holds.
func (a *Allocator) Lookup(service string) (Assignment, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.services[service]
	if h == nil {
		return Assignment{}, false
	}
	return a.assignment(h), true
}

// SetPools replaces the pools. Every held address is kept: one still inside
// a pool follows that pool (its name included), one now outside every pool,
// or avoided as .0/.255 by its new pool, stays held as unpooled, and an
// unpooled address a new pool contains joins that pool. Only the addresses
// of a service that now lie in another pool than its first pooled one are
// released. SetPools returns, sorted, the services that lost addresses: the
// caller should Assign them again. Invalid pools are refused with an error
// and change nothing.
func (a *Allocator) SetPools(pools []Pool) ([]string, error) {
	table, err := newPoolTable(pools)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	holdings := make([]*holding, 0, len(a.services))
	for _, h := range a.services {
		holdings = append(holdings, h)
	}
	slices.SortFunc(holdings, func(x, y *holding) int { return strings.Compare(x.service, y.service) })

	a.pools = table
	clear(a.services)
	clear(a.ips)
	clear(a.groups)
	var changed []string
	for _, h := range holdings {
		var kept []netip.Addr
		h.pool = nil
		for _, ip := range h.ips {
			p, _ := table.poolOf(ip)
			if p != nil && h.pool != nil && p != h.pool {
				continue
			}
			if p != nil {
				h.pool = p
			}
			kept = append(kept, ip)
		}
		if len(kept) < len(h.ips) && !isShownKey(h.service) {
			changed = append(changed, h.service)
		}
		if len(kept) > 0 {
			h.ips = kept
			a.attach(h)
		}
	}
	return changed, nil
}

// Stats returns the counts of every pool, sorted by pool name. Assigned
// counts distinct addresses, however many services share them.
func (a *Allocator) Stats() []PoolStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	stats := make([]PoolStats, 0, len(a.pools.byName))
	for _, p := range a.pools.byName {
		stats = append(stats, p.stats())
	}
	slices.SortFunc(stats, func(x, y PoolStats) int { return strings.Compare(x.Pool, y.Pool) })
	return stats
}

// choose decides the pool and addresses for h, with old (if any) detached.
func (a *Allocator) choose(req *Request, h, old *holding) (*poolState, []netip.Addr, *Error) {
	if err := validateRequest(req); err != nil {
		return nil, nil, err
	}
	if len(req.IPs) > 0 {
		return a.chooseRequested(req, h)
	}
	if old != nil {
		if pool, ips, ok := a.keep(req, h, old); ok {
			return pool, ips, nil
		}
	}
	return a.chooseFree(req, h)
}

// chooseRequested checks that the requested IPs can be given to h.
func (a *Allocator) chooseRequested(req *Request, h *holding) (*poolState, []netip.Addr, *Error) {
	if req.Pool != "" && a.pools.byName[req.Pool] == nil {
		return nil, nil, &Error{Reason: UnknownPool, Service: req.Service, Pool: req.Pool}
	}
	pool, err := a.locate(req.Service, req.IPs)
	if err != nil {
		return nil, nil, err
	}
	if req.Pool != "" && pool.Name != req.Pool {
		return nil, nil, &Error{Reason: IPNotInRequestedPool, Service: req.Service, IP: req.IPs[0], Pool: req.Pool}
	}
	if !req.admits(pool.Name) {
		return nil, nil, &Error{Reason: PoolNotEligible, Service: req.Service, Pool: pool.Name}
	}
	if err := a.checkSharing(req.IPs, h); err != nil {
		return nil, nil, err
	}
	ips := make([]netip.Addr, 0, len(req.IPs))
	for _, f := range req.Families {
		for _, ip := range req.IPs {
			if FamilyOf(ip) == f {
				ips = append(ips, ip)
			}
		}
	}
	return pool, ips, nil
}

// locateHeld returns the pool of those of ips that lie in a pool, nil when
// none does; they must all lie in the same one.
func (a *Allocator) locateHeld(service string, ips []netip.Addr) (*poolState, *Error) {
	var pool *poolState
	var first netip.Addr
	for _, ip := range ips {
		p, _ := a.pools.poolOf(ip)
		switch {
		case p == nil:
		case pool == nil:
			pool, first = p, ip
		case p != pool:
			return nil, &Error{Reason: IPsInDifferentPools, Service: service, IP: ip,
				Detail: fmt.Sprintf("%s is in pool %q and %s in pool %q", first, pool.Name, ip, p.Name)}
		}
	}
	return pool, nil
}

// locate returns the one pool that may hand out all of ips.
func (a *Allocator) locate(service string, ips []netip.Addr) (*poolState, *Error) {
	var pool *poolState
	for i, ip := range ips {
		p, avoidedBy := a.pools.poolOf(ip)
		if p == nil {
			err := &Error{Reason: IPNotInAnyPool, Service: service, IP: ip}
			if avoidedBy != nil {
				err.Pool = avoidedBy.Name
				err.Detail = fmt.Sprintf("pool %q avoids addresses ending in .0 and .255 (avoidBuggyIPs)", avoidedBy.Name)
			}
			return nil, err
		}
		if pool != nil && p != pool {
			return nil, &Error{Reason: IPsInDifferentPools, Service: service, IP: ip,
				Detail: fmt.Sprintf("%s is in pool %q and %s in pool %q", ips[0], pool.Name, ips[i], p.Name)}
		}
		pool = p
	}
	return pool, nil
}

// checkSharing checks that h may hold every one of ips.
func (a *Allocator) checkSharing(ips []netip.Addr, h *holding) *Error {
	for _, ip := range ips {
		if err := a.sharingError(ip, h); err != nil {
			return err
		}
	}
	return nil
}

// keep returns the addresses of old that stay valid for req, completed with
// a missing dual-stack family from the same pool. ok is false when the
// service must be placed afresh.
//
// Unpooled addresses are kept: nothing says they are invalid, only that
// their pool is missing. A service none of whose addresses lies in a pool is
// placed afresh only when it requests a pool that exists.
func (a *Allocator) keep(req *Request, h, old *holding) (pool *poolState, ips []netip.Addr, ok bool) {
	pool = old.pool
	switch {
	case pool == nil:
		if req.Pool != "" && a.pools.byName[req.Pool] != nil {
			return nil, nil, false
		}
	case (req.Pool != "" && req.Pool != pool.Name) || !req.admits(pool.Name):
		return nil, nil, false
	}
	kept := 0
	for _, f := range req.Families {
		ip, held := old.ipOf(f)
		switch {
		case held:
			if a.sharingError(ip, h) != nil {
				return nil, nil, false
			}
			kept++
		case pool != nil:
			ip, held = a.pick(pool, f, h)
		}
		if held {
			ips = append(ips, ip)
		} else if req.Policy == RequireDualStack && pool != nil {
			return nil, nil, false
		}
	}
	return pool, ips, kept > 0
}

// chooseFree picks addresses for an automatic (or pool-only) request: the
// first candidate pool, in priority order, that can give every family the
// policy requires; for PreferDualStack, failing that, the first pool giving
// the first family, then the first pool giving the second.
func (a *Allocator) chooseFree(req *Request, h *holding) (*poolState, []netip.Addr, *Error) {
	candidates, err := a.candidatePools(req)
	if err != nil {
		return nil, nil, err
	}
	var partial [2]struct {
		pool *poolState
		ip   netip.Addr
	}
	offered := false
	var found [2]bool // per Family.index: some candidate pool had a free address
	for _, p := range candidates {
		if !offers(p, req) {
			continue
		}
		offered = true
		var ips []netip.Addr
		for i, f := range req.Families {
			ip, ok := a.pick(p, f, h)
			if !ok {
				continue
			}
			found[f.index()] = true
			ips = append(ips, ip)
			if partial[i].pool == nil {
				partial[i].pool, partial[i].ip = p, ip
			}
		}
		if len(ips) == len(req.Families) {
			return p, ips, nil
		}
	}
	if req.Policy == PreferDualStack {
		for _, choice := range partial {
			if choice.pool != nil {
				return choice.pool, []netip.Addr{choice.ip}, nil
			}
		}
	}
	if !offered {
		return nil, nil, &Error{Reason: FamilyUnavailable, Service: req.Service, Family: req.Families[0],
			Detail: familiesText(req)}
	}
	exhausted := &Error{Reason: PoolExhausted, Service: req.Service, Family: req.Families[0]}
	for _, f := range req.Families {
		if !found[f.index()] {
			exhausted.Family = f
			break
		}
	}
	if len(candidates) == 1 {
		exhausted.Pool = candidates[0].Name
	}
	return nil, nil, exhausted
}

// candidatePools returns the pools an address-less request may use, in the
// order they are tried.
func (a *Allocator) candidatePools(req *Request) ([]*poolState, *Error) {
	if req.Pool != "" {
		p := a.pools.byName[req.Pool]
		if p == nil {
			return nil, &Error{Reason: UnknownPool, Service: req.Service, Pool: req.Pool}
		}
		if !req.admits(p.Name) {
			return nil, &Error{Reason: PoolNotEligible, Service: req.Service, Pool: p.Name}
		}
		return []*poolState{p}, nil
	}
	var candidates []*poolState
	for _, p := range a.pools.ordered {
		if p.AutoAssign && req.admits(p.Name) {
			candidates = append(candidates, p)
		}
	}
	if len(candidates) == 0 {
		return nil, &Error{Reason: NoEligiblePool, Service: req.Service}
	}
	return candidates, nil
}

// offers reports whether pool p has the families req's policy needs.
func offers(p *poolState, req *Request) bool {
	if req.Policy == PreferDualStack {
		return slices.ContainsFunc(req.Families, p.hasFamily)
	}
	for _, f := range req.Families {
		if !p.hasFamily(f) {
			return false
		}
	}
	return true
}

// familiesText names the families req needs, for FamilyUnavailable.
func familiesText(req *Request) string {
	if len(req.Families) == 1 {
		return req.Families[0].String()
	}
	if req.Policy == RequireDualStack {
		return "both IPv4 and IPv6"
	}
	return "IPv4 or IPv6"
}

// pick returns the address of family f in pool p that h should get: the
// lowest address already shared under h's sharing key that can take h, else
// the lowest free address.
func (a *Allocator) pick(p *poolState, f Family, h *holding) (netip.Addr, bool) {
	if h.group.key != "" {
		if ip, ok := a.sharedCandidate(p, f, h); ok {
			return ip, true
		}
	}
	return p.lowestFree(f)
}

// attach records h (already checked) in the allocator's indexes.
func (a *Allocator) attach(h *holding) {
	if h == nil {
		return
	}
	a.services[h.service] = h
	for _, ip := range h.ips {
		st := a.ips[ip]
		if st == nil {
			st = &ipState{group: h.group}
			a.ips[ip] = st
			if p, _ := a.pools.poolOf(ip); p != nil { // else unpooled
				st.pool = p
				p.used.add(ip)
				p.assigned[FamilyOf(ip).index()]++
			}
			if h.group.key != "" {
				a.groupSet(h.group).ReplaceOrInsert(ip)
			}
		}
		at, _ := slices.BinarySearchFunc(st.holders, h.service, func(x *holding, s string) int {
			return strings.Compare(x.service, s)
		})
		st.holders = slices.Insert(st.holders, at, h)
	}
}

// detach removes h from the allocator's indexes, freeing addresses nobody
// else holds.
func (a *Allocator) detach(h *holding) {
	if h == nil {
		return
	}
	delete(a.services, h.service)
	for _, ip := range h.ips {
		st := a.ips[ip]
		st.holders = slices.DeleteFunc(st.holders, func(x *holding) bool { return x == h })
		if len(st.holders) > 0 {
			continue
		}
		delete(a.ips, ip)
		if st.pool != nil {
			st.pool.used.remove(ip)
			st.pool.assigned[FamilyOf(ip).index()]--
		}
		if set := a.groups[st.group]; set != nil {
			set.Delete(ip)
			if set.Len() == 0 {
				delete(a.groups, st.group)
			}
		}
	}
}

// groupSet returns the address set of a sharing group, creating it.
func (a *Allocator) groupSet(g sharingGroup) *btree.BTreeG[netip.Addr] {
	set := a.groups[g]
	if set == nil {
		set = btree.NewG(8, netip.Addr.Less)
		a.groups[g] = set
	}
	return set
}
