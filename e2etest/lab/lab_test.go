package lab

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

func TestAddressPlan(t *testing.T) {
	hosts := map[netip.Addr]string{
		ControlPlaneIPv4: "control plane", ControlPlaneIPv6: "control plane",
		ClientIPv4: "client", ClientIPv6: "client",
		RouterIPv4: "router", RouterIPv6: "router",
	}
	for i := 1; i <= MaxNodes; i++ {
		for _, ip := range []netip.Addr{NodeIPv4(i), NodeIPv6(i)} {
			if other, taken := hosts[ip]; taken {
				t.Fatalf("%s of %s is also %s", ip, NodeName(i), other)
			}
			hosts[ip] = NodeName(i)
		}
	}
	if len(NodeNS(MaxNodes)) > 15 || len(Prefix+"router") > 15 || len(Prefix+"client") > 15 {
		t.Errorf("bridge port names (named like the namespaces) exceed 15 characters")
	}
	for ip, name := range hosts {
		lab := LabPrefixIPv4
		if ip.Is6() {
			lab = LabPrefixIPv6
		}
		if !lab.Contains(ip) {
			t.Errorf("%s (%s) is outside %s", ip, name, lab)
		}
		for _, pool := range []interface{ Contains(netip.Addr) bool }{L2PoolIPv4, L2PoolIPv6, BGPPoolIPv4, BGPPoolIPv6} {
			if pool.Contains(ip) {
				t.Errorf("%s (%s) is inside the Service pool %v", ip, name, pool)
			}
		}
	}
	if got := NodeIPv6(3).String(); got != "fd00:30::13" {
		t.Errorf("NodeIPv6(3) = %s, want fd00:30::13", got)
	}
}

