package e2etest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestControlPlane: the API server is the pinned release, knows the lab's
// nodes with their addresses, and the lab's kubectl talks to it.
func TestControlPlane(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	version, err := l.KubeClient().Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if version.GitVersion != lab.KubeVersion {
		t.Errorf("server version %s, want %s", version.GitVersion, lab.KubeVersion)
	}
	nodes, err := l.KubeClient().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != l.NodeCount() {
		t.Fatalf("%d Node objects, want %d", len(nodes.Items), l.NodeCount())
	}
	for i := 1; i <= l.NodeCount(); i++ {
		node, err := l.KubeClient().CoreV1().Nodes().Get(ctx, lab.NodeName(i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var internal []string
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				internal = append(internal, a.Address)
			}
		}
		want := []string{lab.NodeIPv4(i).String(), lab.NodeIPv6(i).String()}
		if !slices.Equal(internal, want) {
			t.Errorf("Node %s InternalIPs %v, want %v", node.Name, internal, want)
		}
		if node.Labels["kubernetes.io/hostname"] != node.Name {
			t.Errorf("Node %s labels %v lack kubernetes.io/hostname", node.Name, node.Labels)
		}
	}
	if err := l.SetNodeLabels(ctx, 2, map[string]string{"zone": "b"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.SetNodeLabels(context.Background(), 2, nil) })
	out, err := l.Kubectl(ctx, "", "get", "nodes", "-l", "zone=b", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "node/"+lab.NodeName(2) {
		t.Errorf("kubectl get nodes -l zone=b: %q, want node/%s", out, lab.NodeName(2))
	}
	out, err = l.Kubectl(ctx, "", "get", "nodes", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "node/"+lab.NodeName(1)) {
		t.Errorf("kubectl get nodes: %q lacks node/%s", out, lab.NodeName(1))
	}
	if _, err := l.KubeClient().CoreV1().Namespaces().Get(ctx, lab.IronLBNamespace, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace %s: %v", lab.IronLBNamespace, err)
	}
	// The install applied every CRD of manifests/crds.
	crds, err := l.Kubectl(ctx, "", "get", "-f", filepath.Join(repoRoot(t), "manifests", "crds"), "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CRDs installed: %s", strings.Join(strings.Fields(crds), " "))
}

// TestNamespaceDeletion: kube-controller-manager's namespace controller
// empties and removes a deleted namespace, with the EndpointSlice its
// endpointslice controller made for the namespace's Service.
func TestNamespaceDeletion(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	kube := l.KubeClient()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "smoke-deleted"}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := lab.NewLoadBalancerService(ns.Name, "doomed")
	svc.Spec.LoadBalancerClass = ptr.To("lab.ironlb.io/manual")
	created, err := kube.CoreV1().Services(ns.Name).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, 30*time.Second, "kube-controller-manager writes the EndpointSlice of "+ns.Name+"/doomed", func() error {
		list, err := kube.DiscoveryV1().EndpointSlices(ns.Name).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=" + created.Name})
		if err == nil && len(list.Items) == 0 {
			err = errors.New("no EndpointSlice")
		}
		return err
	})
	if err := kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, 60*time.Second, "namespace "+ns.Name+" is gone", func() error {
		_, err := kube.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

// TestNetwork: every node's backend (a hostNetwork pod) answers the client
// on the lab segment and ext behind the router, over IPv4 and IPv6, and the
// nodes answer ARP and neighbor discovery for their own addresses.
func TestNetwork(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	if err := l.NodeBackends(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes() {
		for _, from := range []*lab.Host{l.Client(), l.Ext()} {
			for _, ip := range []netip.Addr{n.IPv4, n.IPv6} {
				got, err := from.Curl(ctx, ip)
				if err != nil {
					t.Fatal(err)
				}
				if got != n.Name {
					t.Errorf("%s: GET http://%s/ answered %q, want %q", from.Name, ip, got, n.Name)
				}
			}
		}
		mac, err := n.MAC()
		if err != nil {
			t.Fatal(err)
		}
		arp, err := l.Client().Arping(ctx, n.IPv4)
		if err != nil {
			t.Fatal(err)
		}
		nd, err := l.Client().Ndisc(ctx, n.IPv6)
		if err != nil {
			t.Fatal(err)
		}
		if arp.String() != mac.String() || nd.String() != mac.String() {
			t.Errorf("%s has MAC %s; ARP says %s, NDP says %s", n.Name, mac, arp, nd)
		}
	}
}

// TestPartition: a partitioned node reaches neither the client nor the API
// server, and comes back as it was once healed.
func TestPartition(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	node := l.Node(2)
	apiserver := netip.AddrPortFrom(lab.ControlPlaneIPv4, uint16(lab.APIServerPort)).String()
	if err := l.NodeBackends(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Partition(ctx, node.Index); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Heal(context.Background(), node.Index) })
	if got, err := l.Client().Curl(ctx, node.IPv4); err == nil {
		t.Errorf("client reached partitioned %s (answer %q)", node.Name, got)
	}
	dialCtx, cancel := context.WithTimeout(ctx, time.Second)
	conn, err := node.NS.DialContext(dialCtx, "tcp", apiserver)
	cancel()
	if err == nil {
		conn.Close()
		t.Errorf("partitioned %s reached the API server", node.Name)
	}
	if err := l.Heal(ctx, node.Index); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, 10*time.Second, node.Name+" healed", func() error {
		for _, ip := range []netip.Addr{node.IPv4, node.IPv6} {
			if got, err := l.Client().Curl(ctx, ip); err != nil || got != node.Name {
				return fmt.Errorf("GET http://%s/: %q, %v", ip, got, err)
			}
		}
		conn, err := node.NS.DialContext(ctx, "tcp", apiserver)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// TestServiceIPsThroughKubeProxy: an ingress IP in a LoadBalancer
// Service's status is programmed by every node's kube-proxy (iptables mode)
// and leaves with it; it is on no interface, so no node answers ARP or NDP
// for it by itself, while routed traffic to it reaches the Service's
// endpoint.
func TestServiceIPsThroughKubeProxy(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	vip4, vip6 := netip.MustParseAddr("172.30.0.199"), netip.MustParseAddr("fd00:30::199")
	// A class of its own: ironlb leaves this Service alone.
	svc := lab.NewLoadBalancerService("default", "manual-ip")
	svc.Spec.LoadBalancerClass = ptr.To("lab.ironlb.io/manual")
	svc = l.CreateService(t, svc)
	if err := l.SetEndpoints(ctx, svc, 2); err != nil {
		t.Fatal(err)
	}
	setIngress(t, svc, vip4, vip6)
	for _, n := range l.Nodes() {
		lab.Eventually(t, 30*time.Second, n.Name+"'s kube-proxy programs the Service IPs", func() error {
			return programmed(ctx, n, true, vip4, vip6)
		})
	}
	if mac, err := l.Client().Arping(ctx, vip4); err == nil {
		t.Errorf("ARP for %s answered by %s, yet no speaker announces it", vip4, mac)
	}
	if mac, err := l.Client().Ndisc(ctx, vip6); err == nil {
		t.Errorf("NDP for %s answered by %s, yet no speaker announces it", vip6, mac)
	}
	// A static route at the router stands in for a BGP announcement.
	for _, route := range [][]string{
		{"route", "add", vip4.String() + "/32", "via", lab.NodeIPv4(2).String()},
		{"-6", "route", "add", vip6.String() + "/128", "via", lab.NodeIPv6(2).String()},
	} {
		if _, err := l.Router().Exec(ctx, "ip", route...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			del := slices.Clone(route)
			del[slices.Index(del, "add")] = "del"
			l.Router().Exec(context.Background(), "ip", del...)
		})
	}
	for _, vip := range []netip.Addr{vip4, vip6} {
		got, err := l.Ext().Curl(ctx, vip)
		if err != nil {
			t.Fatal(err)
		}
		if got != lab.NodeName(2) {
			t.Errorf("ext: GET http://%s/ answered %q, want %s", vip, got, lab.NodeName(2))
		}
	}
	setIngress(t, svc)
	for _, n := range l.Nodes() {
		lab.Eventually(t, 30*time.Second, n.Name+"'s kube-proxy drops the Service IPs", func() error {
			return programmed(ctx, n, false, vip4, vip6)
		})
	}
}

// TestRouters: each router daemon peers with BGP speakers on the nodes,
// installs the routes they announce as multipath kernel routes, so ext
// reaches the Service IP, and removes them when the speakers go away. BIRD 2
// on two nodes stands in for ironlb's speaker.
func TestRouters(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	vip4, vip6 := netip.MustParseAddr("172.32.0.20"), netip.MustParseAddr("fd00:32::20")
	svc := lab.NewLoadBalancerService("default", "router-check")
	svc.Spec.LoadBalancerClass = ptr.To("lab.ironlb.io/manual")
	svc = lab.Shared(t).CreateService(t, svc)
	setIngress(t, svc, vip4, vip6)
	t.Cleanup(func() { l.Router().UseDefault(context.Background(), lab.BIRD2) })
	announcers := []int{1, 3}
	// ext's requests reach the nodes' backends through kube-proxy.
	if err := l.SetEndpoints(ctx, svc, announcers...); err != nil {
		t.Fatal(err)
	}
	// The stand-in speakers need the nodes' BGP port and sessions.
	for _, i := range announcers {
		if l.SpeakerRunning(ctx, i) {
			if err := l.KillSpeaker(i, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := l.StartSpeaker(i); err != nil {
					t.Error(err)
				}
			})
		}
	}
	for _, kind := range []lab.RouterKind{lab.BIRD2, lab.FRR, lab.BIRD1} {
		t.Run(string(kind), func(t *testing.T) {
			if err := l.Router().UseDefault(ctx, kind); err != nil {
				t.Fatal(err)
			}
			events, err := l.Router().WatchRoutes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var stops []func()
			for _, i := range announcers {
				stops = append(stops, announceWithBIRD(t, l.Node(i), kind, vip4, vip6))
			}
			for _, vip := range []netip.Addr{vip4, vip6} {
				hops := []netip.Addr{lab.NodeIPv4(1), lab.NodeIPv4(3)}
				if vip.Is6() {
					hops = []netip.Addr{lab.NodeIPv6(1), lab.NodeIPv6(3)}
				}
				waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
				route, err := l.Router().WaitForRoute(waitCtx, netip.PrefixFrom(vip, vip.BitLen()), true, hops...)
				cancel()
				if err != nil {
					out, _ := l.Router().Show(ctx, routerSummary(kind), vip.Is6())
					t.Fatalf("%v\n%s", err, out)
				}
				t.Logf("router %s: %s", kind, route)
				got, err := l.Ext().Curl(ctx, vip)
				if err != nil {
					t.Fatal(err)
				}
				if got != lab.NodeName(1) && got != lab.NodeName(3) {
					t.Errorf("ext: GET http://%s/ answered %q, want node1 or node3", vip, got)
				}
			}
			select {
			case e := <-events:
				if e.Deleted || !(e.Route.Prefix.Addr() == vip4 || e.Route.Prefix.Addr() == vip6) {
					t.Errorf("first route event %+v, want an added route for %s or %s", e, vip4, vip6)
				}
			case <-time.After(time.Second):
				t.Error("WatchRoutes reported no route event")
			}
			for _, stop := range stops {
				stop()
			}
			for _, vip := range []netip.Addr{vip4, vip6} {
				waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := l.Router().WaitForRoute(waitCtx, netip.PrefixFrom(vip, vip.BitLen()), false)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// routerSummary is the show command that lists a daemon's BGP sessions.
func routerSummary(kind lab.RouterKind) string {
	if kind == lab.FRR {
		return "show bgp summary"
	}
	return "show protocols all"
}

// announceWithBIRD runs BIRD 2 on node n, announcing vip4/32 and vip6/128
// to the router with the ASNs that the router of kind expects; the returned
// function stops it.
func announceWithBIRD(t *testing.T, n *lab.Node, kind lab.RouterKind, vip4, vip6 netip.Addr) func() {
	t.Helper()
	local, remote, nextHop := lab.NodeASN, lab.RouterASN, ""
	if kind == lab.BIRD1 {
		local, remote, nextHop = lab.IBGPASN, lab.IBGPASN, "next hop self;"
	}
	dir := t.TempDir()
	config := fmt.Sprintf(`log stderr all;
router id %s;
protocol device { }
protocol static static4 { ipv4; route %s/32 blackhole; }
protocol static static6 { ipv6; route %s/128 blackhole; }
protocol bgp router4 { local %s as %d; neighbor %s as %d; ipv4 { import none; export all; %s }; }
protocol bgp router6 { local %s as %d; neighbor %s as %d; ipv6 { import none; export all; %s }; }
`, n.IPv4, vip4, vip6,
		n.IPv4, local, lab.RouterIPv4, remote, nextHop,
		n.IPv6, local, lab.RouterIPv6, remote, nextHop)
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := n.Start("test-bird-"+n.Name, "/usr/sbin/bird", "-f", "-c", conf, "-s", filepath.Join(dir, "bird.ctl"))
	if err != nil {
		t.Fatal(err)
	}
	stop := func() { p.Stop(5 * time.Second) }
	t.Cleanup(stop)
	return stop
}

// setIngress writes ips as the Service's load-balancer status, as a
// load-balancer implementation would.
func setIngress(t *testing.T, svc *corev1.Service, ips ...netip.Addr) {
	t.Helper()
	kube := lab.Shared(t).KubeClient()
	current, err := kube.CoreV1().Services(svc.Namespace).Get(t.Context(), svc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	current.Status.LoadBalancer.Ingress = nil
	for _, ip := range ips {
		current.Status.LoadBalancer.Ingress = append(current.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip.String()})
	}
	if _, err := kube.CoreV1().Services(svc.Namespace).UpdateStatus(t.Context(), current, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// programmed checks whether node n's kube-proxy has rules for (want) or
// none for all ips, in the node's NAT tables.
func programmed(ctx context.Context, n *lab.Node, want bool, ips ...netip.Addr) error {
	for _, ip := range ips {
		save := "iptables-save"
		if ip.Is6() {
			save = "ip6tables-save"
		}
		rules, err := n.Exec(ctx, save, "-t", "nat")
		if err != nil {
			return err
		}
		if got := strings.Contains(rules, " -d "+netip.PrefixFrom(ip, ip.BitLen()).String()+" "); got != want {
			return fmt.Errorf("%s has rules for %s: %v, want %v", save, ip, got, want)
		}
	}
	return nil
}

// repoRoot is the repository root.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
