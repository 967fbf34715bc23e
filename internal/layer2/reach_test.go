package layer2

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestUsablePrefixes(t *testing.T) {
	links := []Link{
		{Name: "eth0", Up: true, Running: true, Ethernet: true, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("fe80::/64"), netip.MustParsePrefix("2001:db8::/64"),
		}},
		{Name: "eth1", Up: true, Running: true, Ethernet: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
		{Name: "kube-ipvs0", Up: true, Running: true, Ethernet: true, NoARP: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")}},
	}
	lps := UsablePrefixes(links)
	want := []LinkPrefix{
		{"eth0", netip.MustParsePrefix("192.0.2.0/24")},
		{"eth0", netip.MustParsePrefix("2001:db8::/64")},
		{"eth1", netip.MustParsePrefix("198.51.100.0/24")},
	}
	if !slices.Equal(lps, want) {
		t.Fatalf("UsablePrefixes = %v, want %v", lps, want)
	}
}

func TestLinkPrefixesRoundTrip(t *testing.T) {
	lps := []LinkPrefix{
		{"eth0", netip.MustParsePrefix("192.0.2.0/24")},
		{"bond0.100", netip.MustParsePrefix("2001:db8:100::/64")},
	}
	b, err := EncodeLinkPrefixes(lps, 512)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeLinkPrefixes(b)
	if err != nil || !slices.Equal(got, lps) {
		t.Fatalf("round trip: %v, %v; want %v", got, err, lps)
	}
	if _, err := EncodeLinkPrefixes(lps, 10); err == nil || !strings.Contains(err.Error(), "more than the 10 available") {
		t.Fatalf("over the limit: err %v", err)
	}
	if _, err := EncodeLinkPrefixes([]LinkPrefix{{"", netip.MustParsePrefix("192.0.2.0/24")}}, 512); err == nil {
		t.Fatal("empty interface name: want an error")
	}
}

func TestDecodeLinkPrefixesRejectsMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":            nil,
		"unknown version":  {9},
		"truncated name":   {1, 4, 'e', 't'},
		"zero name length": {1, 0, 4},
		"bad address len":  {1, 1, 'e', 5, 1, 2, 3, 4, 5, 24},
		"truncated addr":   {1, 1, 'e', 4, 192, 0},
		"prefix too long":  {1, 1, 'e', 4, 192, 0, 2, 0, 33},
	} {
		if _, err := DecodeLinkPrefixes(b); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

// FuzzDecodeLinkPrefixes checks that decoding never panics and that whatever
// decodes re-encodes to the same bytes.
func FuzzDecodeLinkPrefixes(f *testing.F) {
	seed, _ := EncodeLinkPrefixes([]LinkPrefix{{"eth0", netip.MustParsePrefix("192.0.2.0/24")}}, 512)
	f.Add(seed)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		lps, err := DecodeLinkPrefixes(b)
		if err != nil {
			return
		}
		again, err := EncodeLinkPrefixes(lps, len(b))
		if err != nil || string(again) != string(b) {
			t.Fatalf("decoded %v from %x but re-encoded %x (%v)", lps, b, again, err)
		}
	})
}
