package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go4.org/netipx"
)

// This file holds the small language the step tables are written in.

// pool builds a Pool with autoAssign on; ranges are CIDRs or "from-to".
func pool(name string, ranges string, opts ...func(*Pool)) Pool {
	p := Pool{Name: name, AutoAssign: true}
	for _, r := range strings.Fields(ranges) {
		p.Ranges = append(p.Ranges, mustRange(r))
	}
	for _, opt := range opts {
		opt(&p)
	}
	return p
}

func mustRange(s string) netipx.IPRange {
	if prefix, err := netip.ParsePrefix(s); err == nil {
		return netipx.RangeOfPrefix(prefix)
	}
	rng, err := netipx.ParseIPRange(s)
	if err != nil {
		panic(err)
	}
	return rng
}

func manual(p *Pool)     { p.AutoAssign = false }
func avoidBuggy(p *Pool) { p.AvoidBuggyIPs = true }
func restricted(p *Pool) { p.Restricted = true }
func priority(n int) func(*Pool) {
	return func(p *Pool) { p.Priority = n }
}

// svc builds an IPv4 single-stack request for service "ns/<name>".
func svc(name string, opts ...func(*Request)) Request {
	r := Request{Service: "ns/" + name, Families: []Family{IPv4}}
	for _, opt := range opts {
		opt(&r)
	}
	return r
}

func families(policy FamilyPolicy, fs ...Family) func(*Request) {
	return func(r *Request) { r.Policy, r.Families = policy, fs }
}

func ips(list string) func(*Request) {
	return func(r *Request) { r.IPs = mustIPs(list) }
}

func fromPool(name string) func(*Request) {
	return func(r *Request) { r.Pool = name }
}

// admittedTo restricts the pools whose serviceAllocation admits the service.
func admittedTo(pools ...string) func(*Request) {
	return func(r *Request) { r.Admits = func(p string) bool { return slices.Contains(pools, p) } }
}

// sharing sets the sharing key and the ports ("TCP/80 UDP/53").
func sharing(key string, ports string) func(*Request) {
	return func(r *Request) {
		r.SharingKey = key
		r.Ports = mustPorts(ports)
	}
}

func ports(list string) func(*Request) {
	return func(r *Request) { r.Ports = mustPorts(list) }
}

func backend(key string) func(*Request) {
	return func(r *Request) { r.BackendKey = key }
}

func mustPorts(list string) []Port {
	var out []Port
	for _, p := range strings.Fields(list) {
		proto, num, _ := strings.Cut(p, "/")
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			panic(err)
		}
		out = append(out, Port{Protocol: proto, Number: uint16(n)})
	}
	return out
}

func mustIPs(list string) []netip.Addr {
	var out []netip.Addr
	for _, s := range strings.Split(list, ",") {
		out = append(out, netip.MustParseAddr(strings.TrimSpace(s)))
	}
	return out
}

// format renders an assignment as "pool ip,ip", an unpooled address marked
// with "?" ("? 10.9.0.1?" holds one address outside every pool).
func format(a Assignment) string {
	s := make([]string, len(a.IPs))
	for i, ip := range a.IPs {
		s[i] = ip.String()
		if slices.Contains(a.Unpooled, ip) {
			s[i] += "?"
		}
	}
	pool := a.Pool
	if pool == "" {
		pool = "?"
	}
	return pool + " " + strings.Join(s, ",")
}

// step is one operation on the allocator and what it must return.
type step struct {
	op    string // "assign", "restore", "release", "pools", "lookup"
	req   Request
	ips   string // restore: the status addresses
	pools []Pool // pools: the new configuration
	// want is "pool ip,ip" for assign and lookup, "" meaning not held for
	// lookup; the changed services, space separated, for pools; "true" or
	// "false" for release.
	want   string
	fail   Reason // the expected error reason, 0 for success
	holder string // for IPInUse and SharingRefused
	detail SharingConflict
}

func assign(r Request, want string) step { return step{op: "assign", req: r, want: want} }

func assignFails(r Request, reason Reason) step { return step{op: "assign", req: r, fail: reason} }

func inUse(r Request, holder string) step {
	return step{op: "assign", req: r, fail: IPInUse, holder: holder}
}

func refused(r Request, holder string, why SharingConflict) step {
	return step{op: "assign", req: r, fail: SharingRefused, holder: holder, detail: why}
}

func restore(r Request, list string) step { return step{op: "restore", req: r, ips: list} }

func restoreFails(r Request, list string, reason Reason, holder string) step {
	return step{op: "restore", req: r, ips: list, fail: reason, holder: holder}
}

func release(name string, held bool) step {
	return step{op: "release", req: Request{Service: "ns/" + name}, want: strconv.FormatBool(held)}
}

func setPools(want string, pools ...Pool) step {
	return step{op: "pools", pools: pools, want: want}
}

func setPoolsFails(pools ...Pool) step {
	return step{op: "pools", pools: pools, fail: BadRequest}
}

func lookup(name, want string) step {
	return step{op: "lookup", req: Request{Service: "ns/" + name}, want: want}
}

func (s step) String() string {
	switch s.op {
	case "pools":
		return "SetPools"
	case "restore":
		return fmt.Sprintf("Restore(%s, %s)", s.req.Service, s.ips)
	}
	return fmt.Sprintf("%s(%s)", s.op, s.req.Service)
}

