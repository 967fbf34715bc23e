package bgp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// FuzzConversion feeds arbitrary sessions and adverts to the conversion into gobgp
// objects: it must never panic, whatever advertsFor keeps must encode as a gobgp
// path, and planPeers must handle any pair of peer sets.
func FuzzConversion(f *testing.F) {
	f.Add([]byte{10, 0, 0, 2, 0, 1, 203, 0, 113, 1, 32, 1, 0, 0, 0, 5})
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0xff, 128, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput{data: data}
		var peers []bgpspec.Peer
		for range in.byte() % 4 {
			peers = append(peers, bgpspec.Peer{
				Name:                   string(rune('a' + in.byte()%4)),
				MyASN:                  uint32(in.byte()),
				PeerASN:                uint32(in.byte()),
				Address:                in.addr(),
				SourceAddress:          in.addr(),
				HoldTime:               time.Duration(in.byte()) * time.Second,
				KeepaliveTime:          time.Duration(in.byte()) * time.Second,
				DualStackAddressFamily: in.byte()%2 == 0,
				NextHopIPv4:            in.addr(),
				NextHopIPv6:            in.addr(),
			})
			if in.byte()%4 == 0 {
				peers[len(peers)-1].Interface = "eth1" // unnumbered: both families, no next hop of ours
			}
		}
		for _, p := range peers {
			neighborFor(p, "peer-1", GracefulRestartTime)
			planned := bgpspec.Adverts{}
			for range in.byte() % 6 {
				addr := in.addr()
				prefix, _ := addr.Prefix(int(in.byte()) % (addr.BitLen() + 1))
				if in.byte()%5 == 0 {
					prefix = netip.PrefixFrom(addr, int(in.byte())%129)
				}
				planned[prefix] = bgpspec.Attributes{LocalPref: uint32(in.byte()), Communities: []uint32{binary.BigEndian.Uint32(in.bytes(4))}}
			}
			adverts, _ := advertsFor(p, planned)
			for prefix, a := range adverts {
				if !prefix.IsValid() || prefix != prefix.Masked() || !p.Carries(prefix.Addr()) {
					t.Fatalf("kept %s for peer %+v", prefix, p)
				}
				if a.nextHop.IsValid() && a.nextHop.Is4() != prefix.Addr().Is4() {
					t.Fatalf("next hop %s for %s", a.nextHop, prefix)
				}
				if _, err := pathFor(prefix, a, false); err != nil {
					t.Fatalf("pathFor(%s): %v", prefix, err)
				}
			}
		}
		applied := map[string]bgpspec.Peer{}
		for _, p := range peers[:len(peers)/2] {
			applied[p.Name] = p
		}
		planPeers(applied, peers)
	})
}

// fuzzInput hands out fuzz bytes, then zeros.
type fuzzInput struct{ data []byte }

func (in *fuzzInput) bytes(n int) []byte {
	out := make([]byte, n)
	k := copy(out, in.data)
	in.data = in.data[k:]
	return out
}

func (in *fuzzInput) byte() byte { return in.bytes(1)[0] }

// addr returns the zero Addr, an IPv4 or an IPv6 address.
func (in *fuzzInput) addr() netip.Addr {
	switch in.byte() % 3 {
	case 0:
		return netip.Addr{}
	case 1:
		return netip.AddrFrom4([4]byte(in.bytes(4)))
	default:
		return netip.AddrFrom16([16]byte(in.bytes(16)))
	}
}
