package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// UnnumberedLink is a point-to-point link between the router and one node
// with IPv6 link-local addresses only, for unnumbered BGP sessions (BGPPeer
// spec.interface). The lab has none unless a test adds one.
type UnnumberedLink struct {
	Node int
	// RouterInterface and NodeInterface are the link's ends in the router's
	// and the node's namespace.
	RouterInterface, NodeInterface string
	// NodeLinkLocal is the node end's link-local address: the next hop the
	// router's routes over the link have.
	NodeLinkLocal netip.Addr
}

// UnnumberedNodeInterface is the name of a node's end of its unnumbered link.
const UnnumberedNodeInterface = Prefix + "router"

// AddUnnumberedLink connects node i (1-based) to the router with a veth
// pair, replacing a leftover one; RemoveUnnumberedLink removes it.
func (l *Lab) AddUnnumberedLink(ctx context.Context, i int) (UnnumberedLink, error) {
	link := UnnumberedLink{Node: i, RouterInterface: fmt.Sprintf("%sun%d", Prefix, i), NodeInterface: UnnumberedNodeInterface}
	_ = l.RemoveUnnumberedLink(ctx, link)
	nodeNS := NodeNS(i)
	// The namespaces' default accept_dad=0 (hostSysctls) makes the
	// link-local addresses usable as soon as the link is up.
	if err := ipAll(ctx,
		[]string{"-n", string(RouterNS), "link", "add", link.RouterInterface, "type", "veth", "peer", "name", link.NodeInterface, "netns", nodeNS},
		[]string{"-n", string(RouterNS), "link", "set", link.RouterInterface, "up"},
		[]string{"-n", nodeNS, "link", "set", link.NodeInterface, "up"},
	); err != nil {
		return link, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := Namespace(nodeNS).Exec(ctx, "ip", "-6", "-o", "addr", "show", "dev", link.NodeInterface, "scope", "link")
		if err != nil {
			return link, err
		}
		for _, field := range strings.Fields(out) {
			if prefix, err := netip.ParsePrefix(field); err == nil && prefix.Addr().IsLinkLocalUnicast() {
				link.NodeLinkLocal = prefix.Addr()
				return link, nil
			}
		}
		if time.Now().After(deadline) {
			return link, fmt.Errorf("%s in %s has no link-local address: %s", link.NodeInterface, nodeNS, out)
		}
		select {
		case <-ctx.Done():
			return link, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// RemoveUnnumberedLink deletes the link (both ends go together).
func (l *Lab) RemoveUnnumberedLink(ctx context.Context, link UnnumberedLink) error {
	return ip(ctx, "-n", string(RouterNS), "link", "del", link.RouterInterface)
}
