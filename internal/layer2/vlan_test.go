package layer2

import (
	"strings"
	"testing"
	"time"
)

// TestVLANTaggedRequestsAreNotAnsweredUntagged: an ARP request or neighbour
// solicitation that arrives in a VLAN tag belongs to the VLAN's
// sub-interface, not to the parent the responder listens on. The kernel
// strips the tag before the parent's sockets see the frame (it keeps it
// out of band, as NICs with VLAN offload deliver every tagged frame), so
// without a check of that tag the parent answered untagged for an address
// the VLAN must not reach.
func TestVLANTaggedRequestsAreNotAnsweredUntagged(t *testing.T) {
	l := newLab(t)
	l.veth(0, "192.0.2.", "2001:db8:1::")
	ann := l.start("announcer", l.r)
	ann.send("own 192.0.2.10 2001:db8:1::10")
	ann.waitFor("owned [192.0.2.10 2001:db8:1::10]", 5*time.Second)
	ann.interfacesAre("r0")

	tagged := l.start("tagged", l.c, "IRONLB_LAYER2_IFACES=c0", "IRONLB_LAYER2_TARGET=192.0.2.10,2001:db8:1::10")
	tagged.waitFor("tagged", 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := ann.count(func(s string) bool { return strings.HasPrefix(s, "request ") || strings.HasPrefix(s, "response ") }); n != 0 {
		t.Errorf("the responder on r0 counted %d requests or responses for VLAN-tagged frames, want none", n)
	}
	// The same request untagged is answered: the path itself works.
	if got := l.arping("c0", "192.0.2.10"); got == "" {
		t.Error("untagged arping 192.0.2.10: no answer")
	}
}
