package ipam

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseIPs(t *testing.T) {
	tests := []struct {
		in      string
		want    string // comma-joined addresses
		wantErr string // a substring of the error
	}{
		{in: "", want: ""},
		{in: "   ", want: ""},
		{in: "10.0.0.1", want: "10.0.0.1"},
		{in: " 10.0.0.1 , 2001:db8::1 ", want: "10.0.0.1,2001:db8::1"},
		{in: "2001:db8::1,10.0.0.1", want: "2001:db8::1,10.0.0.1"},
		{in: "10.0.0.1,", wantErr: "entry 2 of \"10.0.0.1,\" is empty"},
		{in: ",10.0.0.1", wantErr: "entry 1"},
		{in: "10.0.0.1,10.0.0.2", wantErr: "both IPv4 addresses"},
		{in: "2001:db8::1,2001:db8::2", wantErr: "both IPv6 addresses"},
		{in: "10.0.0.1,2001:db8::1,10.0.0.2", wantErr: "3 addresses given"},
		{in: "10.0.0.256", wantErr: "\"10.0.0.256\" is not an IP address"},
		{in: "10.0.0.01", wantErr: "is not an IP address"},
		{in: "10.0.0.0/24", wantErr: "is not an IP address"},
		{in: "fe80::1%eth0", wantErr: "has an IPv6 zone"},
		{in: "::ffff:10.0.0.1", wantErr: "write it as 10.0.0.1"},
		{in: "10.0.0.1 10.0.0.2", wantErr: "is not an IP address"},
	}
	for _, tt := range tests {
		got, err := ParseIPs(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseIPs(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseIPs(%q): %v", tt.in, err)
			continue
		}
		if s := joinIPs(got); s != tt.want {
			t.Errorf("ParseIPs(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

func joinIPs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ",")
}

// FuzzParseIPs checks that ParseIPs never panics and that what it accepts is
// at most one address per family, without zones or mapped addresses, and
// parses back to itself.
func FuzzParseIPs(f *testing.F) {
	for _, seed := range []string{"", "10.0.0.1", "10.0.0.1,2001:db8::1", " 1.2.3.4 ,", "::ffff:1.2.3.4",
		"fe80::1%eth0", "1.1.1.1,2.2.2.2", "a,b,c", "2001:db8::1, 10.0.0.1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ips, err := ParseIPs(in)
		if err != nil {
			if ips != nil {
				t.Fatalf("ParseIPs(%q) returned %v with error %v", in, ips, err)
			}
			return
		}
		if len(ips) > 2 || (len(ips) == 2 && FamilyOf(ips[0]) == FamilyOf(ips[1])) {
			t.Fatalf("ParseIPs(%q) = %v: more than one address per family", in, ips)
		}
		for _, ip := range ips {
			if checkAddr(ip) != nil {
				t.Fatalf("ParseIPs(%q) accepted %v", in, ip)
			}
		}
		again, err := ParseIPs(joinIPs(ips))
		if err != nil || !slices.Equal(again, ips) {
			t.Fatalf("ParseIPs(%q) = %v does not round-trip: %v, %v", in, ips, again, err)
		}
	})
}
