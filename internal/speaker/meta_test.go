package speaker

import (
	"net/netip"
	"testing"

	"github.com/ironlb/ironlb/internal/layer2"
)

func TestInterfacesMetaRoundTrip(t *testing.T) {
	links := []layer2.Link{
		{Name: "eth0", Up: true, Running: true, Ethernet: true, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("172.30.0.11/24"), netip.MustParsePrefix("fd00:30::11/64")}},
		{Name: "lo", Up: true, Running: true, Loopback: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		{Name: "kube-ipvs0", Up: true, Running: true, Ethernet: true, NoARP: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("172.30.0.200/32")}},
	}
	meta := encodeInterfaces(links, 512)
	if string(meta) != "eth0=172.30.0.0/24,fd00:30::/64" {
		t.Fatalf("meta = %q: want only the usable eth0 with its subnets", meta)
	}
	got := decodeInterfaces(meta)
	if len(got) != 1 || got[0].Name != "eth0" || len(got[0].Prefixes) != 2 || !got[0].Prefixes[0].Contains(netip.MustParseAddr("172.30.0.200")) {
		t.Fatalf("decoded %+v", got)
	}
	if short := encodeInterfaces(links, 10); len(short) != 0 {
		t.Errorf("an interface that does not fit must be left out, got %q", short)
	}
	if decodeInterfaces(nil) != nil {
		t.Error("empty metadata must decode as unknown (nil)")
	}
}

// FuzzDecodeInterfaces feeds arbitrary gossip metadata (sent by any member)
// to the decoder: it must never panic and must return names it was given.
func FuzzDecodeInterfaces(f *testing.F) {
	f.Add([]byte("eth0=172.30.0.0/24,fd00:30::/64;eth1=10.0.0.0/8"))
	f.Add([]byte(";;=,;eth0=;x=1.2.3.4/33"))
	f.Fuzz(func(t *testing.T, meta []byte) {
		for _, iface := range decodeInterfaces(meta) {
			if iface.Name == "" {
				t.Fatalf("decoded an interface without a name from %q", meta)
			}
			for _, p := range iface.Prefixes {
				if !p.IsValid() {
					t.Fatalf("decoded invalid prefix from %q", meta)
				}
			}
		}
	})
}
