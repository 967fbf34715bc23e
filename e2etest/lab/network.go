package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// hostSysctls prepare a lab host: no duplicate address detection and IPv6
// addresses that survive a link going down (so a partitioned node comes back
// as it was), strict ARP like kube-proxy in IPVS mode with strictARP.
var hostSysctls = []string{
	"net.ipv6.conf.all.accept_dad=0",
	"net.ipv6.conf.default.accept_dad=0",
	"net.ipv6.conf.all.keep_addr_on_down=1",
	"net.ipv6.conf.default.keep_addr_on_down=1",
	"net.ipv4.conf.all.arp_ignore=1",
	"net.ipv4.conf.all.arp_announce=2",
}

// routerSysctls make the router forward both families.
var routerSysctls = []string{
	"net.ipv4.ip_forward=1",
	"net.ipv6.conf.all.forwarding=1",
}

// unreachableFromRoot are the lab networks that exist only behind the
// router. The root namespace gets unreachable routes for them, so that
// traffic to them from there fails instead of following the machine's
// default route out of the lab.
var unreachableFromRoot = []netip.Prefix{ExtPrefixIPv4, ExtPrefixIPv6, BGPPoolIPv4, BGPPoolIPv6}

// hostSpec is one namespace attached to the lab bridge.
type hostSpec struct {
	ns         Namespace
	ipv4, ipv6 netip.Addr
	gateway    bool // default routes via the router
	sysctls    []string
}

