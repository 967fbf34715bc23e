package ipam

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestProperties drives the allocator like the controller does, with random
// service creations, updates, deletions, controller restarts and pool
// changes, and checks after every step, against the model's own view of the
// cluster (the services' status):
//   - the allocator holds exactly what the status says;
//   - no address is held by two services that may not share it;
//   - every held address lies in its pool (and is not a .0/.255 address the
//     pool avoids), and settled services hold addresses valid for their
//     request;
//   - a restart or pool change never moves an address that is still valid,
//     and restoring gives the same result in any list order;
//   - an address outside every pool is never given up for that reason: it
//     stays held (unpooled) until the service asks for other addresses or an
//     existing pool;
//   - a fresh automatic request gets the lowest free address of the first
//     eligible pool, found by brute force.
func TestProperties(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			m := newModel(t, seed)
			for i := 0; i < 300; i++ {
				m.step()
				m.check()
			}
		})
	}
}

// slots are the address ranges random pool configurations are built from.
var slots = []string{"10.0.0.252-10.0.1.2", "10.0.2.0/30", "10.0.3.0/31", "fd00::/126", "fd00:1::/127", "10.0.4.0/30"}

var poolNames = []string{"p0", "p1", "p2"}

type spec struct {
	families []Family
	policy   FamilyPolicy
	ips      []netip.Addr
	pool     string
	admits   []string // nil: every pool admits the service
	key      string
	backend  string
	ports    []Port
}

func (s *spec) request(name string) Request {
	r := Request{Service: name, Families: s.families, Policy: s.policy, IPs: s.ips, Pool: s.pool,
		SharingKey: s.key, BackendKey: s.backend, Ports: s.ports}
	if s.admits != nil {
		r.Admits = func(p string) bool { return slices.Contains(s.admits, p) }
	}
	return r
}

func (s *spec) admitsPool(p string) bool { return s.admits == nil || slices.Contains(s.admits, p) }

type model struct {
	t       *testing.T
	r       *rand.Rand
	a       *Allocator
	pools   []Pool
	specs   map[string]*spec
	status  map[string]Assignment
	created map[string]int
	// settled services' last Assign succeeded with their current spec and
	// configuration, so their status must be valid for their request.
	settled map[string]bool
	clock   int
}

func newModel(t *testing.T, seed uint64) *model {
	m := &model{t: t, r: rand.New(rand.NewPCG(seed, 7)), specs: map[string]*spec{},
		status: map[string]Assignment{}, created: map[string]int{}, settled: map[string]bool{}}
	m.pools = m.randomPools()
	a, err := New(m.pools)
	if err != nil {
		t.Fatal(err)
	}
	m.a = a
	return m
}

func (m *model) randomPools() []Pool {
	byName := map[string]*Pool{}
	for _, slot := range slots {
		if m.r.IntN(5) == 0 {
			continue
		}
		name := poolNames[m.r.IntN(len(poolNames))]
		if byName[name] == nil {
			byName[name] = &Pool{Name: name, AutoAssign: m.r.IntN(5) > 0, AvoidBuggyIPs: m.r.IntN(3) == 0,
				Priority: m.r.IntN(3), Restricted: m.r.IntN(3) == 0}
		}
		byName[name].Ranges = append(byName[name].Ranges, mustRange(slot))
	}
	var pools []Pool
	for _, name := range poolNames {
		if p := byName[name]; p != nil {
			pools = append(pools, *p)
		}
	}
	return pools
}

