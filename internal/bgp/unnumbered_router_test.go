package bgp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// unnumberedLink is a network namespace joined to the test's namespace by a
// veth pair with IPv6 link-local addresses only: the point-to-point link of
// an unnumbered session, the router's end inside the namespace.
type unnumberedLink struct {
	t                *testing.T
	netns            string
	hostIf, routerIf string
}

// newUnnumberedLink builds the link; everything is torn down at cleanup. It
// skips the test when not root or when iproute2 is missing.
func newUnnumberedLink(t *testing.T) *unnumberedLink {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) is not installed")
	}
	tag := fmt.Sprintf("%d%03d", os.Getpid()%10000, rand.IntN(1000))
	l := &unnumberedLink{t: t, netns: "ilbun" + tag, hostIf: "ilbuh" + tag, routerIf: "ilbur" + tag}
	l.run("ip", "netns", "add", l.netns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", l.netns).Run() })
	l.run("ip", "link", "add", l.hostIf, "type", "veth", "peer", "name", l.routerIf)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", l.hostIf).Run() })
	l.run("ip", "link", "set", l.routerIf, "netns", l.netns)
	// No duplicate address detection: the link-local addresses are usable
	// as soon as the links are up.
	l.run("sysctl", "-qw", "net.ipv6.conf."+l.hostIf+".accept_dad=0", "net.ipv6.conf."+l.hostIf+".disable_ipv6=0")
	l.run("ip", "netns", "exec", l.netns, "sysctl", "-qw", "net.ipv6.conf."+l.routerIf+".accept_dad=0", "net.ipv6.conf."+l.routerIf+".disable_ipv6=0")
	l.run("ip", "link", "set", l.hostIf, "up")
	l.run("ip", "-n", l.netns, "link", "set", l.routerIf, "up")
	l.run("ip", "-n", l.netns, "link", "set", "lo", "up")
	return l
}

func (l *unnumberedLink) run(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// hostLinkLocal is the link-local address of our end of the link.
func (l *unnumberedLink) hostLinkLocal() netip.Addr {
	l.t.Helper()
	var found netip.Addr
	eventually(l.t, 10*time.Second, func() (bool, string) {
		ifi, err := net.InterfaceByName(l.hostIf)
		if err != nil {
			return false, err.Error()
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return false, err.Error()
		}
		for _, a := range addrs {
			if prefix, err := netip.ParsePrefix(a.String()); err == nil && prefix.Addr().IsLinkLocalUnicast() {
				found = prefix.Addr()
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s has no link-local address yet: %v", l.hostIf, addrs)
	})
	return found
}

// kernelRoute returns the namespace's kernel route for prefix ("" if none).
func (l *unnumberedLink) kernelRoute(prefix string) string {
	l.t.Helper()
	family := "-4"
	if strings.Contains(prefix, ":") {
		family = "-6"
	}
	return strings.TrimSpace(l.run("ip", "-n", l.netns, family, "route", "show", prefix))
}

// checkTraffic serves HTTP on our end of the link at v4 and v6 (the
// advertised Service addresses) and requests it with curl from the router
// namespace, whose client addresses (on its loopback) we route back over
// the link, as a router's clients are.
func (l *unnumberedLink) checkTraffic(v4, v6 netip.Addr) {
	l.t.Helper()
	const clientV4, clientV6 = "198.51.100.2", "2001:db8:99::2"
	l.run("ip", "addr", "add", v4.String()+"/32", "dev", l.hostIf)
	l.run("ip", "addr", "add", v6.String()+"/128", "dev", l.hostIf, "nodad")
	l.run("ip", "-n", l.netns, "addr", "add", clientV4+"/32", "dev", "lo")
	l.run("ip", "-n", l.netns, "addr", "add", clientV6+"/128", "dev", "lo")
	routerLL := l.routerLinkLocal()
	// Routes on our end of the link: they go with it.
	l.run("ip", "route", "add", clientV4+"/32", "via", "inet6", routerLL.String(), "dev", l.hostIf)
	l.run("ip", "-6", "route", "add", clientV6+"/128", "via", routerLL.String(), "dev", l.hostIf)
	for _, addr := range []netip.Addr{v4, v6} {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		if err != nil {
			l.t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "served") }), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		l.t.Cleanup(func() { _ = srv.Close() })
		url := "http://" + ln.Addr().String() + "/"
		out := l.run("ip", "netns", "exec", l.netns, "curl", "-sS", "-m", "10", url)
		if out != "served" {
			l.t.Errorf("curl %s from the router: %q, want served", url, out)
		}
	}
}

// routerLinkLocal is the link-local address of the router's end of the link.
func (l *unnumberedLink) routerLinkLocal() netip.Addr {
	l.t.Helper()
	out := l.run("ip", "-n", l.netns, "-6", "-o", "addr", "show", "dev", l.routerIf, "scope", "link")
	for _, field := range strings.Fields(out) {
		if prefix, err := netip.ParsePrefix(field); err == nil && prefix.Addr().IsLinkLocalUnicast() {
			return prefix.Addr()
		}
	}
	l.t.Fatalf("no link-local address on %s: %s", l.routerIf, out)
	return netip.Addr{}
}

// checkUnnumbered runs a speaker with one unnumbered peer over link, the
// router already started there: the peer is applied once the router is in
// the neighbour table, the session comes up, and an IPv4 and an IPv6
// prefix reach the router's kernel table via our link-local address (the
// IPv4 one over an IPv6 next hop, RFC 8950)
// and HTTP requests from the router reach both addresses over those routes;
// Close withdraws both.
func checkUnnumbered(t *testing.T, link *unnumberedLink, routerASN uint32, routeProto string, routerView func() string) {
	t.Helper()
	s := newTestSpeaker(t, nil)
	ctx := context.Background()
	peer := bgpspec.Peer{Name: "router", MyASN: speakerASN, PeerASN: routerASN, Interface: link.hostIf, ConnectTime: time.Second}
	start := time.Now()
	eventually(t, 30*time.Second, func() (bool, string) {
		err := s.SetPeers(ctx, []bgpspec.Peer{peer})
		return err == nil, fmt.Sprintf("SetPeers: %v", err)
	})
	t.Logf("router found on %s after %s", link.hostIf, time.Since(start).Round(time.Millisecond))
	routes := []route{
		{Prefix: pfx("203.0.113.20/32"), Peers: []string{"router"}},
		{Prefix: pfx("2001:db8:20::1/128"), Peers: []string{"router"}},
	}
	if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
		t.Fatalf("SetRoutes() error = %v", err)
	}
	via := "via inet6 " + link.hostLinkLocal().String() + " dev " + link.routerIf
	eventually(t, 30*time.Second, func() (bool, string) {
		v4, v6 := link.kernelRoute("203.0.113.20/32"), link.kernelRoute("2001:db8:20::1/128")
		ok := strings.Contains(v4, via) && strings.Contains(v6, strings.TrimPrefix(via, "via inet6 ")) &&
			strings.Contains(v4, "proto "+routeProto) && strings.Contains(v6, "proto "+routeProto)
		return ok, fmt.Sprintf("router's kernel routes %q and %q, want them %s from %s; status %+v; the router says:\n%s", v4, v6, via, routeProto, s.Status(), routerView())
	})
	t.Logf("both prefixes in the router's kernel table %s after the peer was applied", time.Since(start).Round(time.Millisecond))
	link.checkTraffic(pfx("203.0.113.20/32").Addr(), pfx("2001:db8:20::1/128").Addr())

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		v4, v6 := link.kernelRoute("203.0.113.20/32"), link.kernelRoute("2001:db8:20::1/128")
		return v4 == "" && v6 == "", fmt.Sprintf("routes still there after Close: %q %q", v4, v6)
	})
}

