package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouterKind is the BGP daemon the lab's router runs.
type RouterKind string

// The router daemons the lab knows.
const (
	BIRD2 RouterKind = "bird2" // Debian's bird2, eBGP AS 64500 against nodes in AS 64512
	BIRD1 RouterKind = "bird1" // BIRD 1.6.8 (bird + bird6), iBGP in AS 65000 like Calico
	FRR   RouterKind = "frr"   // Debian's frr (zebra + bgpd), eBGP like BIRD2
)

// RouterConfig is the configuration of a router daemon. BIRD 1.6 runs two
// daemons, bird for IPv4 (Config) and bird6 for IPv6 (Config6); BIRD 2 and
// FRR's bgpd take everything in Config. FRR's bfdd takes BFDD (its BFD
// profiles; empty: none).
type RouterConfig struct {
	Kind    RouterKind
	Config  string
	Config6 string
	BFDD    string
}

// Router is the lab's BGP router: a namespace on the lab bridge (eth0) with
// the ext namespace behind it (eth1). It peers with every node and installs
// the routes it learns into its kernel table, so ext reaches Service IPs
// through it.
type Router struct {
	Host
	nodes   int
	config  RouterConfig
	daemons []*Process
}

// routerDir holds the router daemons' configuration and control sockets.
var routerDir = filepath.Join(stateDir, "router")

// Kind is the daemon the router runs now.
func (r *Router) Kind() RouterKind { return r.config.Kind }

// Config is the configuration the router runs now.
func (r *Router) Config() RouterConfig { return r.config }

// UseDefault runs kind with DefaultRouterConfig.
func (r *Router) UseDefault(ctx context.Context, kind RouterKind) error {
	return r.Use(ctx, DefaultRouterConfig(kind, r.nodes))
}

// Use stops the router's daemons and starts those of config.Kind with
// config. Routes the old daemons installed go with them.
func (r *Router) Use(ctx context.Context, config RouterConfig) error {
	r.Stop()
	if err := os.MkdirAll(routerDir, 0o755); err != nil {
		return err
	}
	var err error
	switch config.Kind {
	case BIRD2:
		err = r.startBIRD(ctx, "bird", "/usr/sbin/bird", config.Config)
	case BIRD1:
		var dir string
		if dir, err = BIRD1Dir(ctx); err == nil {
			if err = r.startBIRD(ctx, "bird1", filepath.Join(dir, "usr/sbin/bird"), config.Config); err == nil {
				err = r.startBIRD(ctx, "bird6", filepath.Join(dir, "usr/sbin/bird6"), config.Config6)
			}
		}
	case FRR:
		err = r.startFRR(ctx, config)
	default:
		err = fmt.Errorf("unknown router kind %q (want %s, %s or %s)", config.Kind, BIRD2, BIRD1, FRR)
	}
	if err != nil {
		r.Stop()
		return err
	}
	r.config = config
	return nil
}

// Stop ends the router's daemons and removes the routes they installed.
func (r *Router) Stop() {
	for _, d := range r.daemons {
		d.Stop(5 * time.Second)
	}
	r.daemons = nil
	if routes, err := r.Routes(); err == nil && len(routes) > 0 {
		if h, err := r.NS.Netlink(); err == nil {
			for _, rt := range routes {
				h.RouteDel(&netlink.Route{Dst: prefixToIPNet(rt.Prefix), Table: unix.RT_TABLE_MAIN, Protocol: netlink.RouteProtocol(rt.protocol)})
			}
			h.Close()
		}
	}
}

// Signal sends sig to the router's routing daemons: SIGSTOP freezes the
// router (BFD and BGP go silent, sockets stay open), SIGCONT thaws it. For
// FRR, zebra is left running: it holds only the kernel routes.
func (r *Router) Signal(sig syscall.Signal) error {
	if len(r.daemons) == 0 {
		return fmt.Errorf("router runs no daemon")
	}
	for _, d := range r.daemons {
		if d.Name == "router-zebra" {
			continue
		}
		if err := d.Signal(sig); err != nil {
			return fmt.Errorf("router: %s: %w", d.Name, err)
		}
	}
	return nil
}

// startBIRD checks config with `bird -p` and starts bird in the foreground
// with its control socket at routerDir/<name>.ctl.
func (r *Router) startBIRD(ctx context.Context, name, binary, config string) error {
	conf := filepath.Join(routerDir, name+".conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, binary, "-p", "-c", conf).CombinedOutput(); err != nil {
		return fmt.Errorf("%s configuration %s: %w: %s", name, conf, err, out)
	}
	p, err := r.Start("router-"+name, binary, "-f", "-c", conf, "-s", filepath.Join(routerDir, name+".ctl"))
	if err != nil {
		return err
	}
	r.daemons = append(r.daemons, p)
	return waitForFile(ctx, filepath.Join(routerDir, name+".ctl"), p)
}

