package announce

import "net/netip"

// Reannounce returns the addresses to announce again with gratuitous ARP /
// unsolicited neighbour advertisements after a plan: when the membership
// changed or this node learnt that the others had declared it dead, every
// address it kept owning, since after a partition heals or a stall ends a
// neighbour may still hold the MAC of a node that answered meanwhile, and
// this owner, which never saw itself lose the address, would otherwise send
// nothing. Addresses it just took over are left out: the announcer
// announces those on its own. Otherwise nothing.
func Reannounce(before, after []L2Announcement, membershipChanged bool) []netip.Addr {
	if !membershipChanged {
		return nil
	}
	had := make(map[netip.Addr]bool, len(before))
	for _, a := range before {
		had[a.IP] = true
	}
	var out []netip.Addr
	for _, a := range after {
		if had[a.IP] {
			out = append(out, a.IP)
		}
	}
	return out
}
