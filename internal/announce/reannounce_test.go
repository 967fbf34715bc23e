package announce

import (
	"net/netip"
	"slices"
	"testing"
)

func TestReannounce(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::3")
	anns := func(addrs ...netip.Addr) []L2Announcement {
		var out []L2Announcement
		for _, ip := range addrs {
			out = append(out, L2Announcement{IP: ip, Service: "default/web"})
		}
		return out
	}
	tests := []struct {
		name          string
		before, after []L2Announcement
		changed       bool
		want          []netip.Addr
	}{
		{"no membership change: nothing", anns(a, b), anns(a, b), false, nil},
		{"no membership change, a takeover: the announcer's own burst", anns(a), anns(a, b), false, nil},
		{"membership change: every address kept", anns(a, b, c), anns(a, b, c), true, []netip.Addr{a, b, c}},
		{"membership change: kept ones, not the new one nor the given-up one", anns(a, b), anns(b, c), true, []netip.Addr{b}},
		{"membership change, nothing owned", nil, nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reannounce(tt.before, tt.after, tt.changed); !slices.Equal(got, tt.want) {
				t.Errorf("Reannounce = %v, want %v", got, tt.want)
			}
		})
	}
}