func TestLoadBalancerIPs(t *testing.T) {
	service := func(kind corev1.ServiceType, ips ...string) *corev1.Service {
		svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: kind}}
		for _, ip := range ips {
			svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		return svc
	}
	tests := []struct {
		name     string
		services []*corev1.Service
		want     []string
	}{
		{"none", nil, nil},
		{"dual stack", []*corev1.Service{service(corev1.ServiceTypeLoadBalancer, "172.30.0.200", "fd00:30::200")},
			[]string{"172.30.0.200", "fd00:30::200"}},
		{"only LoadBalancer Services", []*corev1.Service{
			service(corev1.ServiceTypeClusterIP, "172.30.0.201"),
			service(corev1.ServiceTypeLoadBalancer, "172.30.0.202")}, []string{"172.30.0.202"}},
		{"hostname ingress and garbage skipped", []*corev1.Service{
			service(corev1.ServiceTypeLoadBalancer, "", "not-an-ip", "172.32.0.1")}, []string{"172.32.0.1"}},
		{"shared IP once", []*corev1.Service{
			service(corev1.ServiceTypeLoadBalancer, "172.30.0.203"),
			service(corev1.ServiceTypeLoadBalancer, "172.30.0.203")}, []string{"172.30.0.203"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for ip := range LoadBalancerIPs(tt.services) {
				got = append(got, ip.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseMAC(t *testing.T) {
	tests := []struct {
		name, out, want string
		wantErr         bool
	}{
		{"arping raw", "4e:af:56:61:66:ef\n", "4e:af:56:61:66:ef", false},
		{"ndisc6 upper case", "4E:AF:56:61:66:EF\n", "4e:af:56:61:66:ef", false},
		{"first of two", "60 bytes from 02:00:00:00:00:01 (172.30.0.200)\n60 bytes from 02:00:00:00:00:02", "02:00:00:00:00:01", false},
		{"no answer", "Timeout\n", "", true},
		{"too short", "02:00:00:00:01", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMAC(tt.out, "probe")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFromNetlink(t *testing.T) {
	_, vip, _ := net.ParseCIDR("172.32.0.1/32")
	_, vip6, _ := net.ParseCIDR("fd00:32::1/128")
	tests := []struct {
		name  string
		route netlink.Route
		want  string // "" when not a daemon's route
	}{
		{"BIRD single path", netlink.Route{Dst: vip, Gw: net.ParseIP("172.30.0.12"), Protocol: unix.RTPROT_BIRD},
			"172.32.0.1/32 via 172.30.0.12"},
		{"zebra multipath sorted", netlink.Route{Dst: vip6, Protocol: 186, MultiPath: []*netlink.NexthopInfo{
			{Gw: net.ParseIP("fd00:30::13")}, {Gw: net.ParseIP("fd00:30::11")}}},
			"fd00:32::1/128 via fd00:30::11,fd00:30::13"},
		{"IPv4 via an IPv6 link-local next hop (RFC 8950)", netlink.Route{Dst: vip, Protocol: unix.RTPROT_BIRD,
			Via: &netlink.Via{AddrFamily: unix.AF_INET6, Addr: net.ParseIP("fe80::1")}},
			"172.32.0.1/32 via fe80::1"},
		{"multipath via IPv6 next hops", netlink.Route{Dst: vip, Protocol: 186, MultiPath: []*netlink.NexthopInfo{
			{Via: &netlink.Via{AddrFamily: unix.AF_INET6, Addr: net.ParseIP("fe80::2")}}, {Gw: net.ParseIP("172.30.0.11")}}},
			"172.32.0.1/32 via 172.30.0.11,fe80::2"},
		{"kernel route ignored", netlink.Route{Dst: vip, Gw: net.ParseIP("172.30.0.12"), Protocol: unix.RTPROT_KERNEL}, ""},
		{"static route ignored", netlink.Route{Dst: vip, Gw: net.ParseIP("172.30.0.12"), Protocol: unix.RTPROT_BOOT}, ""},
		{"default route ignored", netlink.Route{Gw: net.ParseIP("172.30.0.12"), Protocol: unix.RTPROT_BIRD}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, ok := fromNetlink(tt.route)
			got := ""
			if ok {
				got = rt.String()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDefaultRouterConfigs checks the generated configurations with the
// daemons' own parsers.
func TestDefaultRouterConfigs(t *testing.T) {
	dir := t.TempDir()
	check := func(t *testing.T, binary, config string) {
		t.Helper()
		if _, err := os.Stat(binary); err != nil {
			t.Skipf("%s is not installed (go run ./e2etest/cmd/lab deps)", binary)
		}
		conf := filepath.Join(dir, "router.conf")
		if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(binary, "-p", "-c", conf).CombinedOutput(); err != nil {
			t.Fatalf("%s -p: %v: %s\n%s", binary, err, out, config)
		}
	}
	for _, nodes := range []int{1, 3, MaxNodes} {
		t.Run("bird2", func(t *testing.T) {
			config := DefaultRouterConfig(BIRD2, nodes)
			check(t, "/usr/sbin/bird", config.Config)
			if got := strings.Count(config.Config, "protocol bgp"); got != 2*nodes {
				t.Errorf("%d BGP sessions for %d nodes, want %d", got, nodes, 2*nodes)
			}
		})
		t.Run("bird1", func(t *testing.T) {
			cache, err := userCacheDir()
			if err != nil {
				t.Fatal(err)
			}
			config := DefaultRouterConfig(BIRD1, nodes)
			check(t, filepath.Join(cache, "bird-"+bird1Version, "usr/sbin/bird"), config.Config)
			check(t, filepath.Join(cache, "bird-"+bird1Version, "usr/sbin/bird6"), config.Config6)
		})
		t.Run("frr", func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("bgpd --dryrun needs root to switch to user frr")
			}
			if _, err := os.Stat("/usr/lib/frr/bgpd"); err != nil {
				t.Skip("frr is not installed (go run ./e2etest/cmd/lab deps)")
			}
			// bgpd runs as frr: give it a directory of its own in /tmp.
			frrDir, err := os.MkdirTemp("", "lab-frr-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(frrDir) })
			conf := filepath.Join(frrDir, "bgpd.conf")
			if err := os.WriteFile(conf, []byte(DefaultRouterConfig(FRR, nodes).Config), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("chown", "-R", "frr:frr", frrDir).CombinedOutput(); err != nil {
				t.Fatalf("chown: %v: %s", err, out)
			}
			if err := checkFRRConfig(t.Context(), frrDir, conf); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(conf, []byte("router bgp 64500\n bogus command\n"), 0o644)
			if err := checkFRRConfig(t.Context(), frrDir, conf); err == nil {
				t.Error("checkFRRConfig accepted a bad configuration")
			}
		})
	}
}

func TestDeclaresModule(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          bool
	}{
		{"ironlb", "module github.com/ironlb/ironlb\n\ngo 1.26\n", true},
		{"nested module", "// comment\nmodule github.com/ironlb/ironlb/e2etest/kubebin\n", false},
		{"other", "module example.com/x\n", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".mod")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := declaresModule(path, modulePath); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRemoveFRRSockets: a restarted FRR waits for its daemons' own sockets,
// not for those the previous run left.
func TestRemoveFRRSockets(t *testing.T) {
	dir := t.TempDir()
	left := []string{"zebra.vty", "bgpd.vty", "bfdd.vty", "zebra.pid", "zserv.api", "bfdd.sock"}
	kept := []string{"zebra.conf", "bgpd.conf", "bfdd.conf"}
	for _, name := range append(append([]string{}, left...), kept...) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeFRRSockets(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range left {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s removed: %v", name, err)
		}
	}
}
