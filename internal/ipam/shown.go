package ipam

import (
	"net/netip"
	"slices"
	"strings"
)

// shownSuffix marks the holding that keeps, for a service, the addresses its
// status shows but the allocator does not give it (any more): an address
// freed by a move or a release whose status write has not landed yet, or an
// address on a Service of another loadBalancerClass. Such an address is
// quarantined: nobody else gets it until the status stops showing it, so two
// Services never show one address without sharing it.
const shownSuffix = " (shown in its status)"

// isShownKey reports whether a holding is a quarantine, not a service.
func isShownKey(key string) bool { return strings.HasSuffix(key, shownSuffix) }

// AssignShown is Assign for a service whose status shows shown. The
// addresses of shown the service does not hold afterwards stay quarantined
// (under the service's name, marked "shown in its status") until a later
// call for the service no longer lists them. freed reports whether an
// address the service or its quarantine held became free: the caller should
// retry the services waiting for one.
func (a *Allocator) AssignShown(req Request, shown []netip.Addr) (asg Assignment, freed bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	before := a.heldBy(req.Service)
	// What its own status shows never keeps the service from an address.
	a.detach(a.services[req.Service+shownSuffix])
	asg, aerr := a.assign(&req)
	a.quarantine(req.Service, shown)
	freed = a.anyFree(before)
	if aerr != nil {
		return asg, freed, aerr
	}
	return asg, freed, nil
}

// ReleaseShown releases what the service holds, except the addresses of
// shown (what its status still shows), which stay quarantined until a
// later call no longer lists them. A deleted service has no status: pass
// nil. It reports whether an address became free.
func (a *Allocator) ReleaseShown(service string, shown []netip.Addr) (freed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	before := a.heldBy(service)
	a.detach(a.services[service])
	a.quarantine(service, shown)
	return a.anyFree(before)
}

// quarantine makes the service's quarantine hold exactly the addresses of
// shown that neither the service nor anybody else holds.
func (a *Allocator) quarantine(service string, shown []netip.Addr) {
	key := service + shownSuffix
	a.detach(a.services[key])
	var stale []netip.Addr
	for _, ip := range shown {
		if a.ips[ip] == nil && !slices.Contains(stale, ip) {
			stale = append(stale, ip)
		}
	}
	if len(stale) == 0 {
		return
	}
	req := Request{Service: key}
	if a.restore(&req, stale) == nil {
		return
	}
	for _, ip := range stale { // two families from two pools, say: one by one
		single := Request{Service: key}
		if a.restore(&single, []netip.Addr{ip}) == nil {
			return
		}
	}
}

// heldBy returns the addresses the service and its quarantine hold.
func (a *Allocator) heldBy(service string) []netip.Addr {
	var ips []netip.Addr
	for _, key := range []string{service, service + shownSuffix} {
		if h := a.services[key]; h != nil {
			ips = append(ips, h.ips...)
		}
	}
	return ips
}

// anyFree reports whether one of ips is held by nobody.
func (a *Allocator) anyFree(ips []netip.Addr) bool {
	return slices.ContainsFunc(ips, func(ip netip.Addr) bool { return a.ips[ip] == nil })
}

// SharingRefusal returns why a service asking req may not show ip while
// another service asking other shows it, or nil when they may share it. It
// is the rule Assign applies (an *Error with reason IPInUse or
// SharingRefused), for callers that check a status against others.
func SharingRefusal(ip netip.Addr, req, other Request) error {
	if err := shareRefusal(ip, newHolding(&req), newHolding(&other)); err != nil {
		return err
	}
	return nil
}

// ClaimShown records that a service the allocator does not serve (one of
// another loadBalancerClass) shows shown in its status: the addresses nobody
// holds are quarantined for it, as by ReleaseShown. An address the
// allocator gave to services while the other shows it is a double
// allocation (two controllers chose it at the same moment): if yield
// returns true for every service holding it (the caller's rule, e.g. they
// are younger), those services lose all they hold, the address is
// quarantined for the claimant, and the services are returned, to be
// assigned again. Addresses held by a quarantine are left as they are.
func (a *Allocator) ClaimShown(service string, shown []netip.Addr, yield func(holder string) bool) (evicted []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.detach(a.services[service])
	for _, ip := range shown {
		st := a.ips[ip]
		if st == nil || slices.ContainsFunc(st.holders, func(h *holding) bool { return isShownKey(h.service) || !yield(h.service) }) {
			continue
		}
		for _, h := range slices.Clone(st.holders) {
			a.detach(h)
			evicted = append(evicted, h.service)
		}
	}
	a.quarantine(service, shown)
	return evicted
}

// RevertShown makes the service hold exactly what its status shows, as a
// restart would restore it, dropping what the allocator gave it since: the
// caller found the new addresses unusable. Addresses it cannot hold (another
// service holds them) stay quarantined for it where free.
func (a *Allocator) RevertShown(req Request, shown []netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.detach(a.services[req.Service])
	a.detach(a.services[req.Service+shownSuffix])
	if len(shown) > 0 && a.restore(&req, shown) == nil {
		return
	}
	a.quarantine(req.Service, shown)
}
