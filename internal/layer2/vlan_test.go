package layer2

import (
	"strings"
	"testing"
	"time"
)

// TestVLANFramesDoNotReachTheParent checks that a request sent on a VLAN
// sub-interface is answered by the sub-interface's responder only. veth
// offloads VLAN tags: the tag travels beside the frame, not in it, so the
// parent's sockets see an untagged ARP request or neighbour solicitation
// unless their filters check the out-of-band tag.
func TestVLANFramesDoNotReachTheParent(t *testing.T) {
	l := newLab(t)
	l.veth(0)
	for ns, end := range map[string]string{l.r: "r0", l.c: "c0"} {
		l.run("ip", "-n", ns, "link", "add", "link", end, "name", end+".100", "type", "vlan", "id", "100")
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

	// Owned on the parent only: a request on the VLAN must go unanswered,
	// and the parent's responder must not even see it.
	if got := l.arping("c0.100", "192.0.2.10"); got != "" {
		t.Errorf("arping 192.0.2.10 via c0.100: answered by %s; only r0 (untagged) owns it", got)
	}
	if got := l.ndisc("c0.100", "2001:db8:1::10"); got != "" {
		t.Errorf("ndisc6 2001:db8:1::10 via c0.100: answered by %s; only r0 (untagged) owns it", got)
	}
	if n := ann.count(func(s string) bool { return strings.HasPrefix(s, "request ") && strings.Contains(s, " r0 ") }); n != 0 {
		t.Errorf("the parent r0 received %d VLAN-tagged requests as its own", n)
	}

	// Owned on the sub-interface: answered there, with its MAC.
	if got := l.arping("c0.100", "192.0.2.20"); got != macVLAN {
		t.Errorf("arping 192.0.2.20 via c0.100: answered by %q, want %s (r0.100)", got, macVLAN)
	}
	if got := l.ndisc("c0.100", "2001:db8:1::20"); got != macVLAN {
		t.Errorf("ndisc6 2001:db8:1::20 via c0.100: answered by %q, want %s (r0.100)", got, macVLAN)
	}
}