func (m *model) randomSpec() *spec {
	s := &spec{}
	switch m.r.IntN(5) {
	case 0:
		s.families = []Family{IPv4}
	case 1:
		s.families = []Family{IPv6}
	case 2:
		s.families, s.policy = []Family{IPv4, IPv6}, PreferDualStack
	case 3:
		s.families, s.policy = []Family{IPv6, IPv4}, PreferDualStack
	default:
		s.families, s.policy = []Family{IPv4, IPv6}, RequireDualStack
	}
	if m.r.IntN(6) == 0 {
		s.ips = []netip.Addr{m.randomAddr()}
		if m.r.IntN(2) == 0 {
			if other := m.randomAddr(); FamilyOf(other) != FamilyOf(s.ips[0]) {
				s.ips = append(s.ips, other)
			}
		}
	}
	if m.r.IntN(6) == 0 {
		s.pool = []string{"p0", "p1", "p2", "nope"}[m.r.IntN(4)]
	}
	if m.r.IntN(5) == 0 {
		s.admits = []string{poolNames[m.r.IntN(3)], poolNames[m.r.IntN(3)]}
	}
	if m.r.IntN(2) == 0 {
		s.key = []string{"k1", "k2"}[m.r.IntN(2)]
		if m.r.IntN(4) == 0 {
			s.backend = "app=x"
		}
	}
	for _, p := range []Port{{"TCP", 1}, {"TCP", 2}, {"UDP", 1}} {
		if m.r.IntN(2) == 0 {
			s.ports = append(s.ports, p)
		}
	}
	return s
}

// randomAddr returns an address of a random slot, or one outside them all.
func (m *model) randomAddr() netip.Addr {
	if m.r.IntN(8) == 0 {
		return netip.MustParseAddr("10.9.9.9")
	}
	rng := mustRange(slots[m.r.IntN(len(slots))])
	ip := rng.From()
	for n := m.r.IntN(6); n > 0 && ip != rng.To(); n-- {
		ip = ip.Next()
	}
	return ip
}

func (m *model) serviceNames() []string {
	names := make([]string, 0, len(m.specs))
	for name := range m.specs {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(m.created[a], m.created[b]) })
	return names
}

func (m *model) step() {
	name := fmt.Sprintf("ns/s%d", m.r.IntN(14))
	switch op := m.r.IntN(20); {
	case op < 10:
		if m.specs[name] == nil {
			m.clock++
			m.specs[name], m.created[name] = m.randomSpec(), m.clock
		}
		m.assign(name)
	case op < 13:
		if m.specs[name] != nil {
			m.specs[name] = m.randomSpec()
			m.assign(name)
		}
	case op < 16:
		if m.specs[name] != nil {
			m.a.Release(name)
			delete(m.specs, name)
			delete(m.status, name)
			delete(m.settled, name)
		}
	case op < 18:
		m.restart()
	default:
		m.changePools()
	}
}

// assign does what the controller does for one service.
func (m *model) assign(name string) {
	s := m.specs[name]
	before, held := m.status[name]
	asg, err := m.a.Assign(s.request(name))
	m.checkUnpooledKept(name, before, asg, err)
	if err != nil {
		if _, ok := err.(*Error); !ok {
			m.t.Fatalf("Assign(%s) returned %T %v, want *Error", name, err, err)
		}
		m.settled[name] = false
		if held && !m.canStillShare(name) {
			delete(m.status, name)
		}
		return
	}
	if !held && len(s.ips) == 0 && s.pool == "" && len(s.families) == 1 && s.key == "" {
		if want := m.lowestFree(s); format(asg) != want {
			m.t.Fatalf("Assign(%s) = %q, brute force says %q", name, format(asg), want)
		}
	}
	m.status[name] = asg
	m.settled[name] = len(asg.Unpooled) == 0
}

// checkUnpooledKept checks that a service none of whose addresses is in a
// pool keeps those of its families, unless it now requests addresses or an
// existing pool, or may no longer share them.
func (m *model) checkUnpooledKept(name string, before, after Assignment, err error) {
	s := m.specs[name]
	if before.Pool != "" || len(before.IPs) == 0 || len(s.ips) > 0 || !m.canStillShare(name) {
		return
	}
	for _, p := range m.pools {
		if p.Name == s.pool {
			return
		}
	}
	for _, ip := range before.IPs {
		if slices.Contains(s.families, FamilyOf(ip)) && !slices.Contains(after.IPs, ip) {
			m.t.Fatalf("Assign(%s) = %q, %v: gave up %s, held outside every pool (was %q)", name, format(after), err, ip, format(before))
		}
	}
}

