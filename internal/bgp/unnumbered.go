package bgp

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/osrg/gobgp/v3/pkg/config/oc"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// linkLocalNeighbor finds the router of an unnumbered session: the one IPv6
// link-local neighbour in the kernel's neighbour table on iface, with iface
// as its zone. It is gobgp's own lookup for a neighbour given by interface,
// so the speaker knows the address gobgp keys the neighbour by. The entry
// appears once the router has sent anything on the link, such as the
// router advertisements FRR sends on an interface it peers over.
func linkLocalNeighbor(iface string) (netip.Addr, error) {
	found, err := oc.GetIPv6LinkLocalNeighborAddress(iface)
	if err != nil {
		return netip.Addr{}, err
	}
	return netip.ParseAddr(found)
}

// interfacesOf returns the interfaces of the unnumbered peers, each once.
func interfacesOf(peers []bgpspec.Peer) []string {
	var out []string
	for _, p := range peers {
		if p.Unnumbered() && !slices.Contains(out, p.Interface) {
			out = append(out, p.Interface)
		}
	}
	return out
}

// resolveUnnumbered returns desired with the Address of each unnumbered peer
// filled in by lookup (the router's link-local address on the peer's
// interface). When lookup fails, a peer already applied on the same
// interface keeps the address it has (its session goes on); another is left
// out with an error, by name, and tried again with the next call.
func resolveUnnumbered(desired []bgpspec.Peer, applied map[string]bgpspec.Peer, lookup func(iface string) (netip.Addr, error)) ([]bgpspec.Peer, map[string]error) {
	out := make([]bgpspec.Peer, 0, len(desired))
	var failed map[string]error
	for _, p := range desired {
		if !p.Unnumbered() {
			out = append(out, p)
			continue
		}
		addr, err := lookup(p.Interface)
		switch {
		case err == nil && addr.Is6() && addr.IsLinkLocalUnicast():
			p.Address = addr.WithZone(p.Interface)
		case err == nil:
			err = fmt.Errorf("%s is not an IPv6 link-local address", addr)
			fallthrough
		default:
			if old, ok := applied[p.Name]; ok && old.Interface == p.Interface && old.Address.IsValid() {
				p.Address = old.Address
				break
			}
			if failed == nil {
				failed = map[string]error{}
			}
			failed[p.Name] = fmt.Errorf("unnumbered session over interface %s: no router found there (%w); the router must be the only IPv6 link-local neighbour on the link, known once it sends router advertisements or any other packet there", p.Interface, err)
			continue
		}
		out = append(out, p)
	}
	return out, failed
}
