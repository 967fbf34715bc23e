package ipam

import (
	"fmt"
	"net/netip"
)

// Reason says why an allocation failed. Events, logs and metrics use it so
// that they all say the same thing; String gives a stable CamelCase label.
type Reason uint8

// The reasons an Assign or Restore can fail.
const (
	// BadRequest: the request itself is malformed (no service key, no or
	// repeated families, a policy that does not fit the families, an
	// address with a zone or an IPv4-mapped IPv6 address).
	BadRequest Reason = iota + 1
	// WrongFamily: a requested address does not fit the service's families
	// or policy (e.g. an IPv6 address for an IPv4 single-stack service).
	WrongFamily
	// UnknownPool: the requested pool does not exist.
	UnknownPool
	// PoolNotEligible: the requested pool, or the pool of a requested
	// address, does not admit the service (serviceAllocation).
	PoolNotEligible
	// NoEligiblePool: no pool with autoAssign admits the service.
	NoEligiblePool
	// IPNotInAnyPool: a requested or restored address is in no pool (or is
	// a .0/.255 address of a pool that avoids them).
	IPNotInAnyPool
	// IPNotInRequestedPool: a requested address is outside the requested pool.
	IPNotInRequestedPool
	// IPsInDifferentPools: the requested or restored addresses are not all in
	// one pool.
	IPsInDifferentPools
	// IPInUse: the address is held by a service, and one of the two does not
	// allow sharing.
	IPInUse
	// SharingRefused: both services allow sharing but cannot share this
	// address; Error.Conflict says why.
	SharingRefused
	// FamilyUnavailable: no eligible pool has addresses of the family (or, for
	// RequireDualStack, of both families).
	FamilyUnavailable
	// PoolExhausted: the eligible pools have the family but no free address.
	PoolExhausted
)

var reasonNames = map[Reason]string{
	BadRequest:           "BadRequest",
	WrongFamily:          "WrongFamily",
	UnknownPool:          "UnknownPool",
	PoolNotEligible:      "PoolNotEligible",
	NoEligiblePool:       "NoEligiblePool",
	IPNotInAnyPool:       "IPNotInAnyPool",
	IPNotInRequestedPool: "IPNotInRequestedPool",
	IPsInDifferentPools:  "IPsInDifferentPools",
	IPInUse:              "IPInUse",
	SharingRefused:       "SharingRefused",
	FamilyUnavailable:    "FamilyUnavailable",
	PoolExhausted:        "PoolExhausted",
}

// String returns the reason's CamelCase name.
func (r Reason) String() string {
	if name, ok := reasonNames[r]; ok {
		return name
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// SharingConflict says why two services that both allow sharing cannot share
// an address.
type SharingConflict uint8

// The sharing conflicts.
const (
	// KeysDiffer: the sharing keys are different.
	KeysDiffer SharingConflict = iota + 1
	// BackendsDiffer: the backend keys are different (an
	// externalTrafficPolicy: Local service shares only with services that
	// select the same pods).
	BackendsDiffer
	// PortsOverlap: both services expose the same protocol and port.
	PortsOverlap
)

// String returns the conflict's CamelCase name.
func (c SharingConflict) String() string {
	switch c {
	case KeysDiffer:
		return "KeysDiffer"
	case BackendsDiffer:
		return "BackendsDiffer"
	case PortsOverlap:
		return "PortsOverlap"
	}
	return fmt.Sprintf("SharingConflict(%d)", uint8(c))
}

// Error is the error returned by the Allocator. Its message is a sentence
// naming the service and the address or pool concerned, fit for an Event.
type Error struct {
	Reason  Reason
	Service string     // the service whose request failed
	IP      netip.Addr // the address concerned, if any
	Pool    string     // the pool concerned, if any
	Family  Family     // the family concerned (FamilyUnavailable, PoolExhausted)
	// Holder is the service already holding IP (IPInUse, SharingRefused).
	Holder string
	// Conflict says why sharing was refused (SharingRefused).
	Conflict SharingConflict
	// Port is the port both services expose (PortsOverlap).
	Port Port
	// Detail completes the message for BadRequest, WrongFamily,
	// IPNotInAnyPool, IPsInDifferentPools, KeysDiffer (the two keys) and
	// FamilyUnavailable (the families).
	Detail string
}

// Error returns a sentence describing the failure.
func (e *Error) Error() string {
	switch e.Reason {
	case BadRequest:
		return fmt.Sprintf("invalid request for %s: %s", e.Service, e.Detail)
	case WrongFamily:
		return fmt.Sprintf("addresses requested by %s do not fit its IP families: %s", e.Service, e.Detail)
	case UnknownPool:
		return fmt.Sprintf("%s requests pool %q, which does not exist", e.Service, e.Pool)
	case PoolNotEligible:
		return fmt.Sprintf("pool %q does not admit %s (serviceAllocation)", e.Pool, e.Service)
	case NoEligiblePool:
		return fmt.Sprintf("no pool assigns addresses automatically to %s (check autoAssign and serviceAllocation)", e.Service)
	case IPNotInAnyPool:
		if e.Detail != "" {
			return fmt.Sprintf("%s for %s is not in any pool: %s", e.IP, e.Service, e.Detail)
		}
		return fmt.Sprintf("%s for %s is not in any pool", e.IP, e.Service)
	case IPNotInRequestedPool:
		return fmt.Sprintf("%s requested by %s is not in the requested pool %q", e.IP, e.Service, e.Pool)
	case IPsInDifferentPools:
		return fmt.Sprintf("the addresses for %s must come from one pool, but %s", e.Service, e.Detail)
	case IPInUse:
		return fmt.Sprintf("%s for %s is in use by %s", e.IP, e.Service, e.Holder)
	case SharingRefused:
		return fmt.Sprintf("%s cannot share %s with %s: %s", e.Service, e.IP, e.Holder, e.conflictText())
	case FamilyUnavailable:
		return fmt.Sprintf("no pool eligible for %s has %s addresses", e.Service, e.Detail)
	case PoolExhausted:
		if e.Pool != "" {
			return fmt.Sprintf("no free %s address for %s in pool %q", e.Family, e.Service, e.Pool)
		}
		return fmt.Sprintf("no free %s address for %s in any eligible pool", e.Family, e.Service)
	}
	return fmt.Sprintf("allocation for %s failed (%s)", e.Service, e.Reason)
}

func (e *Error) conflictText() string {
	switch e.Conflict {
	case KeysDiffer:
		return fmt.Sprintf("their sharing keys differ (%s)", e.Detail)
	case BackendsDiffer:
		return "they do not select the same pods (externalTrafficPolicy: Local)"
	case PortsOverlap:
		return fmt.Sprintf("both use port %s", e.Port)
	}
	return e.Conflict.String()
}
