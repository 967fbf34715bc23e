package speaker

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/layer2"
)

// Each speaker gossips the interfaces of its node in its memberlist
// metadata, so that every speaker can tell which nodes reach an address
// (interface-aware election) without asking the node.
//
// The format is compact text: "eth0=172.30.0.11/24,fd00:30::11/64;eth1=…".
// Interfaces that do not fit in members.MaxMetaSize are left out, and a
// truncated or malformed entry is skipped on decoding.

// encodeInterfaces renders the usable links' subnets as metadata of at most
// limit bytes.
func encodeInterfaces(links []layer2.Link, limit int) []byte {
	var out []byte
	for _, link := range links {
		if link.Usability() != layer2.Usable || len(link.Prefixes) == 0 {
			continue
		}
		entry := link.Name + "="
		for i, p := range link.Prefixes {
			if i > 0 {
				entry += ","
			}
			entry += p.Masked().String()
		}
		if len(out) > 0 {
			entry = ";" + entry
		}
		if len(out)+len(entry) > limit {
			break
		}
		out = append(out, entry...)
	}
	return out
}

// decodeInterfaces parses metadata written by encodeInterfaces. It never
// fails: what cannot be parsed is skipped. An empty input yields nil
// (unknown), and a non-empty one a non-nil list.
func decodeInterfaces(meta []byte) []announce.Interface {
	if len(meta) == 0 {
		return nil
	}
	out := []announce.Interface{}
	for _, entry := range strings.Split(string(meta), ";") {
		name, list, ok := strings.Cut(entry, "=")
		if !ok || name == "" {
			continue
		}
		iface := announce.Interface{Name: name}
		for _, s := range strings.Split(list, ",") {
			if p, err := netip.ParsePrefix(s); err == nil {
				iface.Prefixes = append(iface.Prefixes, p)
			}
		}
		out = append(out, iface)
	}
	slices.SortFunc(out, func(a, b announce.Interface) int { return strings.Compare(a.Name, b.Name) })
	return out
}
