package config

import (
	"fmt"
	"net/netip"
	"strings"

	"go4.org/netipx"
)

// ParseAddressRange parses one entry of IPAddressPool.spec.addresses: a CIDR
// prefix ("10.0.0.0/24"; host bits are ignored, as MetalLB does) or an
// inclusive range of one family ("10.0.0.1-10.0.0.9", spaces allowed around
// the dash).
func ParseAddressRange(s string) (netipx.IPRange, error) {
	if start, end, isRange := strings.Cut(s, "-"); isRange {
		from, err := parseAddr(strings.TrimSpace(start))
		if err != nil {
			return netipx.IPRange{}, fmt.Errorf("invalid range %q: start: %v", s, err)
		}
		to, err := parseAddr(strings.TrimSpace(end))
		if err != nil {
			return netipx.IPRange{}, fmt.Errorf("invalid range %q: end: %v", s, err)
		}
		if from.Is4() != to.Is4() {
			return netipx.IPRange{}, fmt.Errorf("invalid range %q: start and end are of different IP families", s)
		}
		if to.Less(from) {
			return netipx.IPRange{}, fmt.Errorf("invalid range %q: start is after end", s)
		}
		return netipx.IPRangeFrom(from, to), nil
	}
	prefix, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netipx.IPRange{}, fmt.Errorf("invalid CIDR %q: want a prefix like 192.168.10.0/24 or a range like 192.168.10.1-192.168.10.9", s)
	}
	if prefix.Addr().Is4In6() {
		return netipx.IPRange{}, fmt.Errorf("invalid CIDR %q: IPv4-mapped IPv6 addresses are not allowed", s)
	}
	return netipx.RangeOfPrefix(prefix.Masked()), nil
}

func parseAddr(s string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone, which pool addresses cannot have", s)
	}
	if addr.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is an IPv4-mapped IPv6 address", s)
	}
	return addr, nil
}

// shortestPrefixBits returns the shortest prefix length among the CIDRs
// that exactly cover r.
func shortestPrefixBits(r netipx.IPRange) int {
	shortest := r.From().BitLen()
	for _, p := range r.Prefixes() {
		shortest = min(shortest, p.Bits())
	}
	return shortest
}
