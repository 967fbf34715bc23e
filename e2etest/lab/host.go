package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// Host is a machine of the lab: a network namespace with an interface (eth0)
// on a lab network.
type Host struct {
	Name string
	NS   Namespace
	IPv4 netip.Addr
	IPv6 netip.Addr
	// logDir is where Start puts the logs of the processes it starts.
	logDir string
}

// Start starts a long-running program on the host, logging to
// <repo>/.cache/lab/logs/<name>.log. The lab kills it at Down if it still
// runs; names must be unique among running processes.
func (h *Host) Start(name string, argv ...string) (*Process, error) {
	return startProcess(h.logDir, name, string(h.NS), argv)
}

// Exec runs name with args on the host and returns its output; the error
// includes the output.
func (h *Host) Exec(ctx context.Context, name string, args ...string) (string, error) {
	return h.NS.Exec(ctx, name, args...)
}

// CurlTimeout bounds one Curl.
const CurlTimeout = 2 * time.Second

// Curl sends GET http://ip/ from the host and returns the body without its
// trailing newline: for the lab's backends, the name of the node that
// answered.
func (h *Host) Curl(ctx context.Context, ip netip.Addr) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CurlTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		DialContext:       h.NS.DialContext,
		DisableKeepAlives: true,
	}}
	url := "http://" + netip.AddrPortFrom(ip, 80).String() + "/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: GET %s: %w", h.Name, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("%s: GET %s: %w", h.Name, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: GET %s: %s", h.Name, url, resp.Status)
	}
	return strings.TrimSpace(string(body)), nil
}

// macPattern finds a MAC address in a tool's output.
var macPattern = regexp.MustCompile(`(?i)\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b`)

// Arping asks for ip's MAC address with one ARP request from the host's
// eth0 (Debian's arping) and returns the first answer.
func (h *Host) Arping(ctx context.Context, ip netip.Addr) (net.HardwareAddr, error) {
	out, err := h.Exec(ctx, "arping", "-i", HostInterface, "-c", "1", "-w", "1", "-r", ip.String())
	if err != nil {
		return nil, err
	}
	return parseMAC(out, "arping "+ip.String())
}

// Ndisc asks for ip's MAC address with IPv6 neighbor discovery from the
// host's eth0 (ndisc6) and returns the first answer.
func (h *Host) Ndisc(ctx context.Context, ip netip.Addr) (net.HardwareAddr, error) {
	out, err := h.Exec(ctx, "ndisc6", "-1", "-q", "-r", "1", "-w", "1000", ip.String(), HostInterface)
	if err != nil {
		return nil, err
	}
	return parseMAC(out, "ndisc6 "+ip.String())
}

// parseMAC returns the first MAC address in a tool's output.
func parseMAC(out, what string) (net.HardwareAddr, error) {
	m := macPattern.FindString(out)
	if m == "" {
		return nil, fmt.Errorf("%s: no MAC address in %q", what, out)
	}
	return net.ParseMAC(m)
}

// MAC returns the MAC address of the host's eth0.
func (h *Host) MAC() (net.HardwareAddr, error) {
	nl, err := h.NS.Netlink()
	if err != nil {
		return nil, err
	}
	defer nl.Close()
	link, err := nl.LinkByName(HostInterface)
	if err != nil {
		return nil, err
	}
	return link.Attrs().HardwareAddr, nil
}

// Neighbor returns the MAC address that the host's neighbor table holds for
// ip, or nil if it holds none.
func (h *Host) Neighbor(ip netip.Addr) (net.HardwareAddr, error) {
	nl, err := h.NS.Netlink()
	if err != nil {
		return nil, err
	}
	defer nl.Close()
	neighbors, err := nl.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	for _, n := range neighbors {
		if addr, ok := netip.AddrFromSlice(n.IP); ok && addr.Unmap() == ip && len(n.HardwareAddr) > 0 {
			return n.HardwareAddr, nil
		}
	}
	return nil, nil
}

// FlushNeighbors empties the host's neighbor table, as a client that has
// never talked to anyone.
func (h *Host) FlushNeighbors(ctx context.Context) error {
	_, err := h.Exec(ctx, "ip", "neigh", "flush", "all")
	return err
}
