// Package annotations names the Service annotations ironlb reads and writes,
// and reads them under both their metallb.io names and the deprecated
// metallb.universe.tf names MetalLB used before. It is pure: it takes a
// Service's annotation map.
package annotations

import "strings"

// The annotations, under their current names.
const (
	// LoadBalancerIPs requests specific addresses: a comma-separated list
	// with at most one IPv4 and one IPv6 address.
	LoadBalancerIPs = "metallb.io/loadBalancerIPs"
	// AddressPool requests an address from the named pool.
	AddressPool = "metallb.io/address-pool"
	// AllowSharedIP is the sharing key: services with the same key may share
	// an address.
	AllowSharedIP = "metallb.io/allow-shared-ip"
	// IPAllocatedFromPool is written by the controller: the pool the
	// service's addresses come from.
	IPAllocatedFromPool = "metallb.io/ip-allocated-from-pool"
)

const (
	currentPrefix = "metallb.io/"
	legacyPrefix  = "metallb.universe.tf/"
)

// Legacy returns the deprecated metallb.universe.tf name of an annotation.
func Legacy(name string) string {
	return legacyPrefix + strings.TrimPrefix(name, currentPrefix)
}

// Value is an annotation read from a Service.
type Value struct {
	// Value is the annotation's value, "" when absent.
	Value string
	// Key is the key it was read from, "" when absent.
	Key string
	// Ignored is the deprecated key that was also set, to a different
	// value, and lost to the current one; "" otherwise.
	Ignored string
}

// Found reports whether the annotation is set under either name.
func (v Value) Found() bool { return v.Key != "" }

// Deprecated reports whether the value was read from the deprecated name.
func (v Value) Deprecated() bool { return strings.HasPrefix(v.Key, legacyPrefix) }

// Warning returns the text of the deprecation Event to emit, or "" when the
// current name was used and nothing was ignored.
func (v Value) Warning() string {
	switch {
	case v.Deprecated():
		return "annotation " + v.Key + " is deprecated, use " + currentPrefix + strings.TrimPrefix(v.Key, legacyPrefix)
	case v.Ignored != "":
		return "annotation " + v.Ignored + " is deprecated and ignored because " + v.Key + " is set"
	}
	return ""
}

// Get reads the annotation name (a current metallb.io name) from
// annotations, falling back to its deprecated name. When both are set the
// current name wins.
func Get(annotations map[string]string, name string) Value {
	legacy := Legacy(name)
	legacyValue, legacySet := annotations[legacy]
	if value, ok := annotations[name]; ok {
		v := Value{Value: value, Key: name}
		if legacySet && legacyValue != value {
			v.Ignored = legacy
		}
		return v
	}
	if legacySet {
		return Value{Value: legacyValue, Key: legacy}
	}
	return Value{}
}
