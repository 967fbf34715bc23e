package bgp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// Addresses the scenarios use. The base pool takes the lower half of the
// lab's BGP pools; scenarios that need pools of their own take them from the
// upper half.
const (
	basePool      = "bgp-base"
	baseAdvert    = "bgp-base"
	peerV4        = "router-v4"
	peerV6        = "router-v6"
	basePoolV4    = "172.32.0.0/25"
	basePoolV6    = "fd00:32::/112"
	spareBlockV4  = "172.32.0.128/25"
	spareBlockV6  = "fd00:32::1:0/112"
	routeTimeout  = 30 * time.Second
	serviceDomain = "default"
)

// asns returns the ASNs of the nodes' sessions with a router kind: eBGP from
// AS 64512 to BIRD 2 and FRR, iBGP in AS 65000 with BIRD 1.6.
func asns(kind lab.RouterKind) (mine, peer uint32) {
	if kind == lab.BIRD1 {
		return lab.IBGPASN, lab.IBGPASN
	}
	return lab.NodeASN, lab.RouterASN
}

// peerYAML is a BGPPeer towards the router at addr for a router kind, with
// connectTime 1s so that sessions come back quickly after a router restart;
// extra holds more spec lines, each indented by two spaces.
func peerYAML(kind lab.RouterKind, name string, addr netip.Addr, extra ...string) string {
	mine, peer := asns(kind)
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: %s
  namespace: %s
spec:
  myASN: %d
  peerASN: %d
  peerAddress: "%s"
  connectTime: 1s
`, name, lab.IronLBNamespace, mine, peer, addr)
	for _, line := range extra {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// poolYAML is an IPAddressPool of the given CIDRs or ranges.
func poolYAML(name string, addresses ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: %s
  namespace: %s
spec:
  addresses:
`, name, lab.IronLBNamespace)
	for _, a := range addresses {
		fmt.Fprintf(&b, "  - %q\n", a)
	}
	return b.String()
}

