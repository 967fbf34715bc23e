package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netns"
)

// DebianPackages are the Debian packages the lab uses: BIRD 2 and FRR for
// the router, arping and ndisc6 for layer-2 probes, tcpdump and tshark to
// watch traffic, curl, iproute2 and procps to build the network,
// prometheus for promtool and the lab's Prometheus server, and for real
// nodes containerd, runc, the CNI plugins, iptables (kube-proxy) and
// util-linux (nsenter).
var DebianPackages = []string{"bird2", "frr", "arping", "ndisc6", "tcpdump", "tshark", "curl", "iproute2", "procps", "prometheus",
	"containerd", "runc", "containernetworking-plugins", "iptables", "util-linux"}

// MissingPackages returns the DebianPackages that are not installed.
func MissingPackages(ctx context.Context) []string {
	out, _ := exec.CommandContext(ctx, "dpkg-query", append([]string{"-W", "-f", "${Package} ${Status}\n"}, DebianPackages...)...).Output()
	installed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if name, status, ok := strings.Cut(line, " "); ok && status == "install ok installed" {
			installed[name] = true
		}
	}
	var missing []string
	for _, p := range DebianPackages {
		if !installed[p] {
			missing = append(missing, p)
		}
	}
	return missing
}

// EnsurePackages installs the missing DebianPackages with apt-get,
// non-interactively; it needs root.
func EnsurePackages(ctx context.Context, log io.Writer) error {
	missing := MissingPackages(ctx)
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the lab needs the Debian packages %s; install them as root: apt-get install %s",
			strings.Join(missing, " "), strings.Join(missing, " "))
	}
	fmt.Fprintf(log, "lab: installing Debian packages %s\n", strings.Join(missing, " "))
	if err := aptGet(ctx, "", "update"); err != nil {
		return err
	}
	if err := aptGet(ctx, "", append([]string{"install", "-y", "--no-install-recommends"}, missing...)...); err != nil {
		return err
	}
	if still := MissingPackages(ctx); len(still) > 0 {
		return fmt.Errorf("apt-get did not install %s", strings.Join(still, " "))
	}
	return nil
}

// aptGet runs apt-get non-interactively in dir.
func aptGet(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-q", "-o", "Dpkg::Use-Pty=0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// bird1Version is the BIRD 1.6 release the lab runs for iBGP scenarios.
const bird1Version = "1.6.8"

// BIRD1Dir returns a directory holding BIRD 1.6.8's files (usr/sbin/bird,
// bird6, birdc, birdc6). Debian's bird package conflicts with bird2, so it is
// fetched with `apt-get download` and unpacked with `dpkg -x` into the user
// cache (${XDG_CACHE_HOME:-$HOME/.cache}/ironlb/bird-1.6.8) once.
func BIRD1Dir(ctx context.Context) (string, error) {
	cache, err := userCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "bird-"+bird1Version)
	if _, err := os.Stat(filepath.Join(dir, "usr/sbin/bird6")); err == nil {
		return dir, nil
	}
	lock, err := lockFile(dir+".lock", nil)
	if err != nil {
		return "", err
	}
	defer lock.unlock()
	if _, err := os.Stat(filepath.Join(dir, "usr/sbin/bird6")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(cache, "bird-download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// _apt cannot write into root's cache: let it use a world-writable dir.
	if err := os.Chmod(tmp, 0o777); err != nil {
		return "", err
	}
	if err := aptGet(ctx, tmp, "download", "bird"); err != nil {
		if err := aptGet(ctx, "", "update"); err != nil {
			return "", err
		}
		if err := aptGet(ctx, tmp, "download", "bird"); err != nil {
			return "", err
		}
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "bird_"+bird1Version+"*.deb"))
	if len(debs) != 1 {
		entries, _ := os.ReadDir(tmp)
		return "", fmt.Errorf("apt-get download bird did not give BIRD %s (got %v)", bird1Version, entries)
	}
	unpacked := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", debs[0], unpacked).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg -x %s: %w: %s", debs[0], err, out)
	}
	if err := os.Rename(unpacked, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// namespaceHandle opens the named network namespace.
func namespaceHandle(ns Namespace) (netns.NsHandle, error) {
	h, err := netns.GetFromName(string(ns))
	if err != nil {
		return h, fmt.Errorf("network namespace %s: %w", ns, err)
	}
	return h, nil
}

// ipNetToPrefix converts a net.IPNet, unmapping IPv4.
func ipNetToPrefix(n *net.IPNet) (netip.Prefix, bool) {
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addr.Unmap(), ones), true
}

// prefixToIPNet converts a netip.Prefix.
func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