// canStillShare reports whether the service, as its spec now is, may share
// the addresses its status holds with their other holders.
func (m *model) canStillShare(name string) bool {
	for other, asg := range m.status {
		if other == name {
			continue
		}
		for _, ip := range asg.IPs {
			if slices.Contains(m.status[name].IPs, ip) && incompatible(m.specs[name], m.specs[other]) != "" {
				return false
			}
		}
	}
	return true
}

// lowestFree computes by brute force what a fresh automatic single-family
// request without sharing must get.
func (m *model) lowestFree(s *spec) string {
	pools := slices.Clone(m.pools)
	// Sort by "unset priority?/priority/unrestricted?/name" (priorities are 0..2 here).
	key := func(p Pool) string {
		return fmt.Sprintf("%t/%d/%t/%s", p.Priority == 0, p.Priority, !p.Restricted, p.Name)
	}
	slices.SortFunc(pools, func(a, b Pool) int { return cmp.Compare(key(a), key(b)) })
	held := map[netip.Addr]bool{}
	for _, asg := range m.status {
		for _, ip := range asg.IPs {
			held[ip] = true
		}
	}
	for _, p := range pools {
		if !p.AutoAssign || !s.admitsPool(p.Name) {
			continue
		}
		var best netip.Addr
		for _, rng := range p.Ranges {
			for ip := rng.From(); rng.Contains(ip); ip = ip.Next() {
				if FamilyOf(ip) == s.families[0] && !held[ip] && !(p.AvoidBuggyIPs && isBuggy(ip)) &&
					(!best.IsValid() || ip.Less(best)) {
					best = ip
				}
			}
		}
		if best.IsValid() {
			return p.Name + " " + best.String()
		}
	}
	return "(an error)"
}

// restart replaces the allocator by a new one rebuilt from status, as the
// controller does on start: restore every claim, then reconcile every
// service oldest first.
func (m *model) restart() {
	intruder, victim := m.injectConflictingClaim()
	claims := make([]Claim, 0, len(m.status))
	for _, name := range m.serviceNames() {
		if asg, ok := m.status[name]; ok {
			claims = append(claims, Claim{Request: m.specs[name].request(name), IPs: asg.IPs,
				Created: time.Unix(int64(m.created[name]/3), 0)})
		}
	}
	var first *Allocator
	var firstErrs map[string]bool
	for round := 0; round < 2; round++ {
		a, err := New(m.pools)
		if err != nil {
			m.t.Fatal(err)
		}
		m.r.Shuffle(len(claims), func(i, j int) { claims[i], claims[j] = claims[j], claims[i] })
		failed := map[string]bool{}
		for i, err := range a.RestoreAll(claims) {
			if err != nil {
				failed[claims[i].Request.Service] = true
			}
		}
		if first == nil {
			first, firstErrs = a, failed
			continue
		}
		for name := range m.specs {
			x, xok := first.Lookup(name)
			y, yok := a.Lookup(name)
			if xok != yok || format(x) != format(y) || firstErrs[name] != failed[name] {
				m.t.Fatalf("restore depends on claim order for %s: %q (failed %v) vs %q (failed %v)",
					name, format(x), firstErrs[name], format(y), failed[name])
			}
		}
	}
	if intruder != "" && firstErrs[intruder] {
		m.checkRefusal(first, intruder, victim, claims)
	}
	for name := range firstErrs {
		if m.settled[name] {
			m.t.Fatalf("restart refused the settled claim of %s on %v", name, m.status[name])
		}
		delete(m.status, name)
	}
	m.a = first
	m.reconcileAll()
}