// ip runs the ip command with args.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ipAll runs the ip command once per argument list and stops at the first
// error.
func ipAll(ctx context.Context, commands ...[]string) error {
	for _, args := range commands {
		if err := ip(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// createNetwork builds the bridge, node namespaces (with kube-ipvs0), the
// client, the router and the external namespace behind it.
func createNetwork(ctx context.Context, nodes int) error {
	if err := ipAll(ctx,
		[]string{"link", "add", BridgeName, "type", "bridge", "mcast_snooping", "0"},
		[]string{"addr", "add", prefixOf(ControlPlaneIPv4, LabPrefixIPv4), "dev", BridgeName},
		[]string{"addr", "add", prefixOf(ControlPlaneIPv6, LabPrefixIPv6), "dev", BridgeName, "nodad"},
		[]string{"link", "set", BridgeName, "up"},
	); err != nil {
		return err
	}
	for _, prefix := range unreachableFromRoot {
		if err := ip(ctx, "route", "add", "unreachable", prefix.String()); err != nil {
			return err
		}
	}
	hosts := []hostSpec{
		{ns: RouterNS, ipv4: RouterIPv4, ipv6: RouterIPv6, sysctls: routerSysctls},
		{ns: ClientNS, ipv4: ClientIPv4, ipv6: ClientIPv6, gateway: true},
	}
	for i := 1; i <= nodes; i++ {
		hosts = append(hosts, hostSpec{ns: Namespace(NodeNS(i)), ipv4: NodeIPv4(i), ipv6: NodeIPv6(i), gateway: true})
	}
	for _, h := range hosts {
		if err := attachHost(ctx, h); err != nil {
			return err
		}
	}
	for i := 1; i <= nodes; i++ {
		ns := NodeNS(i)
		if err := ipAll(ctx,
			[]string{"-n", ns, "link", "add", ServiceDevice, "type", "ifb"},
			[]string{"-n", ns, "link", "set", ServiceDevice, "up"},
		); err != nil {
			return err
		}
	}
	return attachExt(ctx)
}

// attachHost creates h's namespace and connects it to the bridge through a
// veth pair: the bridge port is named like the namespace, the inside end eth0.
func attachHost(ctx context.Context, h hostSpec) error {
	ns := string(h.ns)
	if err := ip(ctx, "netns", "add", ns); err != nil {
		return err
	}
	if err := sysctl(ctx, h.ns, append(append([]string{}, hostSysctls...), h.sysctls...)...); err != nil {
		return err
	}
	cmds := [][]string{
		{"link", "add", ns, "type", "veth", "peer", "name", HostInterface, "netns", ns},
		{"link", "set", ns, "master", BridgeName, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "addr", "add", prefixOf(h.ipv4, LabPrefixIPv4), "dev", HostInterface},
		{"-n", ns, "addr", "add", prefixOf(h.ipv6, LabPrefixIPv6), "dev", HostInterface, "nodad"},
		{"-n", ns, "link", "set", HostInterface, "up"},
	}
	if h.gateway {
		cmds = append(cmds,
			[]string{"-n", ns, "route", "add", "default", "via", RouterIPv4.String()},
			[]string{"-n", ns, "-6", "route", "add", "default", "via", RouterIPv6.String()})
	}
	return ipAll(ctx, cmds...)
}

// attachExt creates the external namespace behind the router: router eth1
// to ext eth0.
func attachExt(ctx context.Context) error {
	if err := ip(ctx, "netns", "add", string(ExtNS)); err != nil {
		return err
	}
	if err := sysctl(ctx, ExtNS, hostSysctls...); err != nil {
		return err
	}
	return ipAll(ctx,
		[]string{"-n", string(RouterNS), "link", "add", "eth1", "type", "veth", "peer", "name", HostInterface, "netns", string(ExtNS)},
		[]string{"-n", string(RouterNS), "addr", "add", prefixOf(RouterExtIPv4, ExtPrefixIPv4), "dev", "eth1"},
		[]string{"-n", string(RouterNS), "addr", "add", prefixOf(RouterExtIPv6, ExtPrefixIPv6), "dev", "eth1", "nodad"},
		[]string{"-n", string(RouterNS), "link", "set", "eth1", "up"},
		[]string{"-n", string(ExtNS), "link", "set", "lo", "up"},
		[]string{"-n", string(ExtNS), "addr", "add", prefixOf(ExtIPv4, ExtPrefixIPv4), "dev", HostInterface},
		[]string{"-n", string(ExtNS), "addr", "add", prefixOf(ExtIPv6, ExtPrefixIPv6), "dev", HostInterface, "nodad"},
		[]string{"-n", string(ExtNS), "link", "set", HostInterface, "up"},
		[]string{"-n", string(ExtNS), "route", "add", "default", "via", RouterExtIPv4.String()},
		[]string{"-n", string(ExtNS), "-6", "route", "add", "default", "via", RouterExtIPv6.String()},
	)
}

// sysctl sets kernel parameters inside ns.
func sysctl(ctx context.Context, ns Namespace, settings ...string) error {
	_, err := ns.Exec(ctx, "sysctl", append([]string{"-q", "-w"}, settings...)...)
	return err
}

// prefixOf writes addr with the length of the prefix it lives in.
func prefixOf(addr netip.Addr, in netip.Prefix) string {
	return netip.PrefixFrom(addr, in.Bits()).String()
}

// labNamespaces lists the network namespaces whose names carry the lab prefix.
func labNamespaces() []Namespace {
	entries, _ := os.ReadDir("/run/netns")
	var names []Namespace
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), Prefix) {
			names = append(names, Namespace(e.Name()))
		}
	}
	return names
}

// removeNetwork kills every process inside a lab namespace, deletes the
// lab's links in the root namespace (the bridge ports, at once with their
// peers), the namespaces and the bridge. It removes what exists and ignores
// what does not.
func removeNetwork(ctx context.Context) error {
	var errs []string
	links, _ := filepath.Glob("/sys/class/net/" + Prefix + "*")
	for _, link := range links {
		if err := ip(ctx, "link", "delete", filepath.Base(link)); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, ns := range labNamespaces() {
		killProcessesInNetns(string(ns))
		if err := ip(ctx, "netns", "delete", string(ns)); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, prefix := range unreachableFromRoot {
		// Absent after a clean teardown; nothing else to do then.
		ip(ctx, "route", "del", "unreachable", prefix.String())
	}
	if _, err := os.Stat("/sys/class/net/" + BridgeName); err == nil {
		if err := ip(ctx, "link", "delete", BridgeName); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove lab network: %s", strings.Join(errs, "; "))
	}
	return nil
}
