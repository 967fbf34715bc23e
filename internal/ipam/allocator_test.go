package ipam

import (
	"testing"
)

var (
	v4 = IPv4
	v6 = IPv6
)

// TestAllocationRules runs assign/release/restore/SetPools sequences, one
// scenario per rule of docs/allocation.md.
func TestAllocationRules(t *testing.T) {
	tests := []struct {
		name  string
		pools []Pool
		steps []step
	}{
		{
			name:  "lowest free address, reused after release",
			pools: []Pool{pool("a", "10.0.0.0/30")},
			steps: []step{
				assign(svc("s1"), "a 10.0.0.0"),
				assign(svc("s2"), "a 10.0.0.1"),
				assign(svc("s3"), "a 10.0.0.2"),
				release("s2", true),
				release("s2", false),
				assign(svc("s4"), "a 10.0.0.1"),
				assign(svc("s5"), "a 10.0.0.3"),
				assignFails(svc("s6"), PoolExhausted),
				lookup("s6", ""),
				lookup("s4", "a 10.0.0.1"),
			},
		},
		{
			name:  "lowest address across the ranges of a pool",
			pools: []Pool{pool("a", "10.0.5.0/31 10.0.1.7-10.0.1.7")},
			steps: []step{
				assign(svc("s1"), "a 10.0.1.7"),
				assign(svc("s2"), "a 10.0.5.0"),
				assign(svc("s3"), "a 10.0.5.1"),
				assignFails(svc("s4"), PoolExhausted),
			},
		},
		{
			name: "priority: lower non-zero first, unset last, ties by name",
			pools: []Pool{
				pool("unset", "10.0.9.0/32"),
				pool("p2", "10.0.2.0/32", priority(2)),
				pool("b-p1", "10.0.1.1/32", priority(1)),
				pool("a-p1", "10.0.1.0/32", priority(1)),
			},
			steps: []step{
				assign(svc("s1"), "a-p1 10.0.1.0"),
				assign(svc("s2"), "b-p1 10.0.1.1"),
				assign(svc("s3"), "p2 10.0.2.0"),
				assign(svc("s4"), "unset 10.0.9.0"),
				assignFails(svc("s5"), PoolExhausted),
				release("s1", true),
				assign(svc("s6"), "a-p1 10.0.1.0"),
			},
		},
		{
			name: "restricted pools come first among pools of equal priority",
			pools: []Pool{
				pool("a-default", "10.0.0.0/32"),
				pool("z-team", "10.0.9.0/32", restricted),
				pool("p1-default", "10.0.1.0/32", priority(1)),
				pool("p1-team", "10.0.2.0/32", priority(1), restricted),
			},
			steps: []step{
				assign(svc("s1"), "p1-team 10.0.2.0"),
				assign(svc("s2"), "p1-default 10.0.1.0"),
				assign(svc("s3"), "z-team 10.0.9.0"),
				assign(svc("s4"), "a-default 10.0.0.0"),
				release("s3", true),
				release("s4", true),
				assign(svc("other-team", admittedTo("a-default", "p1-default")), "a-default 10.0.0.0"),
				assign(svc("team", admittedTo("a-default", "z-team")), "z-team 10.0.9.0"),
			},
		},
		{
			name: "autoAssign false serves only explicit requests",
			pools: []Pool{
				pool("expensive", "192.0.2.0/31", manual, priority(1)),
				pool("cheap", "10.0.0.0/32"),
			},
			steps: []step{
				assign(svc("auto"), "cheap 10.0.0.0"),
				assignFails(svc("auto2"), PoolExhausted),
				assign(svc("by-pool", fromPool("expensive")), "expensive 192.0.2.0"),
				assign(svc("by-ip", ips("192.0.2.1")), "expensive 192.0.2.1"),
				assignFails(svc("more", fromPool("expensive")), PoolExhausted),
			},
		},
		{
			name:  "no pool serves automatic requests",
			pools: []Pool{pool("manual", "10.0.0.0/24", manual)},
			steps: []step{
				assignFails(svc("s1"), NoEligiblePool),
				assign(svc("s2", fromPool("manual")), "manual 10.0.0.0"),
			},
		},
		{
			name: "avoidBuggyIPs skips .0 and .255 in every /24, other pools do not",
			pools: []Pool{
				pool("careful", "10.0.0.254-10.0.2.0", avoidBuggy, priority(1)),
				pool("plain", "10.1.0.255-10.1.1.0"),
			},
			steps: []step{
				assign(svc("s1"), "careful 10.0.0.254"),
				assign(svc("s2"), "careful 10.0.1.1"),
				assign(svc("s3", ips("10.0.1.254")), "careful 10.0.1.254"),
				assignFails(svc("s4", ips("10.0.1.255")), IPNotInAnyPool),
				assignFails(svc("s5", ips("10.0.2.0")), IPNotInAnyPool),
				assign(svc("s6"), "careful 10.0.1.2"),
				assign(svc("s7", ips("10.1.0.255")), "plain 10.1.0.255"),
				assign(svc("s8", fromPool("plain")), "plain 10.1.1.0"),
			},
		},
		{
			name: "explicit addresses and their refusals",
			pools: []Pool{
				pool("a", "10.0.0.0/24"),
				pool("b", "10.0.1.0/24 fd00::/64"),
				pool("c", "fd01::/64"),
			},
			steps: []step{
				assign(svc("s1", ips("10.0.0.7")), "a 10.0.0.7"),
				inUse(svc("s2", ips("10.0.0.7")), "ns/s1"),
				assignFails(svc("s3", ips("10.9.9.9")), IPNotInAnyPool),
				assignFails(svc("s4", ips("10.0.0.8"), fromPool("b")), IPNotInRequestedPool),
				assignFails(svc("s5", ips("10.0.0.8"), fromPool("nope")), UnknownPool),
				assignFails(svc("s6", ips("fd00::1")), WrongFamily),
				assignFails(svc("s7", ips("10.0.1.1,fd01::1"), families(RequireDualStack, v4, v6)), IPsInDifferentPools),
				assignFails(svc("s8", ips("10.0.0.8"), admittedTo("b")), PoolNotEligible),
				assign(svc("s9", ips("fd00::9,10.0.1.9"), families(RequireDualStack, v4, v6)), "b 10.0.1.9,fd00::9"),
				assignFails(svc("s10", ips("10.0.1.10"), families(RequireDualStack, v4, v6)), WrongFamily),
				assign(svc("s11", ips("10.0.1.11"), families(PreferDualStack, v4, v6)), "b 10.0.1.11"),
				assign(svc("s12"), "a 10.0.0.0"),
			},
		},
		{
			name: "requested pool",
			pools: []Pool{
				pool("a", "10.0.0.0/24", priority(1)),
				pool("b", "10.0.1.0/24"),
			},
			steps: []step{
				assign(svc("s1", fromPool("b")), "b 10.0.1.0"),
				assignFails(svc("s2", fromPool("zzz")), UnknownPool),
				assignFails(svc("s3", fromPool("b"), admittedTo("a")), PoolNotEligible),
			},
		},
		{
			name: "serviceAllocation eligibility decides among pools",
			pools: []Pool{
				pool("team-a", "10.0.0.0/32", priority(1)),
				pool("team-b", "10.0.1.0/31", priority(2)),
				pool("shared", "10.0.2.0/24"),
			},
			steps: []step{
				assign(svc("b1", admittedTo("team-b", "shared")), "team-b 10.0.1.0"),
				assign(svc("a1", admittedTo("team-a", "shared")), "team-a 10.0.0.0"),
				assign(svc("a2", admittedTo("team-a", "shared")), "shared 10.0.2.0"),
				assign(svc("x", admittedTo("shared")), "shared 10.0.2.1"),
				assignFails(svc("y", admittedTo()), NoEligiblePool),
			},
		},
		{
			name: "dual-stack policies and family order",
			pools: []Pool{
				pool("v4only", "10.0.0.0/24", priority(1)),
				pool("v6only", "fd00::/64", priority(2)),
				pool("dual", "10.1.0.0/24 fd01::/64", priority(3)),
			},
			steps: []step{
				assign(svc("single4"), "v4only 10.0.0.0"),
				assign(svc("single6", families(SingleStack, v6)), "v6only fd00::"),
				assign(svc("prefer", families(PreferDualStack, v4, v6)), "dual 10.1.0.0,fd01::"),
				assign(svc("require", families(RequireDualStack, v6, v4)), "dual fd01::1,10.1.0.1"),
				assign(svc("prefer-one-family", families(PreferDualStack, v6)), "v6only fd00::1"),
			},
		},
		{
			name: "PreferDualStack falls back to one family, RequireDualStack does not",
			pools: []Pool{
				pool("v6only", "fd00::/126", priority(1)),
				pool("v4only", "10.0.0.0/32", priority(2)),
			},
			steps: []step{
				assign(svc("prefer", families(PreferDualStack, v4, v6)), "v4only 10.0.0.0"),
				assign(svc("prefer2", families(PreferDualStack, v4, v6)), "v6only fd00::"),
				assignFails(svc("require", families(RequireDualStack, v4, v6)), FamilyUnavailable),
				assignFails(svc("single6", families(SingleStack, v6), fromPool("v4only")), FamilyUnavailable),
			},
		},
		{
			name: "RequireDualStack needs both families free in one pool",
			pools: []Pool{
				pool("dual", "10.0.0.0/32 fd00::/127"),
			},
			steps: []step{
				assign(svc("s1"), "dual 10.0.0.0"),
				assignFails(svc("s2", families(RequireDualStack, v4, v6)), PoolExhausted),
				assign(svc("s3", families(PreferDualStack, v4, v6)), "dual fd00::"),
			},
		},
		{
			name: "policy changes keep the address that stays valid",
			pools: []Pool{
				pool("v4only", "10.0.0.0/24", priority(1)),
				pool("dual", "10.1.0.0/24 fd01::/64", priority(2)),
			},
			steps: []step{
				assign(svc("s", fromPool("dual")), "dual 10.1.0.0"),
				assign(svc("s", families(PreferDualStack, v4, v6)), "dual 10.1.0.0,fd01::"),
				assign(svc("s", families(RequireDualStack, v4, v6)), "dual 10.1.0.0,fd01::"),
				assign(svc("s"), "dual 10.1.0.0"),
				assign(svc("t"), "v4only 10.0.0.0"),
				assign(svc("t", families(PreferDualStack, v4, v6)), "v4only 10.0.0.0"),
				assign(svc("t", families(RequireDualStack, v4, v6)), "dual 10.1.0.1,fd01::"),
				assign(svc("u", families(SingleStack, v6)), "dual fd01::1"),
			},
		},
		{
			name:  "assignments are idempotent and move only when the request changes",
			pools: []Pool{pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24", manual)},
			steps: []step{
				assign(svc("s1"), "a 10.0.0.0"),
				assign(svc("s2"), "a 10.0.0.1"),
				assign(svc("s1"), "a 10.0.0.0"),
				release("s1", true),
				assign(svc("s2"), "a 10.0.0.1"),
				assign(svc("s2", fromPool("a")), "a 10.0.0.1"),
				assign(svc("s2", fromPool("b")), "b 10.0.1.0"),
				assign(svc("s2"), "b 10.0.1.0"),
				assign(svc("s2", ips("10.0.0.9")), "a 10.0.0.9"),
				assign(svc("s3", ips("10.0.0.10")), "a 10.0.0.10"),
				inUse(svc("s2", ips("10.0.0.10")), "ns/s3"),
				lookup("s2", "a 10.0.0.9"),
				assignFails(svc("s2", ips("10.9.0.0")), IPNotInAnyPool),
				lookup("s2", "a 10.0.0.9"),
				assign(svc("s2"), "a 10.0.0.9"),
				assign(svc("s3", fromPool("b"), admittedTo("b")), "b 10.0.1.0"),
			},
		},
		{
			name:  "sharing: many TCP services behind one address",
			pools: []Pool{pool("a", "10.0.0.0/24")},
			steps: []step{
				assign(svc("postgres", sharing("db", "TCP/5432")), "a 10.0.0.0"),
				assign(svc("mysql", sharing("db", "TCP/3306")), "a 10.0.0.0"),
				assign(svc("redis", sharing("db", "TCP/6379")), "a 10.0.0.0"),
				assign(svc("dns", sharing("db", "TCP/53 UDP/53")), "a 10.0.0.0"),
				assign(svc("postgres2", sharing("db", "TCP/5432")), "a 10.0.0.1"),
				assign(svc("alone"), "a 10.0.0.2"),
				release("postgres", true),
				assign(svc("mysql", sharing("db", "TCP/3306")), "a 10.0.0.0"),
				assign(svc("postgres3", sharing("db", "TCP/5432")), "a 10.0.0.0"),
			},
		},
		{
			name:  "sharing refusals",
			pools: []Pool{pool("a", "10.0.0.0/24")},
			steps: []step{
				assign(svc("web", sharing("k", "TCP/80"), ips("10.0.0.5")), "a 10.0.0.5"),
				refused(svc("web2", sharing("k", "TCP/80"), ips("10.0.0.5")), "ns/web", PortsOverlap),
				refused(svc("other", sharing("other", "TCP/443"), ips("10.0.0.5")), "ns/web", KeysDiffer),
				inUse(svc("plain", ports("TCP/443"), ips("10.0.0.5")), "ns/web"),
				assign(svc("exclusive", ports("TCP/22"), ips("10.0.0.6")), "a 10.0.0.6"),
				inUse(svc("joiner", sharing("k", "TCP/23"), ips("10.0.0.6")), "ns/exclusive"),
				assign(svc("local", sharing("k", "TCP/8080"), backend("app=x"), ips("10.0.0.7")), "a 10.0.0.7"),
				refused(svc("local2", sharing("k", "TCP/8081"), backend("app=y"), ips("10.0.0.7")), "ns/local", BackendsDiffer),
				refused(svc("cluster", sharing("k", "TCP/8081"), ips("10.0.0.7")), "ns/local", BackendsDiffer),
				assign(svc("local3", sharing("k", "TCP/8081"), backend("app=x"), ips("10.0.0.7")), "a 10.0.0.7"),
				assign(svc("auto", sharing("k", "TCP/80")), "a 10.0.0.0"),
			},
		},
		{
			name:  "sharing: a changed request moves only the service that changed",
			pools: []Pool{pool("a", "10.0.0.0/24")},
			steps: []step{
				assign(svc("x", sharing("k", "TCP/80")), "a 10.0.0.0"),
				assign(svc("y", sharing("k", "TCP/81")), "a 10.0.0.0"),
				assign(svc("y", sharing("k", "TCP/80")), "a 10.0.0.1"),
				assign(svc("x", sharing("k2", "TCP/80")), "a 10.0.0.0"),
				assign(svc("x", ports("TCP/80")), "a 10.0.0.0"),
				assign(svc("y", sharing("k", "TCP/80")), "a 10.0.0.1"),
			},
		},
		{
			name:  "restore rebuilds state, the first claim wins",
			pools: []Pool{pool("a", "10.0.0.0/24"), pool("m", "10.0.1.0/24", manual)},
			steps: []step{
				restore(svc("old"), "10.0.0.5"),
				restoreFails(svc("new"), "10.0.0.5", IPInUse, "ns/old"),
				assign(svc("new"), "a 10.0.0.0"),
				restore(svc("manual"), "10.0.1.3"),
				assign(svc("manual"), "m 10.0.1.3"),
				restore(svc("old"), "10.0.0.5"),
				assign(svc("old"), "a 10.0.0.5"),
				restore(svc("gone"), "10.7.0.1"),
				lookup("gone", "? 10.7.0.1?"),
				assign(svc("gone"), "? 10.7.0.1?"),
				restore(svc("sh1", sharing("k", "TCP/1")), "10.0.0.9"),
				restore(svc("sh2", sharing("k", "TCP/2")), "10.0.0.9"),
				{op: "restore", req: svc("sh3", sharing("k", "TCP/2")), ips: "10.0.0.9",
					fail: SharingRefused, holder: "ns/sh2", detail: PortsOverlap},
				assign(svc("sh3", sharing("k", "TCP/2")), "a 10.0.0.1"),
				restore(svc("moved-annotation", ips("10.0.0.30")), "10.0.0.20"),
				lookup("moved-annotation", "a 10.0.0.20"),
				assign(svc("moved-annotation", ips("10.0.0.30")), "a 10.0.0.30"),
			},
		},
		{
			name:  "restored addresses that no longer fit the request move on Assign",
			pools: []Pool{pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24")},
			steps: []step{
				restore(svc("wants-b", fromPool("b")), "10.0.0.4"),
				assign(svc("wants-b", fromPool("b")), "b 10.0.1.0"),
				restore(svc("not-admitted", admittedTo("b")), "10.0.0.5"),
				assign(svc("not-admitted", admittedTo("b")), "b 10.0.1.1"),
				restore(svc("dual", families(PreferDualStack, v4, v6)), "10.0.0.6"),
				assign(svc("dual", families(PreferDualStack, v4, v6)), "a 10.0.0.6"),
				restore(svc("wrong-family", families(SingleStack, v6)), "10.0.0.7"),
				assignFails(svc("wrong-family", families(SingleStack, v6)), FamilyUnavailable),
				lookup("wrong-family", "a 10.0.0.7"),
			},
		},
		{
			name: "pool changes keep every address; those outside every pool wait for it",
			pools: []Pool{
				pool("a", "10.0.0.0/24"),
				pool("d", "10.1.0.0/24 fd00::/64"),
			},
			steps: []step{
				assign(svc("s1"), "a 10.0.0.0"),
				assign(svc("s0", ips("10.0.0.1")), "a 10.0.0.1"),
				assign(svc("s2", ips("10.0.0.200")), "a 10.0.0.200"),
				assign(svc("s3", families(RequireDualStack, v4, v6), fromPool("d")), "d 10.1.0.0,fd00::"),
				assign(svc("s4", ips("10.0.0.255")), "a 10.0.0.255"),
				setPools("",
					pool("renamed", "10.0.0.0/25 10.0.0.255/32", avoidBuggy),
					pool("d", "10.1.0.0/24", manual)),
				lookup("s0", "renamed 10.0.0.1"),
				lookup("s1", "? 10.0.0.0?"),
				lookup("s2", "? 10.0.0.200?"),
				lookup("s3", "d 10.1.0.0,fd00::?"),
				lookup("s4", "? 10.0.0.255?"),
				assign(svc("s1"), "? 10.0.0.0?"),
				assignFails(svc("s2", ips("10.0.0.200")), IPNotInAnyPool),
				lookup("s2", "? 10.0.0.200?"),
				assign(svc("s3", families(RequireDualStack, v4, v6), fromPool("d")), "d 10.1.0.0,fd00::?"),
				assign(svc("s5", fromPool("renamed")), "renamed 10.0.0.2"),
				setPools("", pool("a", "10.0.0.0/24"), pool("d", "10.1.0.0/24 fd00::/64")),
				lookup("s1", "a 10.0.0.0"),
				lookup("s2", "a 10.0.0.200"),
				lookup("s3", "d 10.1.0.0,fd00::"),
				lookup("s4", "a 10.0.0.255"),
				lookup("s5", "a 10.0.0.2"),
				inUse(svc("s6", ips("10.0.0.200")), "ns/s2"),
				assign(svc("s7"), "a 10.0.0.3"),
			},
		},
		{
			name:  "an unpooled service moves only to a pool it requests",
			pools: []Pool{pool("a", "10.0.0.0/24")},
			steps: []step{
				assign(svc("s1"), "a 10.0.0.0"),
				assign(svc("s2"), "a 10.0.0.1"),
				setPools("", pool("b", "10.2.0.0/24")),
				assign(svc("s1", fromPool("a")), "? 10.0.0.0?"),
				assign(svc("s1", fromPool("b")), "b 10.2.0.0"),
				assign(svc("s2", ips("10.2.0.7")), "b 10.2.0.7"),
				assign(svc("s3"), "b 10.2.0.1"),
				setPools("", pool("a", "10.0.0.0/24"), pool("b", "10.2.0.0/24")),
				assign(svc("s4"), "a 10.0.0.0"),
			},
		},
		{
			name:  "restore under an empty configuration keeps every claim",
			pools: nil,
			steps: []step{
				restore(svc("s1"), "10.0.0.9"),
				restore(svc("sh1", sharing("k", "TCP/1")), "10.0.0.5"),
				restore(svc("sh2", sharing("k", "TCP/2")), "10.0.0.5"),
				{op: "restore", req: svc("sh3", sharing("k", "TCP/2")), ips: "10.0.0.5",
					fail: SharingRefused, holder: "ns/sh2", detail: PortsOverlap},
				assign(svc("s1"), "? 10.0.0.9?"),
				assignFails(svc("new"), NoEligiblePool),
				setPools("", pool("a", "10.0.0.0/24")),
				lookup("s1", "a 10.0.0.9"),
				lookup("sh2", "a 10.0.0.5"),
				assign(svc("new"), "a 10.0.0.0"),
				assign(svc("sh3", sharing("k", "TCP/3")), "a 10.0.0.5"),
			},
		},
		{
			name:  "turning autoAssign off keeps held addresses",
			pools: []Pool{pool("a", "10.0.0.0/24")},
			steps: []step{
				assign(svc("s1"), "a 10.0.0.0"),
				setPools("", pool("a", "10.0.0.0/24", manual)),
				assign(svc("s1"), "a 10.0.0.0"),
				assignFails(svc("s2"), NoEligiblePool),
			},
		},
		{
			name:  "a dual-stack service split across pools keeps its first address",
			pools: []Pool{pool("d", "10.1.0.0/24 fd00::/64")},
			steps: []step{
				assign(svc("s", families(PreferDualStack, v6, v4)), "d fd00::,10.1.0.0"),
				setPools("ns/s", pool("d4", "10.1.0.0/24"), pool("d6", "fd00::/64")),
				lookup("s", "d6 fd00::"),
				assign(svc("s", families(PreferDualStack, v6, v4)), "d6 fd00::"),
			},
		},
		{
			name:  "invalid pools are refused and change nothing",
			pools: []Pool{pool("a", "10.0.0.0/24")},
			steps: []step{
				assign(svc("s1"), "a 10.0.0.0"),
				setPoolsFails(pool("a", "10.0.0.0/24"), pool("b", "10.0.0.128/25")),
				setPoolsFails(pool("a", "10.0.0.0/24"), pool("a", "10.0.1.0/24")),
				setPoolsFails(pool("", "10.0.0.0/24")),
				lookup("s1", "a 10.0.0.0"),
				assign(svc("s2"), "a 10.0.0.1"),
			},
		},
		{
			name:  "bad requests",
			pools: []Pool{pool("a", "10.0.0.0/24 fd00::/64")},
			steps: []step{
				assignFails(Request{Families: []Family{v4}}, BadRequest),
				assignFails(svc("no-family", families(SingleStack)), BadRequest),
				assignFails(svc("twice", families(PreferDualStack, v4, v4)), BadRequest),
				assignFails(svc("single-two", families(SingleStack, v4, v6)), BadRequest),
				assignFails(svc("require-one", families(RequireDualStack, v4)), BadRequest),
				assignFails(svc("two-v4", ips("10.0.0.1,10.0.0.2"), families(PreferDualStack, v4, v6)), WrongFamily),
				assignFails(svc("zone", ips("fd00::1%eth0"), families(SingleStack, v6)), BadRequest),
				assignFails(svc("mapped", ips("::ffff:10.0.0.1")), BadRequest),
				restoreFails(svc("two-v4"), "10.0.0.1,10.0.0.2", BadRequest, ""),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := runSteps(t, tt.pools, tt.steps)
			checkConsistent(t, a)
		})
	}
}