// frrDaemons are FRR's daemons, in start order.
var frrDaemons = []string{"zebra", "bfdd", "bgpd"}

// startFRR starts zebra, bfdd and bgpd as user frr, with sockets and pid
// files of their own under routerDir/frr (not the system's), so a system FRR
// is not disturbed.
func (r *Router) startFRR(ctx context.Context, config RouterConfig) error {
	dir := filepath.Join(routerDir, "frr")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	configs := map[string]string{
		"zebra": "hostname router\nlog stdout\n",
		"bfdd":  "hostname router\nlog stdout\n" + config.BFDD,
		"bgpd":  config.Config,
	}
	for _, daemon := range frrDaemons {
		if err := os.WriteFile(filepath.Join(dir, daemon+".conf"), []byte(configs[daemon]), 0o644); err != nil {
			return err
		}
	}
	if out, err := exec.CommandContext(ctx, "chown", "-R", "frr:frr", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("chown %s: %w: %s (is frr installed?)", dir, err, out)
	}
	if err := checkFRRConfig(ctx, dir, filepath.Join(dir, "bgpd.conf")); err != nil {
		return err
	}
	if err := removeFRRSockets(dir); err != nil {
		return err
	}
	for _, daemon := range frrDaemons {
		args := []string{"/usr/lib/frr/" + daemon,
			"-u", "frr", "-g", "frr",
			"-f", filepath.Join(dir, daemon+".conf"),
			"-i", filepath.Join(dir, daemon+".pid"),
			"-z", filepath.Join(dir, "zserv.api"),
			"--vty_socket", dir,
			"-P", "0",
			"--log", "stdout",
		}
		if daemon == "bfdd" {
			args = append(args, "--bfdctl", filepath.Join(dir, "bfdd.sock"))
		}
		p, err := r.Start("router-"+daemon, args...)
		if err != nil {
			return err
		}
		r.daemons = append(r.daemons, p)
		if err := waitForFile(ctx, filepath.Join(dir, daemon+".vty"), p); err != nil {
			return err
		}
	}
	return nil
}

