package layer2

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Link describes one network interface as the responders see it.
type Link struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	// Up is the administrative state (IFF_UP); Running is the operational
	// state (IFF_RUNNING: carrier present).
	Up, Running bool
	// NoARP is set for links that do no address resolution (IFF_NOARP),
	// such as kube-ipvs0.
	NoARP      bool
	Loopback   bool
	Ethernet   bool // ARPHRD_ETHER with a 6-byte address
	BondSlave  bool // enslaved to a bond: the bond answers instead
	BridgePort bool // a port of a bridge: the bridge answers instead
	// Prefixes are the link's addresses with their subnet lengths.
	Prefixes []netip.Prefix
}

// LinkReason says whether a link can carry announcements, and if not why.
type LinkReason uint8

// Link reasons, in the order they are checked.
const (
	Usable LinkReason = iota
	LinkDown
	NoCarrier
	Loopback
	NotEthernet
	NoARP
	BondSlave
	BridgePort
)

var linkReasonNames = [...]string{
	Usable:      "Usable",
	LinkDown:    "LinkDown",
	NoCarrier:   "NoCarrier",
	Loopback:    "Loopback",
	NotEthernet: "NotEthernet",
	NoARP:       "NoARP",
	BondSlave:   "BondSlave",
	BridgePort:  "BridgePort",
}

// String returns the reason's name, e.g. "BondSlave".
func (r LinkReason) String() string {
	if int(r) < len(linkReasonNames) {
		return linkReasonNames[r]
	}
	return "LinkReason(" + strconv.Itoa(int(r)) + ")"
}

// Usability reports whether responders run on the link, and if not why.
func (l Link) Usability() LinkReason {
	switch {
	case !l.Up:
		return LinkDown
	case !l.Running:
		return NoCarrier
	case l.Loopback:
		return Loopback
	case !l.Ethernet:
		return NotEthernet
	case l.NoARP:
		return NoARP
	case l.BondSlave:
		return BondSlave
	case l.BridgePort:
		return BridgePort
	}
	return Usable
}

// IFF_NOARP from <linux/if.h> (net.Flags lacks it) and the Ethernet ARPHRD
// type.
const (
	iffNoARP    = 0x80
	arphrdEther = 1
)

// sysClassNet is where the kernel describes the links of the network
// namespace /sys was mounted in (ip netns exec remounts it).
const sysClassNet = "/sys/class/net"

// Links lists the network interfaces of the current network namespace.
// A link that vanishes while being read is left out.
func Links() ([]Link, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	links := make([]Link, 0, len(ifaces))
	for _, ifi := range ifaces {
		l, err := readLink(ifi)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		links = append(links, l)
	}
	return links, nil
}

func readLink(ifi net.Interface) (Link, error) {
	dir := filepath.Join(sysClassNet, ifi.Name)
	flags, err := readSysInt(filepath.Join(dir, "flags"))
	if err != nil {
		return Link{}, err
	}
	linkType, err := readSysInt(filepath.Join(dir, "type"))
	if err != nil {
		return Link{}, err
	}
	l := Link{
		Name:       ifi.Name,
		Index:      ifi.Index,
		MAC:        ifi.HardwareAddr,
		Up:         ifi.Flags&net.FlagUp != 0,
		Running:    ifi.Flags&net.FlagRunning != 0,
		NoARP:      flags&iffNoARP != 0,
		Loopback:   ifi.Flags&net.FlagLoopback != 0,
		Ethernet:   linkType == arphrdEther && len(ifi.HardwareAddr) == 6,
		BondSlave:  exists(filepath.Join(dir, "bonding_slave")),
		BridgePort: exists(filepath.Join(dir, "brport")),
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return Link{}, fmt.Errorf("reading addresses of interface %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			ip, _ := netip.AddrFromSlice(ipnet.IP)
			ones, _ := ipnet.Mask.Size()
			l.Prefixes = append(l.Prefixes, netip.PrefixFrom(ip.Unmap(), ones).Masked())
		}
	}
	return l, nil
}

func readSysInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 0, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing %s: %w", path, err)
	}
	return v, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
