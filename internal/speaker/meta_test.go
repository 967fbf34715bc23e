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
	meta, err := encodeInterfaces(links, 512)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeInterfaces(meta)
	if len(got) != 1 || got[0].Name != "eth0" || len(got[0].Prefixes) != 2 {
		t.Fatalf("decoded %+v, want only the usable eth0 with its two subnets", got)
	}
	if !got[0].Prefixes[0].Contains(netip.MustParseAddr("172.30.0.200")) && !got[0].Prefixes[1].Contains(netip.MustParseAddr("172.30.0.200")) {
		t.Errorf("eth0's subnets %v do not contain the pool address", got[0].Prefixes)
	}
	if _, err := encodeInterfaces(links, 10); err == nil {
		t.Error("interfaces that do not fit must be refused")
	}
	if decodeInterfaces(nil) != nil || decodeInterfaces([]byte{0xff, 1, 2}) != nil {
		t.Error("missing or malformed metadata must decode as unknown (nil)")
	}
	none, err := encodeInterfaces(nil, 512)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeInterfaces(none); got == nil || len(got) != 0 {
		t.Errorf("a node without usable interfaces must decode as known and empty, got %#v", got)
	}
}