// injectConflictingClaim sometimes gives a service a status naming the
// addresses of an older service, as a conflicting status left by another
// controller would. It returns the two services, or "" when it did nothing.
func (m *model) injectConflictingClaim() (intruder, victim string) {
	names := m.serviceNames()
	if len(names) < 2 || m.r.IntN(3) > 0 {
		return "", ""
	}
	i := m.r.IntN(len(names) - 1)
	j := i + 1 + m.r.IntN(len(names)-i-1)
	victim, intruder = names[i], names[j]
	asg, ok := m.status[victim]
	if !ok || m.created[victim]/3 == m.created[intruder]/3 {
		return "", ""
	}
	m.status[intruder] = asg
	m.settled[intruder] = false
	return intruder, victim
}

// checkRefusal checks that the intruder's claim was refused because an older
// service holds the address, and that the error names a holder.
func (m *model) checkRefusal(a *Allocator, intruder, victim string, claims []Claim) {
	for i, err := range a.RestoreAll(nil) {
		m.t.Fatalf("RestoreAll(nil) returned error %d: %v", i, err)
	}
	for _, c := range claims {
		if c.Request.Service != intruder {
			continue
		}
		err := a.Restore(c.Request, c.IPs)
		ipamErr, ok := err.(*Error)
		if !ok || (ipamErr.Reason != IPInUse && ipamErr.Reason != SharingRefused) {
			m.t.Fatalf("conflicting claim of %s on %v: %v, want IPInUse or SharingRefused", intruder, c.IPs, err)
		}
		if ipamErr.Holder == intruder || !slices.Contains(m.status[ipamErr.Holder].IPs, ipamErr.IP) {
			m.t.Fatalf("claim of %s refused in favour of %s, which does not hold %s", intruder, ipamErr.Holder, ipamErr.IP)
		}
		older := false
		for name, asg := range m.status {
			if name != intruder && slices.Contains(asg.IPs, ipamErr.IP) && m.created[name]/3 < m.created[intruder]/3 {
				older = true
			}
		}
		if !older {
			m.t.Fatalf("claim of %s on %s refused, but no older service holds it (victim %s)", intruder, ipamErr.IP, victim)
		}
	}
}

// changePools applies a random configuration and reconciles every service.
func (m *model) changePools() {
	pools := m.randomPools()
	changed, err := m.a.SetPools(pools)
	if err != nil {
		m.t.Fatalf("SetPools: %v", err)
	}
	m.pools = pools
	var wantChanged []string
	for name, asg := range m.status {
		kept := m.keptAfterPoolChange(asg)
		if len(kept.IPs) == len(asg.IPs) {
			m.status[name] = kept
			continue
		}
		wantChanged = append(wantChanged, name)
		if len(kept.IPs) == 0 {
			delete(m.status, name)
		} else {
			m.status[name] = kept
		}
	}
	slices.Sort(wantChanged)
	if !slices.Equal(changed, wantChanged) {
		m.t.Fatalf("SetPools changed %v, want %v", changed, wantChanged)
	}
	m.checkStatus()
	m.reconcileAll()
}

// keptAfterPoolChange is what SetPools keeps of asg: the addresses in no
// pool, and those in the pool of its first address that is in a pool.
func (m *model) keptAfterPoolChange(asg Assignment) Assignment {
	var kept Assignment
	for _, ip := range asg.IPs {
		p, ok := m.poolOf(ip)
		switch {
		case !ok:
			kept.Unpooled = append(kept.Unpooled, ip)
		case kept.Pool != "" && kept.Pool != p.Name:
			continue
		default:
			kept.Pool = p.Name
		}
		kept.IPs = append(kept.IPs, ip)
	}
	return kept
}

// reconcileAll assigns every service oldest first and checks that no
// settled service lost an address that is still valid for it.
func (m *model) reconcileAll() {
	before := map[string]Assignment{}
	for name, asg := range m.status {
		if m.settled[name] && m.validFor(m.specs[name], asg) {
			before[name] = asg
		}
	}
	for _, name := range m.serviceNames() {
		m.assign(name)
	}
	for name, asg := range before {
		after := m.status[name]
		for _, ip := range asg.IPs {
			if !slices.Contains(after.IPs, ip) {
				m.t.Fatalf("%s moved from %q to %q although its address stayed valid", name, format(asg), format(after))
			}
		}
	}
}