// run applies the step and reports any difference from what it expects.
func (s step) run(t *testing.T, a *Allocator) {
	t.Helper()
	var err error
	var got string
	switch s.op {
	case "assign":
		var asg Assignment
		asg, err = a.Assign(s.req)
		if err == nil {
			got = format(asg)
		}
	case "restore":
		err = a.Restore(s.req, mustIPs(s.ips))
	case "release":
		got = strconv.FormatBool(a.Release(s.req.Service))
	case "lookup":
		if asg, ok := a.Lookup(s.req.Service); ok {
			got = format(asg)
		}
	case "pools":
		var changed []string
		changed, err = a.SetPools(s.pools)
		got = strings.Join(changed, " ")
		if err != nil && s.fail == BadRequest {
			return // invalid pools: an error, not an *Error
		}
	default:
		t.Fatalf("unknown step %q", s.op)
	}
	if s.fail != 0 {
		var ipamErr *Error
		switch {
		case !errors.As(err, &ipamErr):
			t.Errorf("%v: got %q, err %v; want reason %v", s, got, err, s.fail)
		case ipamErr.Reason != s.fail || ipamErr.Holder != s.holder || ipamErr.Conflict != s.detail:
			t.Errorf("%v: got error %v (reason %v, holder %q, conflict %v); want reason %v, holder %q, conflict %v",
				s, err, ipamErr.Reason, ipamErr.Holder, ipamErr.Conflict, s.fail, s.holder, s.detail)
		}
		return
	}
	if err != nil {
		t.Errorf("%v: unexpected error: %v", s, err)
		return
	}
	if s.op != "restore" && got != s.want {
		t.Errorf("%v = %q, want %q", s, got, s.want)
	}
}

// runSteps runs a scenario from an allocator over pools.
func runSteps(t *testing.T, pools []Pool, steps []step) *Allocator {
	t.Helper()
	a, err := New(pools)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, s := range steps {
		s.run(t, a)
	}
	return a
}

// checkConsistent verifies the allocator's internal indexes against each
// other: holdings, per-address holders, used runs, counts and sharing groups.
func checkConsistent(t *testing.T, a *Allocator) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, h := range a.services {
		if name != h.service || len(h.ips) == 0 {
			t.Errorf("holding %q is malformed: %+v", name, h)
		}
		for _, ip := range h.ips {
			p, _ := a.pools.poolOf(ip)
			if p != nil && p != h.pool {
				t.Errorf("%s holds %s of pool %q outside its pool %v", name, ip, p.Name, h.pool)
			}
			if st := a.ips[ip]; st != nil && st.pool != p {
				t.Errorf("%s: address %s is recorded in pool %v, belongs to %v", name, ip, st.pool, p)
			}
			if st := a.ips[ip]; st == nil || !slices.Contains(st.holders, h) {
				t.Errorf("%s holds %s but is not among its holders", name, ip)
			}
		}
	}
	held := map[*poolState][2]int64{}
	groups := map[sharingGroup]int{}
	for ip, st := range a.ips {
		if len(st.holders) == 0 {
			t.Errorf("%s has no holders", ip)
			continue
		}
		counts := held[st.pool]
		counts[FamilyOf(ip).index()]++
		held[st.pool] = counts
		if st.pool == nil {
			// unpooled: in no pool's runs or counts
		} else if _, ok := st.pool.used.runContaining(ip); !ok {
			t.Errorf("%s is held but not in the used runs of pool %q", ip, st.pool.Name)
		}
		if st.group.key != "" {
			groups[st.group]++
			if set := a.groups[st.group]; set == nil || !set.Has(ip) {
				t.Errorf("%s is missing from its sharing group %v", ip, st.group)
			}
		}
		for i, h := range st.holders {
			if a.services[h.service] != h {
				t.Errorf("%s is held by a stale holding of %s", ip, h.service)
			}
			if h.group != st.group {
				t.Errorf("%s: holder %s has group %v, address has %v", ip, h.service, h.group, st.group)
			}
			if i > 0 && (st.group.key == "" || st.holders[i-1].service >= h.service) {
				t.Errorf("%s: holders %s and %s are unsorted or share without a key", ip, st.holders[i-1].service, h.service)
			}
			for _, other := range st.holders[:i] {
				if port, overlap := commonPort(h.ports, other.ports); overlap {
					t.Errorf("%s: %s and %s both use %s", ip, h.service, other.service, port)
				}
			}
		}
	}
	for g, set := range a.groups {
		if set.Len() != groups[g] {
			t.Errorf("sharing group %v lists %d addresses, %d are held", g, set.Len(), groups[g])
		}
	}
	for _, p := range a.pools.byName {
		if p.assigned != held[p] {
			t.Errorf("pool %q counts %v assigned, %v are held", p.Name, p.assigned, held[p])
		}
		var inRuns int64
		p.used.runs.Ascend(func(r run) bool {
			if prev := p.used.prev(r.first); prev.IsValid() && a.ips[prev] != nil && a.ips[prev].pool == p {
				t.Errorf("pool %q: run %v is not maximal", p.Name, r)
			}
			for ip := r.first; ; ip = p.used.next(ip) {
				inRuns++
				if a.ips[ip] == nil {
					t.Errorf("pool %q: %s is in run %v but not held", p.Name, ip, r)
				}
				if ip == r.last {
					break
				}
			}
			return true
		})
		if total := held[p][0] + held[p][1]; inRuns != total {
			t.Errorf("pool %q: runs cover %d addresses, %d are held", p.Name, inRuns, total)
		}
	}
}
