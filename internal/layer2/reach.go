package layer2

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// LinkPrefix is a subnet configured on a named interface. Speakers gossip
// their usable links' prefixes (members metadata) so that every speaker can
// tell which nodes have an interface reaching an IP, which the election
// (internal/election) needs for all nodes, not just its own.
type LinkPrefix struct {
	Interface string
	Prefix    netip.Prefix
}

// UsablePrefixes returns the prefixes of the usable links, leaving out
// link-local ones, sorted.
func UsablePrefixes(links []Link) []LinkPrefix {
	var lps []LinkPrefix
	for _, l := range links {
		if l.Usability() != Usable {
			continue
		}
		for _, p := range l.Prefixes {
			if !p.Addr().IsLinkLocalUnicast() {
				lps = append(lps, LinkPrefix{Interface: l.Name, Prefix: p})
			}
		}
	}
	slices.SortFunc(lps, compareLinkPrefix)
	return lps
}

// linkPrefixesVersion is the first byte of the encoding; a speaker that
// meets a newer one it cannot read treats the node as reaching nothing.
const linkPrefixesVersion = 1

// EncodeLinkPrefixes encodes lps in at most limit bytes:
// a version byte, then per prefix the interface name's length and bytes,
// the address length (4 or 16), the address and the prefix length.
func EncodeLinkPrefixes(lps []LinkPrefix, limit int) ([]byte, error) {
	b := []byte{linkPrefixesVersion}
	for _, lp := range lps {
		if len(lp.Interface) == 0 || len(lp.Interface) > 255 {
			return nil, fmt.Errorf("interface name %q: length must be 1 to 255", lp.Interface)
		}
		if !lp.Prefix.IsValid() {
			return nil, fmt.Errorf("interface %s: invalid prefix", lp.Interface)
		}
		addr := lp.Prefix.Addr().AsSlice()
		b = append(b, byte(len(lp.Interface)))
		b = append(b, lp.Interface...)
		b = append(b, byte(len(addr)))
		b = append(b, addr...)
		b = append(b, byte(lp.Prefix.Bits()))
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%d interface prefixes need %d bytes, more than the %d available", len(lps), len(b), limit)
	}
	return b, nil
}

// DecodeLinkPrefixes decodes EncodeLinkPrefixes' output; malformed input is
// an error, never a panic.
func DecodeLinkPrefixes(b []byte) ([]LinkPrefix, error) {
	if len(b) == 0 {
		return nil, errors.New("interface prefixes: empty")
	}
	if b[0] != linkPrefixesVersion {
		return nil, fmt.Errorf("interface prefixes: unknown version %d", b[0])
	}
	var lps []LinkPrefix
	for rest := b[1:]; len(rest) > 0; {
		nameLen := int(rest[0])
		if nameLen == 0 || len(rest) < 1+nameLen+1 {
			return nil, errors.New("interface prefixes: truncated interface name")
		}
		name := string(rest[1 : 1+nameLen])
		rest = rest[1+nameLen:]
		addrLen := int(rest[0])
		if (addrLen != 4 && addrLen != 16) || len(rest) < 1+addrLen+1 {
			return nil, fmt.Errorf("interface prefixes: interface %s: bad or truncated address", name)
		}
		addr, _ := netip.AddrFromSlice(rest[1 : 1+addrLen])
		bits := int(rest[1+addrLen])
		prefix := netip.PrefixFrom(addr, bits)
		if !prefix.IsValid() {
			return nil, fmt.Errorf("interface prefixes: interface %s: prefix length %d out of range", name, bits)
		}
		lps = append(lps, LinkPrefix{Interface: name, Prefix: prefix})
		rest = rest[1+addrLen+1:]
	}
	return lps, nil
}

func compareLinkPrefix(a, b LinkPrefix) int {
	if a.Interface != b.Interface {
		if a.Interface < b.Interface {
			return -1
		}
		return 1
	}
	if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
		return c
	}
	return a.Prefix.Bits() - b.Prefix.Bits()
}