// removeFRRSockets removes the sockets and pid files a previous run of the
// daemons left in dir. Left there, the wait for zebra's vty socket ended at
// once after a restart, and bgpd, started before the new zebra listened,
// failed to connect; it connected 10 s later, but the BFD sessions it had
// asked for meanwhile were lost ("was not installed"), so bfdd had none:
// FRR's BFD sessions never came up (TestBFDIntervalsWithFRR, the BFD
// benchmarks).
func removeFRRSockets(dir string) error {
	for _, pattern := range []string{"*.vty", "*.pid", "*.api", "*.sock"} {
		stale, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		for _, path := range stale {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}

// checkFRRConfig runs `bgpd --dryrun` on conf, with scratch files in dir
// (owned by frr). bgpd exits 0 even on bad lines, so its error lines decide.
func checkFRRConfig(ctx context.Context, dir, conf string) error {
	out, err := exec.CommandContext(ctx, "/usr/lib/frr/bgpd", "--dryrun", "-f", conf,
		"-u", "frr", "-g", "frr",
		"-i", filepath.Join(dir, "dryrun.pid"),
		"-z", filepath.Join(dir, "dryrun.api"),
		"--vty_socket", dir).CombinedOutput()
	if err != nil || strings.Contains(string(out), "[EC ") {
		return fmt.Errorf("bgpd configuration %s: %v: %s", conf, err, out)
	}
	return nil
}

// waitForFile waits up to 10 s for path to appear while p runs.
func waitForFile(ctx context.Context, path string, p *Process) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if !p.Running() {
			return fmt.Errorf("%s exited (%v); see %s", p.Name, p.ExitError(), p.LogPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not create %s; see %s", p.Name, path, p.LogPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Show runs a show command on the router's daemon and returns its output:
// birdc for BIRD 2 (e.g. "show protocols"), vtysh for FRR (e.g. "show bgp
// summary"). For BIRD 1.6, ipv6 selects bird6 instead of bird.
func (r *Router) Show(ctx context.Context, command string, ipv6 bool) (string, error) {
	var cmd *exec.Cmd
	switch r.config.Kind {
	case BIRD2:
		cmd = exec.CommandContext(ctx, "birdc", append([]string{"-s", filepath.Join(routerDir, "bird.ctl")}, strings.Fields(command)...)...)
	case BIRD1:
		dir, err := BIRD1Dir(ctx)
		if err != nil {
			return "", err
		}
		client, socket := "birdc", "bird1.ctl"
		if ipv6 {
			client, socket = "birdc6", "bird6.ctl"
		}
		cmd = exec.CommandContext(ctx, filepath.Join(dir, "usr/sbin", client), append([]string{"-s", filepath.Join(routerDir, socket)}, strings.Fields(command)...)...)
	case FRR:
		cmd = exec.CommandContext(ctx, "vtysh", "--vty_socket", filepath.Join(routerDir, "frr"), "-c", command)
	default:
		return "", fmt.Errorf("router runs no daemon")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("router %s %q: %w: %s", r.config.Kind, command, err, out)
	}
	return string(out), nil
}

// Route is a route that the router's daemon installed in its kernel table.
type Route struct {
	Prefix   netip.Prefix
	NextHops []netip.Addr // sorted
	protocol int
}

// String writes the route like `ip route`: prefix via next hops.
func (rt Route) String() string {
	hops := make([]string, len(rt.NextHops))
	for i, h := range rt.NextHops {
		hops[i] = h.String()
	}
	return rt.Prefix.String() + " via " + strings.Join(hops, ",")
}

// routingDaemonProtocols are the rtm_protocol values BIRD (12) and FRR's
// zebra (186, "bgp") install routes with.
var routingDaemonProtocols = []netlink.RouteProtocol{unix.RTPROT_BIRD, 186}

// Routes lists the routes that the router's daemon installed in the main
// kernel table of the router namespace (both families), read via netlink.
func (r *Router) Routes() ([]Route, error) {
	h, err := r.NS.Netlink()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	list, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, err
	}
	var routes []Route
	for _, nl := range list {
		if rt, ok := fromNetlink(nl); ok {
			routes = append(routes, rt)
		}
	}
	slices.SortFunc(routes, func(a, b Route) int { return strings.Compare(a.Prefix.String(), b.Prefix.String()) })
	return routes, nil
}

// fromNetlink converts a kernel route installed by a routing daemon.
func fromNetlink(nl netlink.Route) (Route, bool) {
	if !slices.Contains(routingDaemonProtocols, nl.Protocol) || nl.Dst == nil {
		return Route{}, false
	}
	prefix, ok := ipNetToPrefix(nl.Dst)
	if !ok {
		return Route{}, false
	}
	rt := Route{Prefix: prefix, protocol: int(nl.Protocol)}
	addHop := func(gw []byte) {
		if hop, ok := netip.AddrFromSlice(gw); ok {
			rt.NextHops = append(rt.NextHops, hop.Unmap())
		}
	}
	// A next hop of the other family (an IPv4 route via an IPv6 link-local
	// address, RFC 8950) is a Via, not a Gw.
	addVia := func(via netlink.Destination) {
		if v, ok := via.(*netlink.Via); ok {
			addHop(v.Addr)
		}
	}
	if nl.Gw != nil {
		addHop(nl.Gw)
	}
	addVia(nl.Via)
	for _, path := range nl.MultiPath {
		addHop(path.Gw)
		addVia(path.Via)
	}
	slices.SortFunc(rt.NextHops, func(a, b netip.Addr) int { return a.Compare(b) })
	return rt, true
}

// RouteTo returns the installed route for prefix, if any.
func (r *Router) RouteTo(prefix netip.Prefix) (Route, bool, error) {
	routes, err := r.Routes()
	if err != nil {
		return Route{}, false, err
	}
	for _, rt := range routes {
		if rt.Prefix == prefix {
			return rt, true, nil
		}
	}
	return Route{}, false, nil
}

// WaitForRoute waits until the router has a route for prefix whose next
// hops are exactly nextHops (in any order), or any route for prefix when
// nextHops is empty; with want false it waits until no route for prefix is
// left.
func (r *Router) WaitForRoute(ctx context.Context, prefix netip.Prefix, want bool, nextHops ...netip.Addr) (Route, error) {
	wantHops := slices.Clone(nextHops)
	slices.SortFunc(wantHops, func(a, b netip.Addr) int { return a.Compare(b) })
	var last Route
	for {
		rt, found, err := r.RouteTo(prefix)
		if err != nil {
			return Route{}, err
		}
		last = rt
		switch {
		case !want && !found:
			return Route{}, nil
		case want && found && (len(wantHops) == 0 || slices.Equal(rt.NextHops, wantHops)):
			return rt, nil
		}
		select {
		case <-ctx.Done():
			return Route{}, fmt.Errorf("router: route %s (want present=%v via %v; last seen %v): %w", prefix, want, wantHops, last.NextHops, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// RouteEvent is a change of a daemon-installed route in the router.
type RouteEvent struct {
	Route   Route
	Deleted bool
	Time    time.Time
}

// WatchRoutes streams changes of daemon-installed routes in the router's
// kernel table (netlink subscription inside the router namespace) until ctx
// ends.
func (r *Router) WatchRoutes(ctx context.Context) (<-chan RouteEvent, error) {
	handle, err := namespaceHandle(r.NS)
	if err != nil {
		return nil, err
	}
	updates := make(chan netlink.RouteUpdate, 1024)
	done := make(chan struct{})
	err = netlink.RouteSubscribeWithOptions(updates, done, netlink.RouteSubscribeOptions{Namespace: &handle})
	handle.Close()
	if err != nil {
		return nil, fmt.Errorf("router: subscribe to routes: %w", err)
	}
	events := make(chan RouteEvent, 1024)
	go func() {
		defer close(events)
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-updates:
				if !ok {
					return
				}
				if rt, ok := fromNetlink(u.Route); ok {
					events <- RouteEvent{Route: rt, Deleted: u.Type == unix.RTM_DELROUTE, Time: time.Now()}
				}
			}
		}
	}()
	return events, nil
}

// DefaultRouterConfig returns the router configuration the lab starts with
// for kind and nodes nodes: one BGP session per node and family (IPv4 over
// IPv4, IPv6 over IPv6), importing everything, exporting nothing, and
// equal-cost paths merged into multipath kernel routes. FRR is told to
// prefer the global IPv6 next hop over the link-local one, so routes name
// the node's address.
func DefaultRouterConfig(kind RouterKind, nodes int) RouterConfig {
	switch kind {
	case BIRD1:
		return RouterConfig{Kind: kind, Config: bird1Config(nodes, false), Config6: bird1Config(nodes, true)}
	case FRR:
		return RouterConfig{Kind: kind, Config: frrConfig(nodes)}
	default:
		return RouterConfig{Kind: BIRD2, Config: bird2Config(nodes)}
	}
}

func bird2Config(nodes int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `log stderr all;
router id %s;
protocol device { }
protocol kernel kernel4 { ipv4 { import none; export all; }; merge paths on; }
protocol kernel kernel6 { ipv6 { import none; export all; }; merge paths on; }
template bgp nodes_v4 {
  local %s as %d;
  connect delay time 1; connect retry time 5; error wait time 1, 10;
  ipv4 { import all; export none; };
}
template bgp nodes_v6 {
  local %s as %d;
  connect delay time 1; connect retry time 5; error wait time 1, 10;
  ipv6 { import all; export none; };
}
`, RouterIPv4, RouterIPv4, RouterASN, RouterIPv6, RouterASN)
	for i := 1; i <= nodes; i++ {
		fmt.Fprintf(&b, "protocol bgp %s from nodes_v4 { neighbor %s as %d; }\n", NodeName(i), NodeIPv4(i), NodeASN)
		fmt.Fprintf(&b, "protocol bgp %s_v6 from nodes_v6 { neighbor %s as %d; }\n", NodeName(i), NodeIPv6(i), NodeASN)
	}
	return b.String()
}

func bird1Config(nodes int, ipv6 bool) string {
	local := RouterIPv4
	var b strings.Builder
	if ipv6 {
		local = RouterIPv6
	}
	fmt.Fprintf(&b, `log stderr all;
router id %s;
protocol device { }
protocol kernel { import none; export all; merge paths on; }
template bgp nodes {
  local %s as %d;
  connect delay time 1; connect retry time 5; error wait time 1, 10;
  direct; gateway direct;
  import all; export none;
}
`, RouterIPv4, local, IBGPASN)
	for i := 1; i <= nodes; i++ {
		neighbor := NodeIPv4(i)
		if ipv6 {
			neighbor = NodeIPv6(i)
		}
		fmt.Fprintf(&b, "protocol bgp %s from nodes { neighbor %s as %d; }\n", NodeName(i), neighbor, IBGPASN)
	}
	return b.String()
}

func frrConfig(nodes int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `frr defaults traditional
hostname router
log stdout
!
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp bestpath as-path multipath-relax
 neighbor nodes4 peer-group
 neighbor nodes4 remote-as %d
 neighbor nodes4 timers connect 5
 neighbor nodes6 peer-group
 neighbor nodes6 remote-as %d
 neighbor nodes6 timers connect 5
`, RouterASN, RouterIPv4, NodeASN, NodeASN)
	for i := 1; i <= nodes; i++ {
		fmt.Fprintf(&b, " neighbor %s peer-group nodes4\n neighbor %s peer-group nodes6\n", NodeIPv4(i), NodeIPv6(i))
	}
	b.WriteString(` address-family ipv4 unicast
  neighbor nodes4 activate
  maximum-paths 64
 exit-address-family
 address-family ipv6 unicast
  neighbor nodes6 activate
  neighbor nodes6 route-map global-next-hop in
  maximum-paths 64
 exit-address-family
!
route-map global-next-hop permit 10
 set ipv6 next-hop prefer-global
!
`)
	return b.String()
}
