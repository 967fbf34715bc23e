package ipam

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// sharingGroup identifies the services that may hold one address together:
// equal non-empty sharing keys and equal backend keys.
type sharingGroup struct{ key, backend string }

// holding is what one service holds, with the attributes that decide whether
// others may share its addresses.
type holding struct {
	service string
	// pool is the pool of the addresses that lie in a pool, nil when none
	// does; the others are unpooled (ipState.pool is nil).
	pool  *poolState
	ips   []netip.Addr
	group sharingGroup
	ports []Port // sorted, without duplicates
}

// newHolding returns the (not yet placed) holding a request asks for.
func newHolding(req *Request) *holding {
	ports := slices.Clone(req.Ports)
	slices.SortFunc(ports, comparePorts)
	return &holding{
		service: req.Service,
		group:   sharingGroup{key: req.SharingKey, backend: req.BackendKey},
		ports:   slices.Compact(ports),
	}
}

func comparePorts(a, b Port) int {
	return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Number, b.Number))
}

// assignment returns the (attached) holding as an Assignment.
func (a *Allocator) assignment(h *holding) Assignment {
	asg := Assignment{IPs: slices.Clone(h.ips)}
	if h.pool != nil {
		asg.Pool = h.pool.Name
	}
	for _, ip := range h.ips {
		if a.ips[ip].pool == nil {
			asg.Unpooled = append(asg.Unpooled, ip)
		}
	}
	return asg
}

// ipOf returns the held address of family f.
func (h *holding) ipOf(f Family) (netip.Addr, bool) {
	for _, ip := range h.ips {
		if FamilyOf(ip) == f {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// ipState is one held address: its pool (nil for an unpooled address), the
// sharing group of its holders and the holders, sorted by service.
type ipState struct {
	pool    *poolState
	group   sharingGroup
	holders []*holding
}

// sharingError returns why h may not hold ip alongside its current holders,
// or nil if it may (h itself must not be among them).
func (a *Allocator) sharingError(ip netip.Addr, h *holding) *Error {
	st := a.ips[ip]
	if st == nil {
		return nil
	}
	for _, holder := range st.holders {
		if err := shareRefusal(ip, h, holder); err != nil {
			return err
		}
	}
	return nil
}

// shareRefusal returns why h may not hold ip together with holder, or nil
// if it may: both need the same non-empty sharing key, the same backend key
// and no common port. It is the one sharing rule.
func shareRefusal(ip netip.Addr, h, holder *holding) *Error {
	refusal := &Error{Service: h.service, IP: ip, Holder: holder.service}
	switch {
	case h.group.key == "" || holder.group.key == "":
		refusal.Reason = IPInUse
	case h.group.key != holder.group.key:
		refusal.Reason, refusal.Conflict = SharingRefused, KeysDiffer
		refusal.Detail = fmt.Sprintf("%q and %q", h.group.key, holder.group.key)
	case h.group.backend != holder.group.backend:
		refusal.Reason, refusal.Conflict = SharingRefused, BackendsDiffer
	default:
		port, overlap := commonPort(h.ports, holder.ports)
		if !overlap {
			return nil
		}
		refusal.Reason, refusal.Conflict, refusal.Port = SharingRefused, PortsOverlap, port
	}
	return refusal
}

// commonPort returns a port present in both sorted lists.
func commonPort(a, b []Port) (Port, bool) {
	for len(a) > 0 && len(b) > 0 {
		switch c := comparePorts(a[0], b[0]); {
		case c == 0:
			return a[0], true
		case c < 0:
			a = a[1:]
		default:
			b = b[1:]
		}
	}
	return Port{}, false
}

// sharedCandidate returns the lowest address of family f in pool p that
// already carries h's sharing key and can take h as another holder. The cost
// is proportional to the number of addresses carrying the key.
func (a *Allocator) sharedCandidate(p *poolState, f Family, h *holding) (netip.Addr, bool) {
	set := a.groups[h.group]
	if set == nil {
		return netip.Addr{}, false
	}
	var found netip.Addr
	set.Ascend(func(ip netip.Addr) bool {
		if a.ips[ip].pool == p && FamilyOf(ip) == f && a.sharingError(ip, h) == nil {
			found = ip
			return false
		}
		return true
	})
	return found, found.IsValid()
}
