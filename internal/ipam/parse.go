package ipam

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseIPs parses a requested-address value: the metallb.io/loadBalancerIPs
// annotation (a comma-separated list with at most one IPv4 and one IPv6
// address) or the deprecated spec.loadBalancerIP (one address). Spaces around
// entries are ignored; an empty or blank value requests nothing and returns
// nil. The error describes the offending entry; the caller prefixes the
// annotation or field name.
func ParseIPs(value string) ([]netip.Addr, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	entries := strings.Split(value, ",")
	if len(entries) > 2 {
		return nil, fmt.Errorf("%d addresses given, at most two (one IPv4, one IPv6) are allowed", len(entries))
	}
	ips := make([]netip.Addr, 0, len(entries))
	for i, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("entry %d of %q is empty", i+1, value)
		}
		ip, err := netip.ParseAddr(entry)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", entry)
		}
		if err := checkAddr(ip); err != nil {
			return nil, err
		}
		ips = append(ips, ip)
	}
	if len(ips) == 2 && FamilyOf(ips[0]) == FamilyOf(ips[1]) {
		return nil, fmt.Errorf("%s and %s are both %s addresses, at most one per family is allowed",
			ips[0], ips[1], FamilyOf(ips[0]))
	}
	return ips, nil
}

// checkAddr rejects addresses that have no place in a pool: invalid ones,
// ones with an IPv6 zone and IPv4-mapped IPv6 addresses (whose family would
// be ambiguous).
func checkAddr(ip netip.Addr) error {
	switch {
	case !ip.IsValid():
		return fmt.Errorf("the zero address is not an IP address")
	case ip.Zone() != "":
		return fmt.Errorf("%s has an IPv6 zone, which a load-balancer address cannot have", ip)
	case ip.Is4In6():
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address, write it as %s", ip, ip.Unmap())
	}
	return nil
}
