package layer2

import (
	"net/netip"
	"slices"
)

// Announcement is one IP this node owns and the interfaces it may be
// announced on (an L2Advertisement's interfaces; empty means every usable
// interface).
type Announcement struct {
	IP         netip.Addr
	Interfaces []string
}

// ownedSet is an immutable snapshot of the owned IPs, read by every packet
// without locking: one map lookup per packet.
type ownedSet struct {
	ips map[netip.Addr]ownedIP
}

type ownedIP struct {
	anyInterface bool
	interfaces   map[string]bool
}

func newOwnedSet(anns []Announcement) *ownedSet {
	s := &ownedSet{ips: make(map[netip.Addr]ownedIP, len(anns))}
	for _, a := range anns {
		ip := a.IP.Unmap().WithZone("")
		if !ip.IsValid() {
			continue
		}
		o := s.ips[ip]
		if len(a.Interfaces) == 0 {
			o.anyInterface = true
		} else {
			if o.interfaces == nil {
				o.interfaces = make(map[string]bool, len(a.Interfaces))
			}
			for _, name := range a.Interfaces {
				o.interfaces[name] = true
			}
		}
		s.ips[ip] = o
	}
	return s
}

// allows reports whether ip is owned and may be announced on link.
func (s *ownedSet) allows(ip netip.Addr, link string) bool {
	o, ok := s.ips[ip]
	return ok && (o.anyInterface || o.interfaces[link])
}

// sorted returns the owned IPs in ascending order.
func (s *ownedSet) sorted() []netip.Addr {
	ips := make([]netip.Addr, 0, len(s.ips))
	for ip := range s.ips {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return ips
}
