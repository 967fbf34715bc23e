package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/ndp"
)

// Router advertisement intervals on the links of unnumbered sessions: as
// FRR's for its interface peers once sent, sooner while one fails (the
// interface's link-local address may still be tentative).
const (
	raInterval      = 10 * time.Second
	raRetryInterval = time.Second
)

// routerAdvertiser makes the node known on the links of its unnumbered
// sessions: it sends a router advertisement (RFC 4861 §4.2) on each such
// interface at once and every raInterval, with router lifetime 0 (the node
// is no default router) and its link-layer address. A router learns the
// link-local address of an interface peer from these, as FRR's bgpd does,
// which only accepts and dials a `neighbor IFACE interface` peer it has
// heard an advertisement from. The speaker never listens for BGP, so the
// session is the one it dials once the router knows it.
type routerAdvertiser struct {
	log  *slog.Logger
	send func(iface string) error

	mu    sync.Mutex
	links map[string]context.CancelFunc // by interface
	wg    sync.WaitGroup
}

func newRouterAdvertiser(log *slog.Logger, send func(iface string) error) *routerAdvertiser {
	return &routerAdvertiser{log: log, send: send, links: map[string]context.CancelFunc{}}
}

// set advertises on exactly ifaces: it starts on the new ones and stops on
// those no longer given, leaving the others untouched.
func (a *routerAdvertiser) set(ifaces []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	wanted := make(map[string]bool, len(ifaces))
	for _, iface := range ifaces {
		wanted[iface] = true
		if _, running := a.links[iface]; running {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		a.links[iface] = cancel
		a.wg.Add(1)
		go a.advertise(ctx, iface)
	}
	for iface, cancel := range a.links {
		if !wanted[iface] {
			cancel()
			delete(a.links, iface)
		}
	}
}

// stop ends every advertisement and waits for them to end.
func (a *routerAdvertiser) stop() {
	a.set(nil)
	a.wg.Wait()
}

func (a *routerAdvertiser) advertise(ctx context.Context, iface string) {
	defer a.wg.Done()
	failing := false
	for {
		wait := raInterval
		if err := a.send(iface); err != nil {
			if !failing {
				a.log.Warn("bgp unnumbered: cannot send router advertisements; the router may not find this node", "interface", iface, "error", err)
			}
			failing, wait = true, raRetryInterval
		} else if failing {
			a.log.Info("bgp unnumbered: router advertisements sent again", "interface", iface)
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// sendRouterAdvertisement sends one router advertisement with router
// lifetime 0 from iface's link-local address to all nodes on its link.
func sendRouterAdvertisement(iface string) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	conn, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return fmt.Errorf("opening an ICMPv6 socket on %s: %w", iface, err)
	}
	defer conn.Close()
	ra := &ndp.RouterAdvertisement{
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}},
	}
	if len(ifi.HardwareAddr) == 0 {
		ra.Options = nil // a link without link-layer addresses (e.g. a tunnel)
	}
	return conn.WriteTo(ra, nil, netip.IPv6LinkLocalAllNodes())
}
