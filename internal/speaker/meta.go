package speaker

import (
	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/layer2"
)

// Each speaker gossips the subnets of its node's usable interfaces in its
// memberlist metadata (layer2.EncodeLinkPrefixes), so that every speaker can
// tell which nodes reach an address (interface-aware election) without
// asking them.

// encodeInterfaces renders the usable links' subnets as metadata of at most
// limit bytes. When they do not fit, the node gossips nothing and the others
// keep what it gossiped before, or treat its interfaces as unknown (reaching
// every address) if it never did.
func encodeInterfaces(links []layer2.Link, limit int) ([]byte, error) {
	return layer2.EncodeLinkPrefixes(layer2.UsablePrefixes(links), limit)
}

// decodeInterfaces parses a member's metadata. Missing or malformed
// metadata yields nil (unknown); valid metadata a non-nil list, empty when the
// node has no usable interface.
func decodeInterfaces(meta []byte) []announce.Interface {
	lps, err := layer2.DecodeLinkPrefixes(meta)
	if err != nil {
		return nil
	}
	out := []announce.Interface{}
	index := map[string]int{}
	for _, lp := range lps {
		i, seen := index[lp.Interface]
		if !seen {
			i = len(out)
			index[lp.Interface] = i
			out = append(out, announce.Interface{Name: lp.Interface})
		}
		out[i].Prefixes = append(out[i].Prefixes, lp.Prefix)
	}
	return out
}

// interfaceMemory remembers the interfaces each node's speaker last
// gossiped, so that a node whose speaker left or died keeps the subnets it
// had: read as "unknown" it would count as reaching every address, and its
// death would move addresses of subnets it never had. Only the speaker's
// loop uses it.
type interfaceMemory map[string][]announce.Interface

// interfacesOf returns each node's interfaces: as its live speaker gossips
// them, else as the node's speaker last gossiped them, else nil (never
// heard of: unknown). It records what live speakers gossip and forgets
// nodes that are gone.
func (m interfaceMemory) interfacesOf(nodes []string, liveMeta map[string][]byte) map[string][]announce.Interface {
	out := make(map[string][]announce.Interface, len(nodes))
	for _, name := range nodes {
		if meta, live := liveMeta[name]; live {
			if ifaces := decodeInterfaces(meta); ifaces != nil {
				m[name] = ifaces
			}
		}
		out[name] = m[name]
	}
	for name := range m {
		if _, still := out[name]; !still {
			delete(m, name)
		}
	}
	return out
}