// poolOf finds the pool that may hand out ip, independently of the allocator.
func (m *model) poolOf(ip netip.Addr) (Pool, bool) {
	for _, p := range m.pools {
		for _, rng := range p.Ranges {
			if rng.Contains(ip) && !(p.AvoidBuggyIPs && isBuggy(ip)) {
				return p, true
			}
		}
	}
	return Pool{}, false
}

// validFor reports whether asg satisfies s under the current pools, sharing
// aside.
func (m *model) validFor(s *spec, asg Assignment) bool {
	for _, ip := range asg.IPs {
		if p, ok := m.poolOf(ip); !ok || p.Name != asg.Pool || !slices.Contains(s.families, FamilyOf(ip)) {
			return false
		}
	}
	if !s.admitsPool(asg.Pool) || (s.pool != "" && s.pool != asg.Pool) {
		return false
	}
	if len(s.ips) > 0 && (len(s.ips) != len(asg.IPs) || !sameSet(s.ips, asg.IPs)) {
		return false
	}
	switch s.policy {
	case SingleStack:
		return len(asg.IPs) == 1
	case RequireDualStack:
		return len(asg.IPs) == 2
	}
	return len(asg.IPs) >= 1
}

func sameSet(a, b []netip.Addr) bool {
	for _, ip := range a {
		if !slices.Contains(b, ip) {
			return false
		}
	}
	return true
}

// check verifies the invariants after a step.
func (m *model) check() {
	m.t.Helper()
	m.checkStatus()
	for name, asg := range m.status {
		if m.settled[name] && !m.validFor(m.specs[name], asg) {
			m.t.Fatalf("settled %s holds %q, invalid for its request %+v", name, format(asg), *m.specs[name])
		}
	}
	checkConsistent(m.t, m.a)
	if m.t.Failed() {
		m.t.FailNow()
	}
}

// checkStatus compares the allocator with the status and checks sharing,
// pool membership and counts.
func (m *model) checkStatus() {
	m.t.Helper()
	for name := range m.specs {
		got, ok := m.a.Lookup(name)
		want, held := m.status[name]
		if ok != held || format(got) != format(want) {
			m.t.Fatalf("allocator holds %q for %s, status says %q", format(got), name, format(want))
		}
	}
	holders := map[netip.Addr][]string{}
	assigned := map[string][2]int64{}
	for name, asg := range m.status {
		for _, ip := range asg.IPs {
			p, ok := m.poolOf(ip)
			if ok != !slices.Contains(asg.Unpooled, ip) || (ok && p.Name != asg.Pool) {
				m.t.Fatalf("%s holds %s, which is not an address of pool %q (unpooled %v)", name, ip, asg.Pool, asg.Unpooled)
			}
			for _, other := range holders[ip] {
				if why := incompatible(m.specs[name], m.specs[other]); why != "" {
					m.t.Fatalf("%s and %s both hold %s: %s", name, other, ip, why)
				}
			}
			if len(holders[ip]) == 0 && ok {
				counts := assigned[asg.Pool]
				counts[FamilyOf(ip).index()]++
				assigned[asg.Pool] = counts
			}
			holders[ip] = append(holders[ip], name)
		}
	}
	for _, st := range m.a.Stats() {
		if got := [2]int64{st.AssignedIPv4, st.AssignedIPv6}; got != assigned[st.Pool] {
			m.t.Fatalf("Stats for %q count %v assigned, status holds %v", st.Pool, got, assigned[st.Pool])
		}
	}
}

// incompatible says why two services may not share an address, or "".
func incompatible(a, b *spec) string {
	switch {
	case a.key == "" || b.key == "":
		return "one does not allow sharing"
	case a.key != b.key:
		return "different sharing keys"
	case a.backend != b.backend:
		return "different backends"
	}
	for _, p := range a.ports {
		if slices.Contains(b.ports, p) {
			return "both use " + p.String()
		}
	}
	return ""
}
