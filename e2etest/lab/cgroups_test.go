package lab

import "testing"

func TestUnescapeMountinfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/run/ironlb-lab/nodes/node1", "/run/ironlb-lab/nodes/node1"},
		{`/var/lib/a\040b`, "/var/lib/a b"},
		{`/x\134y`, `/x\y`},
		{`/bad\09`, `/bad\09`},
		{`/end\`, `/end\`},
	} {
		if got := unescapeMountinfo(tc.in); got != tc.want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
