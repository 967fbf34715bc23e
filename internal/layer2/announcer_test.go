package layer2

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAnnouncerInNamespaces runs the Announcer in its own network namespace
// and checks from a client namespace, with arping and ndisc6 and a frame
// sniffer, what a client on the segment sees.
func TestAnnouncerInNamespaces(t *testing.T) {
	l := newLab(t)
	l.veth(0, "192.0.2.", "2001:db8:1::")
	l.veth(1, "198.51.100.", "2001:db8:2::")
	mac0, mac1 := l.mac("r0"), l.mac("r1")

	sniffer := l.start("sniffer", l.c, "IRONLB_LAYER2_IFACES=c0,c1")
	sniffer.waitFor("sniffing", 5*time.Second)
	ann := l.start("announcer", l.r)
	ann.send("own 192.0.2.10 2001:db8:1::10")
	ann.waitFor("owned [192.0.2.10 2001:db8:1::10]", 5*time.Second)
	ann.interfacesAre("r0", "r1")

	t.Run("answers exactly the owned IPs", func(t *testing.T) {
		if got := l.arping("c0", "192.0.2.10"); got != mac0 {
			t.Errorf("arping 192.0.2.10 via c0: answered by %q, want %s", got, mac0)
		}
		if got := l.arping("c1", "192.0.2.10"); got != mac1 {
			t.Errorf("arping 192.0.2.10 via c1: answered by %q, want %s", got, mac1)
		}
		if got := l.arping("c0", "192.0.2.11"); got != "" {
			t.Errorf("arping 192.0.2.11 (not owned): answered by %s", got)
		}
		if got := l.ndisc("c0", "2001:db8:1::10"); got != mac0 {
			t.Errorf("ndisc6 2001:db8:1::10: answered by %q, want %s", got, mac0)
		}
		if got := l.ndisc("c0", "2001:db8:1::11"); got != "" {
			t.Errorf("ndisc6 2001:db8:1::11 (not owned): answered by %s", got)
		}
		if ann.count(func(s string) bool { return s == "response arp r0 192.0.2.10" }) == 0 {
			t.Error("no ResponseSent counted for the ARP reply")
		}
	})

	t.Run("takeover sends the gratuitous schedule on every interface", func(t *testing.T) {
		ann.send("own 192.0.2.10 2001:db8:1::10 192.0.2.20 2001:db8:1::20")
		want := map[string]int{
			"garp c0 192.0.2.20 " + mac0: 0,
			"garp c1 192.0.2.20 " + mac1: 0,
			fmt.Sprintf("na c0 2001:db8:1::20 2001:db8:1::20 ff02::1 override=true solicited=false %s", mac0): 0,
			fmt.Sprintf("na c1 2001:db8:1::20 2001:db8:1::20 ff02::1 override=true solicited=false %s", mac1): 0,
		}
		eventually(t, 5*time.Second, "the whole gratuitous schedule", func() bool {
			for line := range want {
				want[line] = sniffer.count(func(s string) bool { return s == line })
				if want[line] < len(DefaultGratuitousSchedule) {
					return false
				}
			}
			return true
		})
		time.Sleep(500 * time.Millisecond) // nothing more may follow
		for line := range want {
			if n := sniffer.count(func(s string) bool { return s == line }); n != len(DefaultGratuitousSchedule) {
				t.Errorf("%q seen %d times, want %d", line, n, len(DefaultGratuitousSchedule))
			}
		}
		// Unchanged IPs are not announced again.
		if n := sniffer.count(func(s string) bool { return strings.HasPrefix(s, "garp c0 192.0.2.10 ") }); n != len(DefaultGratuitousSchedule) {
			t.Errorf("192.0.2.10 announced %d times, want only its first %d", n, len(DefaultGratuitousSchedule))
		}
	})

	t.Run("reannounce sends the schedule again for owned IPs only", func(t *testing.T) {
		line := "garp c0 192.0.2.10 " + mac0
		before := sniffer.count(func(s string) bool { return s == line })
		ann.send("reannounce 192.0.2.10 192.0.2.99")
		ann.waitFor("reannounced [192.0.2.10 192.0.2.99]", 5*time.Second)
		eventually(t, 5*time.Second, "the gratuitous schedule again", func() bool {
			return sniffer.count(func(s string) bool { return s == line }) == before+len(DefaultGratuitousSchedule)
		})
		if n := sniffer.count(func(s string) bool { return strings.HasPrefix(s, "garp c0 192.0.2.99 ") }); n != 0 {
			t.Errorf("192.0.2.99, not owned, announced %d times", n)
		}
	})

	t.Run("a removed IP is no longer answered", func(t *testing.T) {
		ann.send("own 2001:db8:1::10 192.0.2.20")
		ann.waitFor("owned [192.0.2.20 2001:db8:1::10]", 5*time.Second)
		if got := l.arping("c0", "192.0.2.10"); got != "" {
			t.Errorf("arping removed 192.0.2.10: answered by %s", got)
		}
		if got := l.ndisc("c0", "2001:db8:1::20"); got != "" {
			t.Errorf("ndisc6 removed 2001:db8:1::20: answered by %s", got)
		}
		if got := l.arping("c0", "192.0.2.20"); got != mac0 {
			t.Errorf("arping kept 192.0.2.20: answered by %q, want %s", got, mac0)
		}
	})

	t.Run("an IP limited to one interface is answered only there", func(t *testing.T) {
		ann.send("own 192.0.2.10 192.0.2.30@r1 2001:db8:1::30@r1")
		ann.waitFor("owned [192.0.2.10 192.0.2.30 2001:db8:1::30]", 5*time.Second)
		// ndisc6 takes any advertisement of the target, from any
		// interface: let the takeover's unsolicited ones pass first.
		eventually(t, 5*time.Second, "the takeover announcements", func() bool {
			return ann.count(func(s string) bool { return s == "gratuitous ndp r1 2001:db8:1::30" }) == len(DefaultGratuitousSchedule)
		})
		if got := l.arping("c0", "192.0.2.30"); got != "" {
			t.Errorf("arping 192.0.2.30 via c0: answered by %s, want no answer", got)
		}
		if got := l.arping("c1", "192.0.2.30"); got != mac1 {
			t.Errorf("arping 192.0.2.30 via c1: answered by %q, want %s", got, mac1)
		}
		if got := l.ndisc("c1", "2001:db8:1::30"); got != mac1 {
			t.Errorf("ndisc6 2001:db8:1::30 via c1: answered by %q, want %s", got, mac1)
		}
		if got := l.ndisc("c0", "2001:db8:1::30"); got != "" {
			t.Errorf("ndisc6 2001:db8:1::30 via c0: answered by %s, want no answer", got)
		}
	})

	t.Run("a flood of junk does not stop valid replies", func(t *testing.T) {
		flood := l.start("flood", l.c, "IRONLB_LAYER2_IFACES=c0", "IRONLB_LAYER2_TARGET=192.0.2.10")
		var result string
		eventually(t, 10*time.Second, "the flood to end", func() bool {
			flood.mu.Lock()
			defer flood.mu.Unlock()
			for _, line := range flood.lines {
				if strings.HasPrefix(line, "flooded ") {
					result = line
					return true
				}
			}
			return false
		})
		var junk, asked, answered, slowestMicros int
		if _, err := fmt.Sscanf(result, "flooded %d asked %d answered %d slowest-us %d", &junk, &asked, &answered, &slowestMicros); err != nil {
			t.Fatalf("flood result %q: %v", result, err)
		}
		t.Logf("%d junk frames; %d valid requests, %d answered, slowest reply %d µs", junk, asked, answered, slowestMicros)
		if asked < 50 || answered != asked {
			t.Errorf("during the flood %d of %d valid requests were answered, want all (and at least 50 asked)", answered, asked)
		}
		if got := l.arping("c0", "192.0.2.10"); got != mac0 {
			t.Errorf("arping after the flood: answered by %q, want %s", got, mac0)
		}
	})

	t.Run("interfaces that vanish, appear or are unusable", func(t *testing.T) {
		l.run("ip", "-n", l.r, "link", "del", "r1")
		ann.interfacesAre("r0")
		if got := l.arping("c0", "192.0.2.10"); got != mac0 {
			t.Errorf("arping via c0 after r1 vanished: answered by %q, want %s", got, mac0)
		}

		l.veth(2, "203.0.113.")
		mac2 := l.mac("r2")
		ann.interfacesAre("r0", "r2")
		if got := l.arping("c2", "192.0.2.10"); got != mac2 {
			t.Errorf("arping via new c2: answered by %q, want %s", got, mac2)
		}
		ann.waitFor("gratuitous arp r2 192.0.2.10", 5*time.Second)

		l.veth(3)
		l.run("ip", "-n", l.r, "link", "set", "r3", "arp", "off")
		l.veth(4)
		l.run("ip", "-n", l.r, "link", "add", "br0", "type", "bridge")
		l.run("ip", "-n", l.r, "link", "set", "r4", "master", "br0")
		l.run("ip", "-n", l.r, "link", "set", "br0", "up")
		l.veth(5)
		l.run("ip", "-n", l.r, "link", "set", "r5", "down")
		// r3 (NOARP), r4 (bridge port) and r5 (down) get no responders; the
		// bridge does.
		ann.interfacesAre("br0", "r0", "r2")
		ann.send("links")
		for _, want := range []string{"link r3 NoARP", "link r4 BridgePort", "link r5 LinkDown", "link lo Loopback"} {
			ann.waitFor(want, 5*time.Second)
		}
	})
}