// advertYAML is a BGPAdvertisement of one pool; extra holds more spec lines.
func advertYAML(name, pool string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: %s
  namespace: %s
spec:
  ipAddressPools: [%s]
`, name, lab.IronLBNamespace, pool)
	for _, line := range extra {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// documents joins YAML documents.
func documents(docs ...string) string { return strings.Join(docs, "---\n") }

// baseConfig is the configuration most scenarios share: the base pool
// advertised to one IPv4 and one IPv6 session per node.
func baseConfig(kind lab.RouterKind) string {
	return documents(
		poolYAML(basePool, basePoolV4, basePoolV6),
		peerYAML(kind, peerV4, lab.RouterIPv4),
		peerYAML(kind, peerV6, lab.RouterIPv6),
		advertYAML(baseAdvert, basePool),
	)
}

// setUp makes the router run config (restarting it only when it runs
// something else) and applies the base configuration for its kind. The base
// configuration stays after the test, so the next test finds the sessions
// up; tests that change it restore it with apply.
func setUp(t testing.TB, config lab.RouterConfig) *lab.Lab {
	t.Helper()
	l := lab.Shared(t)
	ctx := t.Context()
	if l.Router().Config() != config {
		if err := l.Router().Use(ctx, config); err != nil {
			t.Fatal(err)
		}
	}
	apply(t, baseConfig(config.Kind))
	return l
}

// webhookUnreachable is how the API server reports that it could not call
// the validating webhook (not that the webhook refused the change).
const webhookUnreachable = `failed calling webhook "config.metallb.io": failed to call webhook`

// apply applies manifests. While the API server cannot reach the webhook
// through its Service (a moment after the controller is Ready, or on a
// machine so loaded that the call outlasts its 10 s timeout) it tries
// again, for up to a minute; a refusal fails at once.
func apply(t testing.TB, manifests string) {
	t.Helper()
	l := lab.Shared(t)
	lab.Eventually(t, time.Minute, "the API server reaches the webhook", func() error {
		err := l.Apply(t.Context(), manifests)
		if err != nil && !strings.Contains(err.Error(), webhookUnreachable) {
			t.Fatal(err)
		}
		return err
	})
}

// applyTemporarily applies manifests and deletes them when the test ends,
// the last document first: documents name what they use before themselves
// (a pool before its advertisement), and the webhook refuses to delete an
// object that another still names.
func applyTemporarily(t testing.TB, manifests string) {
	t.Helper()
	l := lab.Shared(t)
	apply(t, manifests)
	docs := strings.Split(manifests, "---\n")
	slices.Reverse(docs)
	t.Cleanup(func() {
		if _, err := l.Kubectl(context.Background(), documents(docs...), "delete", "--ignore-not-found", "-f", "-"); err != nil {
			t.Errorf("deleting test configuration: %v", err)
		}
	})
}

// restoreBase re-applies the base configuration when the test ends, for
// tests that change it.
func restoreBase(t testing.TB, kind lab.RouterKind) {
	t.Helper()
	l := lab.Shared(t)
	t.Cleanup(func() {
		if err := l.Apply(context.Background(), baseConfig(kind)); err != nil {
			t.Errorf("restoring the base configuration: %v", err)
		}
	})
}

// newService returns a LoadBalancer Service of the given IP families
// (both when none), with its pool named.
func newService(name, pool string, families ...corev1.IPFamily) *corev1.Service {
	svc := lab.NewLoadBalancerService(serviceDomain, name)
	svc.Annotations = map[string]string{"metallb.io/address-pool": pool}
	switch len(families) {
	case 0:
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
	case 1:
		svc.Spec.IPFamilies = families
		svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	default:
		svc.Spec.IPFamilies = families
		svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
	}
	return svc
}

// createService creates svc with ready endpoints on the given nodes and
// returns its addresses once the controller assigned one per IP family.
func createService(t testing.TB, svc *corev1.Service, endpoints ...int) []netip.Addr {
	t.Helper()
	l := lab.Shared(t)
	created := l.CreateService(t, svc)
	if err := l.SetEndpoints(t.Context(), created, endpoints...); err != nil {
		t.Fatal(err)
	}
	return waitServiceIPs(t, svc.Name, len(created.Spec.IPFamilies))
}

// waitServiceIPs waits until the Service has n ingress IPs and returns them,
// IPv4 first.
func waitServiceIPs(t testing.TB, name string, n int) []netip.Addr {
	t.Helper()
	l := lab.Shared(t)
	var ips []netip.Addr
	lab.Eventually(t, routeTimeout, "Service "+name+" gets its addresses", func() error {
		svc, err := l.KubeClient().CoreV1().Services(serviceDomain).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ips = ips[:0]
		for _, ingress := range svc.Status.LoadBalancer.Ingress {
			if ip, err := netip.ParseAddr(ingress.IP); err == nil {
				ips = append(ips, ip)
			}
		}
		if len(ips) != n {
			return fmt.Errorf("ingress %+v, want %d addresses", svc.Status.LoadBalancer.Ingress, n)
		}
		return nil
	})
	slices.SortFunc(ips, func(a, b netip.Addr) int { return a.Compare(b) })
	return ips
}

// hostPrefix is the /32 or /128 of ip.
func hostPrefix(ip netip.Addr) netip.Prefix { return netip.PrefixFrom(ip, ip.BitLen()) }

// nodeHops returns the addresses of the given nodes in ip's family: the
// next hops a route to ip should have.
func nodeHops(ip netip.Addr, nodes ...int) []netip.Addr {
	hops := make([]netip.Addr, len(nodes))
	for i, n := range nodes {
		hops[i] = lab.NodeIPv4(n)
		if ip.Is6() {
			hops[i] = lab.NodeIPv6(n)
		}
	}
	return hops
}

// waitRoute waits until the router's kernel table routes prefix via exactly
// the given nodes (no route at all when nodes is empty).
func waitRoute(t testing.TB, prefix netip.Prefix, nodes ...int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), routeTimeout)
	defer cancel()
	want := len(nodes) > 0
	if _, err := lab.Shared(t).Router().WaitForRoute(ctx, prefix, want, nodeHops(prefix.Addr(), nodes...)...); err != nil {
		t.Fatal(err)
	}
}

// curlFromExt checks that ext, behind the router, reaches ip and that one
// of the given nodes answers.
func curlFromExt(t testing.TB, ip netip.Addr, nodes ...int) {
	t.Helper()
	l := lab.Shared(t)
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = lab.NodeName(n)
	}
	lab.Eventually(t, 10*time.Second, "ext reaches "+ip.String(), func() error {
		answer, err := l.Ext().Curl(t.Context(), ip)
		if err != nil {
			return err
		}
		if !slices.Contains(names, answer) {
			return fmt.Errorf("answered by %q, want one of %v", answer, names)
		}
		return nil
	})
}

// routeDetails returns what the router's daemon shows about its best and
// other paths for prefix, attributes included.
func routeDetails(ctx context.Context, r *lab.Router, prefix netip.Prefix) (string, error) {
	if r.Kind() == lab.FRR {
		family := "ipv4"
		if prefix.Addr().Is6() {
			family = "ipv6"
		}
		return r.Show(ctx, fmt.Sprintf("show bgp %s unicast %s", family, prefix), false)
	}
	return r.Show(ctx, fmt.Sprintf("show route %s all", prefix), prefix.Addr().Is6())
}

// attributeText is how a router kind shows route attributes in
// routeDetails.
type attributeText struct {
	community      func(asn, value uint16) string
	largeCommunity func(global, local1, local2 uint32) string
	localPref      func(pref uint32) string
}

func attributeTexts(kind lab.RouterKind) attributeText {
	if kind == lab.FRR {
		return attributeText{
			community:      func(asn, value uint16) string { return fmt.Sprintf("%d:%d", asn, value) },
			largeCommunity: func(g, l1, l2 uint32) string { return fmt.Sprintf("%d:%d:%d", g, l1, l2) },
			localPref:      func(pref uint32) string { return fmt.Sprintf("localpref %d", pref) },
		}
	}
	return attributeText{
		community:      func(asn, value uint16) string { return fmt.Sprintf("(%d,%d)", asn, value) },
		largeCommunity: func(g, l1, l2 uint32) string { return fmt.Sprintf("(%d, %d, %d)", g, l1, l2) },
		localPref:      func(pref uint32) string { return fmt.Sprintf("BGP.local_pref: %d", pref) },
	}
}

// bgpStatusResource is the ServiceBGPStatus resource.
var bgpStatusResource = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "servicebgpstatuses"}

// serviceBGPStatuses returns, per node, the peers the ServiceBGPStatus
// objects of a Service list.
func serviceBGPStatuses(ctx context.Context, l *lab.Lab, service string) (map[string][]string, error) {
	list, err := l.Dynamic().Resource(bgpStatusResource).Namespace(lab.IronLBNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "metallb.io/service-name=" + service + ",metallb.io/service-namespace=" + serviceDomain})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, item := range list.Items {
		status, _ := item.Object["status"].(map[string]any)
		node, _ := status["node"].(string)
		if node == "" || status["serviceName"] != service || status["serviceNamespace"] != serviceDomain {
			return nil, fmt.Errorf("ServiceBGPStatus %s: status %v", item.GetName(), status)
		}
		var peers []string
		raw, _ := status["peers"].([]any)
		for _, p := range raw {
			name, _ := p.(string)
			peers = append(peers, name)
		}
		slices.Sort(peers)
		out[node] = peers
	}
	return out, nil
}

// waitServiceBGPStatuses waits until the Service's ServiceBGPStatus objects
// are exactly want (node → peers).
func waitServiceBGPStatuses(t testing.TB, service string, want map[string][]string) {
	t.Helper()
	l := lab.Shared(t)
	lab.Eventually(t, routeTimeout, "ServiceBGPStatus of "+service, func() error {
		got, err := serviceBGPStatuses(t.Context(), l, service)
		if err != nil {
			return err
		}
		if len(got) != len(want) {
			return fmt.Errorf("got %v, want %v", got, want)
		}
		for node, peers := range want {
			if !slices.Equal(got[node], peers) {
				return fmt.Errorf("got %v, want %v", got, want)
			}
		}
		return nil
	})
}

// speakerLog is node i's speaker log from offset on.
func speakerLog(t testing.TB, i int, offset int64) string {
	t.Helper()
	data, err := os.ReadFile(lab.Shared(t).SpeakerLogPath(i))
	if err != nil {
		t.Fatal(err)
	}
	if offset > int64(len(data)) {
		offset = 0
	}
	return string(data[offset:])
}

// speakerLogSize is the current length of node i's speaker log, to read
// only what follows with speakerLog.
func speakerLogSize(t testing.TB, i int) int64 {
	t.Helper()
	info, err := os.Stat(lab.Shared(t).SpeakerLogPath(i))
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// sessionUp returns the metallb_bgp_session_up value node i's speaker
// exports for the session to addr, or an error when there is none.
func sessionUp(ctx context.Context, l *lab.Lab, i int, addr netip.Addr) (string, error) {
	metrics, err := l.SpeakerMetrics(ctx, i)
	if err != nil {
		return "", err
	}
	series := fmt.Sprintf(`metallb_bgp_session_up{peer="%s"} `, netip.AddrPortFrom(addr, 179))
	for line := range strings.SplitSeq(metrics, "\n") {
		if value, ok := strings.CutPrefix(line, series); ok {
			return value, nil
		}
	}
	return "", fmt.Errorf("node%d exports no %s", i, strings.TrimSpace(series))
}

// session is a BGP session as the router shows it.
type session struct {
	Established bool
	// Since tells when the session entered its state: BIRD's time of day,
	// FRR's count of connections established and dropped.
	Since string
}

// sameAs reports whether s and other are one session in one state. BIRD
// derives the time of day it shows from its monotonic clock, so one instant
// may be shown a little apart in two reads: up to a millisecond with BIRD 2
// (which shows milliseconds), up to a second with BIRD 1.6 (which shows
// seconds). Times that close are the same instant; a reset session takes
// longer than that to come back, and its routes leave the router meanwhile,
// which the tests check too.
func (s session) sameAs(other session) bool {
	if s.Established != other.Established {
		return false
	}
	if s.Since == other.Since {
		return true
	}
	for _, layout := range []struct {
		format string
		jitter time.Duration
	}{{"15:04:05.000", 20 * time.Millisecond}, {"15:04:05", time.Second}} {
		a, errA := time.Parse(layout.format, s.Since)
		b, errB := time.Parse(layout.format, other.Since)
		if errA == nil && errB == nil {
			return a.Sub(b).Abs() <= layout.jitter
		}
	}
	return false
}

func (s session) String() string {
	if s.Established {
		return "established since " + s.Since
	}
	return "down since " + s.Since
}

// routerSessions returns the router's BGP sessions with the nodes, by the
// node's address.
func routerSessions(ctx context.Context, r *lab.Router) (map[netip.Addr]session, error) {
	if r.Kind() == lab.FRR {
		return frrSessions(ctx, r)
	}
	sessions := map[netip.Addr]session{}
	for _, ipv6 := range []bool{false, true} {
		if r.Kind() == lab.BIRD2 && ipv6 {
			break // one daemon for both families
		}
		out, err := r.Show(ctx, "show protocols", ipv6)
		if err != nil {
			return nil, err
		}
		for line := range strings.SplitSeq(out, "\n") {
			// name proto table state since info (BIRD 2 and 1.6 alike)
			fields := strings.Fields(line)
			if len(fields) < 5 || fields[1] != "BGP" {
				continue
			}
			var node int
			if _, err := fmt.Sscanf(fields[0], "node%d", &node); err != nil {
				return nil, fmt.Errorf("BIRD session %q: not named after a node", fields[0])
			}
			addr := lab.NodeIPv4(node)
			if ipv6 || strings.HasSuffix(fields[0], "_v6") {
				addr = lab.NodeIPv6(node)
			}
			sessions[addr] = session{Established: len(fields) >= 6 && fields[5] == "Established", Since: fields[4]}
		}
	}
	return sessions, nil
}

// frrSessions reads the sessions from bgpd's neighbours. bgpd shows the
// time of establishment only as now minus the uptime (jittering by a
// second), so a session's Since is how often it was established and
// dropped.
func frrSessions(ctx context.Context, r *lab.Router) (map[netip.Addr]session, error) {
	out, err := r.Show(ctx, "show bgp neighbors json", false)
	if err != nil {
		return nil, err
	}
	var neighbors map[string]struct {
		State       string `json:"bgpState"`
		Established int    `json:"connectionsEstablished"`
		Dropped     int    `json:"connectionsDropped"`
	}
	if err := json.Unmarshal([]byte(out), &neighbors); err != nil {
		return nil, fmt.Errorf("FRR neighbors: %w: %s", err, out)
	}
	sessions := map[netip.Addr]session{}
	for address, n := range neighbors {
		addr, err := netip.ParseAddr(address)
		if err != nil {
			return nil, fmt.Errorf("FRR neighbors: %q: %w", address, err)
		}
		if n.State == "Established" && n.Established == 0 {
			return nil, fmt.Errorf("FRR neighbors: %s is established but shows no connection count: %s", address, out)
		}
		sessions[addr] = session{
			Established: n.State == "Established",
			Since:       fmt.Sprintf("%d connections established, %d dropped", n.Established, n.Dropped),
		}
	}
	return sessions, nil
}

// waitSessions waits until the router's sessions with the given node
// addresses are established (want true) or not.
func waitSessions(t testing.TB, want bool, addrs ...netip.Addr) {
	t.Helper()
	l := lab.Shared(t)
	lab.Eventually(t, routeTimeout, fmt.Sprintf("router sessions with %v established=%v", addrs, want), func() error {
		sessions, err := routerSessions(t.Context(), l.Router())
		if err != nil {
			return err
		}
		for _, addr := range addrs {
			if sessions[addr].Established != want {
				return fmt.Errorf("session with %s: %v", addr, sessions[addr])
			}
		}
		return nil
	})
}

// nodeAddrs are the addresses of all nodes in one family.
func nodeAddrs(l *lab.Lab, ipv6 bool) []netip.Addr {
	var out []netip.Addr
	for i := 1; i <= l.NodeCount(); i++ {
		if ipv6 {
			out = append(out, lab.NodeIPv6(i))
		} else {
			out = append(out, lab.NodeIPv4(i))
		}
	}
	return out
}

// drain returns the route events received so far.
func drain(events <-chan lab.RouteEvent) []lab.RouteEvent {
	var out []lab.RouteEvent
	for {
		select {
		case ev := <-events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// eventsFor returns the events that concern prefix.
func eventsFor(events []lab.RouteEvent, prefix netip.Prefix) []lab.RouteEvent {
	var out []lab.RouteEvent
	for _, ev := range events {
		if ev.Route.Prefix == prefix {
			out = append(out, ev)
		}
	}
	return out
}

// failureLogged reports whether log holds the speaker's warning that the
// session to peer failed for a reason starting with reason.
func failureLogged(log, peer, reason string) bool {
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, `msg="bgp session failure"`) && strings.Contains(line, " peer="+peer+" ") &&
			strings.Contains(line, ` reason="`+reason) {
			return true
		}
	}
	return false
}
