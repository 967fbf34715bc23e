// Package ipam is ironlb's address allocator: it hands LoadBalancer IPs out of
// the configured pools to services and remembers who holds what.
//
// The package is pure (no Kubernetes, no I/O). The controller translates
// Services and the validated configuration into Pool, Request and Claim values
// and writes back what the Allocator decides. The rules are described in
// docs/allocation.md; in short:
//
//   - An automatic request gets the lowest free address of the first pool, in
//     priority order, that has autoAssign enabled and admits the service.
//   - Explicit requests (specific IPs or a named pool) may use any pool that
//     admits the service, including autoAssign: false pools.
//   - Services with the same sharing key may hold one address when their
//     ports do not overlap and their backend keys are equal.
//   - An address a service holds never changes while it stays valid for the
//     service's request and the configuration.
//   - An address is never taken away because no pool contains it: a pool
//     that is deleted, shrunk or not applied yet leaves its addresses held
//     (Assignment.Unpooled) until it comes back.
//
// Every operation costs O(log n) in the number of addresses handed out (plus
// the number of pools and ranges), and memory grows with the addresses handed
// out, never with the size of a pool.
package ipam

import (
	"fmt"
	"net/netip"
	"time"

	"go4.org/netipx"
)

// Family is an IP address family.
type Family uint8

// The address families. Their names match Kubernetes' spec.ipFamilies values.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

// index numbers the families 0 and 1 for per-family arrays.
func (f Family) index() int {
	if f == IPv4 {
		return 0
	}
	return 1
}

// FamilyOf returns the family of a valid address.
func FamilyOf(ip netip.Addr) Family {
	if ip.Is4() {
		return IPv4
	}
	return IPv6
}

// FamilyPolicy is a service's spec.ipFamilyPolicy.
type FamilyPolicy uint8

// The family policies. The zero value is SingleStack, Kubernetes' default.
const (
	// SingleStack: one address, of the service's first family.
	SingleStack FamilyPolicy = iota
	// PreferDualStack: one address per family when one pool can give both,
	// otherwise one address of either family (the first family preferred).
	PreferDualStack
	// RequireDualStack: one address per family, both from the same pool.
	RequireDualStack
)

// String returns the Kubernetes name of the policy.
func (p FamilyPolicy) String() string {
	switch p {
	case SingleStack:
		return "SingleStack"
	case PreferDualStack:
		return "PreferDualStack"
	case RequireDualStack:
		return "RequireDualStack"
	}
	return fmt.Sprintf("FamilyPolicy(%d)", uint8(p))
}

// Port is one port a service exposes. Two services may share an address only
// if no Port of one equals a Port of the other.
type Port struct {
	Protocol string // "TCP", "UDP" or "SCTP"
	Number   uint16
}

// String returns e.g. "TCP/80".
func (p Port) String() string { return fmt.Sprintf("%s/%d", p.Protocol, p.Number) }

// Pool is an address pool from the validated configuration.
type Pool struct {
	// Name is the IPAddressPool's name; pools are identified by it.
	Name string
	// Ranges are the pool's addresses, IPv4 and/or IPv6. Overlapping or
	// adjacent ranges of one pool are merged; ranges of different pools
	// must not overlap.
	Ranges []netipx.IPRange
	// AutoAssign lets the pool serve requests that do not name it (or one of
	// its addresses). When false, only explicit requests use it.
	AutoAssign bool
	// AvoidBuggyIPs excludes every IPv4 address whose last byte is 0 or 255.
	AvoidBuggyIPs bool
	// Priority is serviceAllocation.priority: a lower non-zero value is tried
	// first; 0 (unset) is tried after every pool that has a priority.
	Priority int
	// Restricted is set when serviceAllocation limits the pool to some
	// namespaces or services (namespaces, namespaceSelectors or
	// serviceSelectors). Among pools of equal priority, restricted pools
	// that admit a service are tried before unrestricted ones, as in MetalLB.
	Restricted bool
}

// Request describes what one service asks for. The controller builds it from
// the Service's spec and annotations.
type Request struct {
	// Service is the service's identity, "namespace/name".
	Service string
	// Families is spec.ipFamilies: one or two distinct families, the first
	// one preferred.
	Families []Family
	// Policy is spec.ipFamilyPolicy.
	Policy FamilyPolicy
	// IPs are specific addresses requested (metallb.io/loadBalancerIPs or
	// spec.loadBalancerIP, see ParseIPs): at most one per family, all in one
	// pool. When set, the service gets exactly these addresses or an error.
	IPs []netip.Addr
	// Pool is the pool requested by metallb.io/address-pool, "" for any.
	Pool string
	// Admits reports whether the named pool's serviceAllocation (namespaces,
	// namespaceSelectors, serviceSelectors) admits this service. nil admits
	// the service to every pool. It is called with the Allocator locked and
	// must not call the Allocator.
	Admits func(pool string) bool
	// SharingKey is the metallb.io/allow-shared-ip value, "" when the
	// service does not share its address.
	SharingKey string
	// BackendKey must be equal for services sharing an address. As in
	// MetalLB, the controller sets it to "" for externalTrafficPolicy:
	// Cluster and to the pod selector's label-set string ("app=a,tier=b")
	// for Local, so that Local services share only with services selecting
	// the same pods (a selector-less Local service has the key "").
	BackendKey string
	// Ports are the ports the service exposes.
	Ports []Port
}

// admits reports whether the request's serviceAllocation rules admit pool.
func (r *Request) admits(pool string) bool {
	return r.Admits == nil || r.Admits(pool)
}

// wants reports whether f is one of the request's families.
func (r *Request) wants(f Family) bool {
	for _, w := range r.Families {
		if w == f {
			return true
		}
	}
	return false
}

// Assignment is what a service holds: addresses from one pool, some of which
// may lie outside every configured pool (Unpooled).
type Assignment struct {
	// Pool is the name of the pool the addresses belong to, "" when none
	// of them lies in a configured pool.
	Pool string
	// IPs are the addresses, one per family, in the order of the request's
	// Families (for restored assignments, in the order they were restored).
	IPs []netip.Addr
	// Unpooled are the addresses of IPs that lie in no configured pool (or
	// are .0/.255 addresses their pool avoids): their pool was deleted,
	// shrunk or is not applied yet. They stay held, so no other service
	// gets them, until a pool contains them again or the service's request
	// names other addresses or an existing pool.
	Unpooled []netip.Addr
}

// Claim is an assignment read back from a Service's status on start.
type Claim struct {
	// Request is the service's current request; its Service, SharingKey,
	// BackendKey and Ports decide whether the claim can share an address
	// with claims restored before it.
	Request Request
	// IPs are the addresses in the Service's status.
	IPs []netip.Addr
	// Created is the Service's creation time: older claims win conflicts.
	Created time.Time
}

// PoolStats are the counts reported in IPAddressPool status and metrics.
// Available counts larger than math.MaxInt64 (big IPv6 pools) are reported
// as math.MaxInt64.
type PoolStats struct {
	Pool          string
	AssignedIPv4  int64
	AssignedIPv6  int64
	AvailableIPv4 int64
	AvailableIPv6 int64
}