// TestUnnumberedWithFRR: FRR's `neighbor IFACE interface` (which sends
// router advertisements on the interface, so we find it) peers with the
// speaker's unnumbered session.
func TestUnnumberedWithFRR(t *testing.T) {
	if _, err := os.Stat(frrDir + "/bgpd"); err != nil {
		t.Skipf("FRR's bgpd is not installed: %v", err)
	}
	link := newUnnumberedLink(t)
	const routerASN = 64500
	vty, _ := runFRR(t, link.netns, map[string]string{
		"zebra": "hostname router\nlog stdout\n",
		"bgpd": fmt.Sprintf(`frr defaults traditional
hostname router
log stdout
!
router bgp %[1]d
 bgp router-id 10.255.255.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor %[2]s interface remote-as %[3]d
 neighbor %[2]s timers connect 1
 address-family ipv4 unicast
  neighbor %[2]s activate
 exit-address-family
 address-family ipv6 unicast
  neighbor %[2]s activate
 exit-address-family
!
`, routerASN, link.routerIf, speakerASN),
	}, "zebra", "bgpd")
	checkUnnumbered(t, link, routerASN, "bgp", func() string {
		out, err := exec.Command("vtysh", "--vty_socket", vty, "-c", "show bgp neighbors", "-c", "show bgp ipv4 unicast", "-c", "show bgp ipv6 unicast").CombinedOutput()
		return fmt.Sprintf("%s%v", out, err)
	})
}

// TestUnnumberedWithBIRD: BIRD 2 takes the session on a dynamic range of
// link-local neighbours on the interface (it has no neighbour discovery of
// its own) and sends router advertisements there (protocol radv), so we
// find it.
func TestUnnumberedWithBIRD(t *testing.T) {
	if _, err := os.Stat(birdBinary); err != nil {
		t.Skipf("BIRD 2 is not installed (%s): %v", birdBinary, err)
	}
	link := newUnnumberedLink(t)
	const routerASN = 64500
	dir := t.TempDir()
	runBIRD(t, link.netns, dir, fmt.Sprintf(`
router id 10.255.255.2;
protocol device {}
protocol kernel kernel4 { ipv4 { import none; export all; }; }
protocol kernel kernel6 { ipv6 { import none; export all; }; }
protocol radv { interface %[2]q { min ra interval 3; max ra interval 4; }; }
protocol bgp node {
	local as %[1]d;
	interface %[2]q;
	neighbor range fe80::/10 as %[3]d;
	ipv4 { import all; export none; extended next hop on; };
	ipv6 { import all; export none; };
}
`, routerASN, link.routerIf, speakerASN))
	checkUnnumbered(t, link, routerASN, "bird", func() string {
		out, err := exec.Command("/usr/sbin/birdc", "-s", dir+"/bird.ctl", "show", "route", "all").CombinedOutput()
		return fmt.Sprintf("%s%v", out, err)
	})
}
