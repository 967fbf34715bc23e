package lab

import (
	"fmt"
	"net/netip"

	"go4.org/netipx"
)

// Names of the lab's network objects. Everything the lab creates starts with
// Prefix so that leftovers of a crashed run can be found and removed.
const (
	Prefix     = "ilblab-"
	BridgeName = "ilblab0"
	ClientNS   = Prefix + "client"
	RouterNS   = Prefix + "router"
	ExtNS      = Prefix + "ext"
	// ServiceDevice is the device on each node that holds the Service IPs,
	// like kube-proxy's in IPVS mode.
	ServiceDevice = "kube-ipvs0"
	// HostInterface is the interface of every lab host on the lab bridge.
	HostInterface = "eth0"
	// MaxNodes is the most nodes the addressing plan below has room for.
	MaxNodes = 80
)

// Autonomous system numbers of the lab's BGP speakers.
const (
	NodeASN   = 64512 // ironlb speakers, eBGP towards the router
	RouterASN = 64500 // the router with BIRD 2 or FRR
	IBGPASN   = 65000 // both sides with BIRD 1.6 (iBGP, like Calico's default)
)

// Addresses of the lab network (see docs/lab.md for the picture).
var (
	LabPrefixIPv4 = netip.MustParsePrefix("172.30.0.0/24")
	LabPrefixIPv6 = netip.MustParsePrefix("fd00:30::/64")

	ControlPlaneIPv4 = netip.MustParseAddr("172.30.0.1") // kube-apiserver, on the bridge
	ControlPlaneIPv6 = netip.MustParseAddr("fd00:30::1")
	ClientIPv4       = netip.MustParseAddr("172.30.0.100")
	ClientIPv6       = netip.MustParseAddr("fd00:30::100")
	RouterIPv4       = netip.MustParseAddr("172.30.0.254")
	RouterIPv6       = netip.MustParseAddr("fd00:30::254")

	ExtPrefixIPv4     = netip.MustParsePrefix("172.31.0.0/24")
	ExtPrefixIPv6     = netip.MustParsePrefix("fd00:31::/64")
	RouterExtIPv4     = netip.MustParseAddr("172.31.0.1")
	RouterExtIPv6     = netip.MustParseAddr("fd00:31::1")
	ExtIPv4           = netip.MustParseAddr("172.31.0.2")
	ExtIPv6           = netip.MustParseAddr("fd00:31::2")
	APIServerPort     = 6443
	ServiceClusterIPs = "10.96.0.0/16,fd00:96::/112"
	// ServiceCIDRIPv4 is the IPv4 service range; KubernetesServiceIPv4 the
	// kubernetes Service's cluster IP, its first address.
	ServiceCIDRIPv4       = netip.MustParsePrefix("10.96.0.0/16")
	KubernetesServiceIPv4 = netip.MustParseAddr("10.96.0.1")
	// PodCIDRIPv4 holds the pods' addresses (pods mode): node i's pods get
	// NodePodCIDR(i) from its CNI bridge.
	PodCIDRIPv4 = netip.MustParsePrefix("10.244.0.0/16")
)

// NodePodCIDR is node i's (1-based) pod range, inside PodCIDRIPv4.
func NodePodCIDR(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i), 0}), 24)
}

// Address pools that scenarios use for Services: layer 2 pools on the lab
// segment, BGP pools on a network that only the router learns about.
var (
	L2PoolIPv4  = netipx.MustParseIPRange("172.30.0.200-172.30.0.250")
	L2PoolIPv6  = netipx.MustParseIPRange("fd00:30::200-fd00:30::250")
	BGPPoolIPv4 = netip.MustParsePrefix("172.32.0.0/24")
	BGPPoolIPv6 = netip.MustParsePrefix("fd00:32::/64")
)

// NodeName is the Kubernetes name of node i (1-based).
func NodeName(i int) string { return fmt.Sprintf("node%d", i) }

// NodeNS is the network namespace of node i (1-based).
func NodeNS(i int) string { return fmt.Sprintf("%snode%d", Prefix, i) }

// NodeIPv4 is the address of node i (1-based) on the lab segment.
func NodeIPv4(i int) netip.Addr { return netip.AddrFrom4([4]byte{172, 30, 0, byte(10 + i)}) }

// NodeIPv6 is the IPv6 address of node i (1-based) on the lab segment.
func NodeIPv6(i int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd00:30::%d", 10+i))
}
