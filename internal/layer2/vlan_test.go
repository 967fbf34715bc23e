package layer2

import (
	"os/exec"
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

// TestVLANSubInterface runs the responder on a link and its VLAN
// sub-interface: a request on the VLAN is answered by the sub-interface's
// responder only, never by the parent's (the kernel hands the VLAN's frames
// to the parent's sockets as well). It needs a kernel with 802.1Q support.
func TestVLANSubInterface(t *testing.T) {
	l := newLab(t)
	l.veth(0)
	for ns, end := range map[string]string{l.r: "r0", l.c: "c0"} {
		out, err := exec.Command("ip", "-n", ns, "link", "add", "link", end, "name", end+".100", "type", "vlan", "id", "100").CombinedOutput()
		if err != nil && strings.Contains(string(out), "Unknown device type") {
			t.Skipf("this kernel has no 802.1Q VLAN support: %s", strings.TrimSpace(string(out)))
		}
		if err != nil {
			t.Fatalf("adding a VLAN sub-interface to %s: %v\n%s", end, err, out)
		}
	}
	l.run("ip", "-n", l.r, "addr", "add", "192.0.2.1/24", "dev", "r0.100")
	l.run("ip", "-n", l.r, "addr", "add", "2001:db8:1::1/64", "dev", "r0.100", "nodad")
	l.run("ip", "-n", l.c, "addr", "add", "192.0.2.2/24", "dev", "c0.100")
	l.run("ip", "-n", l.c, "addr", "add", "2001:db8:1::2/64", "dev", "c0.100", "nodad")
	l.run("ip", "-n", l.r, "link", "set", "r0.100", "up")
	l.run("ip", "-n", l.c, "link", "set", "c0.100", "up")
	macVLAN := l.mac("r0.100")

	ann := l.start("announcer", l.r)
	ann.send("own 192.0.2.10@r0 2001:db8:1::10@r0 192.0.2.20@r0.100 2001:db8:1::20@r0.100")
	ann.waitFor("owned [192.0.2.10 192.0.2.20 2001:db8:1::10 2001:db8:1::20]", 5*time.Second)
	ann.interfacesAre("r0", "r0.100")

	// Owned on the parent only: unanswered on the VLAN, unseen by the parent.
	if got := l.arping("c0.100", "192.0.2.10"); got != "" {
		t.Errorf("arping 192.0.2.10 via c0.100: answered by %s; only r0 (untagged) owns it", got)
	}
	if got := l.ndisc("c0.100", "2001:db8:1::10"); got != "" {
		t.Errorf("ndisc6 2001:db8:1::10 via c0.100: answered by %s; only r0 (untagged) owns it", got)
	}
	if n := ann.count(func(s string) bool { return strings.HasPrefix(s, "request ") && strings.Contains(s, " r0 ") }); n != 0 {
		t.Errorf("the parent r0 received %d of the VLAN's requests as its own", n)
	}
	// Owned on the sub-interface: answered there, with its MAC.
	if got := l.arping("c0.100", "192.0.2.20"); got != macVLAN {
		t.Errorf("arping 192.0.2.20 via c0.100: answered by %q, want %s (r0.100)", got, macVLAN)
	}
	if got := l.ndisc("c0.100", "2001:db8:1::20"); got != macVLAN {
		t.Errorf("ndisc6 2001:db8:1::20 via c0.100: answered by %q, want %s (r0.100)", got, macVLAN)
	}
}
