package election

import (
	"cmp"
	"hash/fnv"
	"net/netip"
	"slices"
	"sync"
)

// Ranking
//
// Plain rendezvous hashing (highest random weight) moves only the IPs it
// must, but it assigns every IP independently at random: with 1,000 IPs over
// 10 nodes the busiest node then owns about 1.4 times as many IPs as the
// idlest one (binomial spread), and with three services on three nodes all
// three land on one node one time in nine.
//
// The ranking here keeps the "moves only what it must" property and fixes the
// spread for the usual case of IPs handed out contiguously from a pool:
//
//  1. A balancing table (Maglev-style: a fixed number of slots shared out
//     round-robin so every node holds the same number of slots to within one)
//     is built over the nodes that pass the configuration-only filters for
//     the service's key IP. The key IP's slot names the first-ranked node.
//     Consecutive IPs visit the slots in a fixed shuffled order, so a pool's
//     IPs spread evenly over the nodes (as many IPs as slots: exactly), and a
//     few of them spread as well as at random draws.
//  2. All other nodes follow, ordered by rendezvous hash of (node, key).
//
// The ranking depends only on the key and on configuration-only facts, never
// on liveness or endpoints: when a node dies or leaves, an IP moves only if
// that node owned it, and it moves to the next node in its own ranking (a
// random one, so the dead node's IPs spread evenly). A configuration change
// that alters the table's node set (a selector, the exclusion label, an
// interface) rebuilds the table and moves, besides the IPs it must, a few
// percent more (Maglev's small extra disruption).

// tableSizes are the slot counts a table may have: primes, the smallest one
// that gives every node at least minSlotsPerNode slots is used. The size
// changes only when the node count crosses 103 or 1,000.
var tableSizes = [...]uint64{1031, 10007, 100003}

const minSlotsPerNode = 10

// table maps slots to node names; every node owns the same number of slots
// to within one.
type table struct {
	names []string
	slots []uint32 // slot → index into names
}

// newTable builds the balancing table for sorted, distinct names. Each node
// walks its own permutation of the slots (offset + i·skip mod size, size
// prime) and the nodes take turns claiming their next free slot.
func newTable(names []string) *table {
	size := tableSizes[len(tableSizes)-1]
	for _, s := range tableSizes {
		if s >= uint64(len(names))*minSlotsPerNode {
			size = s
			break
		}
	}
	offsets := make([]uint64, len(names))
	skips := make([]uint64, len(names))
	next := make([]uint64, len(names))
	for i, name := range names {
		h := nameHash(name)
		offsets[i] = h % size
		skips[i] = mix(h^0x5bd1e9955bd1e995)%(size-1) + 1
	}
	const free = ^uint32(0)
	slots := make([]uint32, size)
	for i := range slots {
		slots[i] = free
	}
	for filled := uint64(0); filled < size; {
		for i := range names {
			for {
				slot := (offsets[i] + next[i]*skips[i]) % size
				next[i]++
				if slots[slot] == free {
					slots[slot] = uint32(i)
					filled++
					break
				}
			}
			if filled == size {
				break
			}
		}
	}
	return &table{names: names, slots: slots}
}

// owner returns the node holding the key's slot.
func (t *table) owner(key uint64) string {
	size := uint64(len(t.slots))
	return t.names[t.slots[slotOrder(size)[key%size]]]
}

// slotOrders hold, per table size, the order in which consecutive keys visit
// the slots: a fixed pseudo-random permutation. Maglev's filling leaves
// neighbourhoods of the table uneven (each node claims slots along an
// arithmetic progression), so with key k in slot k a few contiguous IPs often
// missed a node — on some three-node clusters nearly every run of six IPs in
// a /24 did. Through a random permutation a few consecutive keys are a random
// draw from the table's evenly shared slots, and a run of as many keys as
// slots still visits every slot once.
var slotOrders = func() map[uint64]func() []uint32 {
	orders := make(map[uint64]func() []uint32, len(tableSizes))
	for _, size := range tableSizes {
		orders[size] = sync.OnceValue(func() []uint32 { return permutation(size) })
	}
	return orders
}()

// slotOrder returns the permutation of the slots of a table of size entries.
func slotOrder(size uint64) []uint32 { return slotOrders[size]() }

// permutation returns a Fisher-Yates shuffle of 0…n-1 driven by SplitMix64
// from a fixed seed: the same on every speaker, forever.
func permutation(n uint64) []uint32 {
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	state := uint64(0)
	for i := n - 1; i > 0; i-- {
		state += 0x9e3779b97f4a7c15
		j := mix(state) % (i + 1)
		order[i], order[j] = order[j], order[i]
	}
	return order
}

// electionKey returns the service IP that its ranking derives from: the
// lowest one, so the result does not depend on the order of the IPs.
func electionKey(ips []netip.Addr) netip.Addr {
	return slices.MinFunc(ips, netip.Addr.Compare)
}

// keyNumber maps an IP to an integer so that consecutive IPs map to
// consecutive integers (and so to consecutive entries of the slot order).
func keyNumber(ip netip.Addr) uint64 {
	if ip.Is4() {
		b := ip.As4()
		return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	}
	b := ip.As16()
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[i+8])
	}
	return lo + mix(hi)
}

// rank orders nodes for the key, as indices into nodes: the table's owner
// first (when it is among nodes), then the others by descending rendezvous
// weight.
func rank(key netip.Addr, t *table, nodes []Node) []int {
	k := keyNumber(key)
	first := ""
	if t != nil {
		first = t.owner(k)
	}
	type weighted struct {
		index  int
		name   string
		first  bool
		weight uint64
	}
	ws := make([]weighted, len(nodes))
	keyMix := mix(k)
	for i := range nodes {
		name := nodes[i].Name
		ws[i] = weighted{index: i, name: name, first: name == first, weight: mix(nameHash(name) ^ keyMix)}
	}
	slices.SortFunc(ws, func(a, b weighted) int {
		if a.first != b.first {
			if a.first {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.weight, a.weight); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	ranked := make([]int, len(ws))
	for i, w := range ws {
		ranked[i] = w.index
	}
	return ranked
}

// nameHash is FNV-1a 64 of the name, finished with mix for avalanche.
func nameHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return mix(h.Sum64())
}

// mix is the SplitMix64 finaliser: a fast bijection that spreads every input
// bit over the whole output. It is fixed forever: speakers of different
// versions must rank alike.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
