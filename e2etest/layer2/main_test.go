// Package layer2 proves ironlb's layer 2 mode in the lab: for IPv4 and IPv6,
// exactly one node answers ARP / neighbor discovery for each Service IP, the
// traffic reaches that node, ownership fails over when its speaker dies or
// leaves and comes back when it returns, and the election honours
// externalTrafficPolicy Local, L2Advertisement node selectors and the
// exclude-from-external-load-balancers label, announces nothing without a
// usable endpoint (and says why in an Event) and answers for a pool outside
// every node subnet as MetalLB does. Benchmarks measure failover and
// announce latency as a client on the segment sees them.
package layer2

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/annotations"
	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/speaker"
)

// The package runs ironlb as users do: manifests/metallb-native.yaml on the
// lab's kubelets (pods mode); stopping a speaker deletes its pod, crashing
// it kills its container.
func TestMain(m *testing.M) { os.Exit(lab.Main(m, lab.Options{Pods: true})) }

// selectLabel is the node label that the l2-selected advertisement's
// nodeSelectors require.
const selectLabel = "l2e2e.ironlb.io/announce"

// Pools of the scenarios: l2-default is announced from every node on every
// interface; l2-selected (by annotation only) from the nodes labelled
// selectLabel=true, on eth0.
var (
	defaultPool4  = "172.30.0.200-172.30.0.229"
	defaultPool6  = "fd00:30::200-fd00:30::229"
	selectedPool4 = "172.30.0.230-172.30.0.250"
	selectedPool6 = "fd00:30::230-fd00:30::250"
	poolIPs       = lab.L2PoolIPv4
)

var l2Config = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: l2-default
  namespace: %[1]s
spec:
  addresses: [%[2]s, %[3]s]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2-default
  namespace: %[1]s
spec:
  ipAddressPools: [l2-default]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: l2-selected
  namespace: %[1]s
spec:
  addresses: [%[4]s, %[5]s]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2-selected
  namespace: %[1]s
spec:
  ipAddressPools: [l2-selected]
  interfaces: [%[6]s]
  nodeSelectors:
  - matchLabels:
      %[7]s: "true"
`, lab.IronLBNamespace, defaultPool4, defaultPool6, selectedPool4, selectedPool6, lab.HostInterface, selectLabel)

// configured is set once l2Config is applied to the package's lab.
var configured bool

// setup returns the shared lab with the scenarios' pools and advertisements.
func setup(tb testing.TB) *lab.Lab {
	tb.Helper()
	l := lab.Shared(tb)
	if !configured {
		// The webhook (through its Service) may answer a moment after the
		// controller is Ready.
		lab.Eventually(tb, time.Minute, "the layer 2 pools are applied through the webhook", func() error {
			return l.Apply(context.Background(), l2Config)
		})
		configured = true
	}
	return l
}

// service is a LoadBalancer Service under test with its assigned IPs.
type service struct {
	*corev1.Service
	IPv4, IPv6 netip.Addr
}

// IPs are the Service's addresses, IPv4 first.
func (s service) IPs() []netip.Addr { return []netip.Addr{s.IPv4, s.IPv6} }

// createService creates a dual-stack LoadBalancer Service named name (after
// edit, if any), with ready endpoints on every node, and waits for both its
// IPs. It is deleted when the test ends.
func createService(tb testing.TB, name string, edit func(*corev1.Service)) service {
	tb.Helper()
	l := setup(tb)
	svc := lab.NewLoadBalancerService("default", name)
	if edit != nil {
		edit(svc)
	}
	created := l.CreateService(tb, svc)
	nodes := make([]int, l.NodeCount())
	for i := range nodes {
		nodes[i] = i + 1
	}
	if err := l.SetEndpoints(context.Background(), created, nodes...); err != nil {
		tb.Fatal(err)
	}
	out := service{Service: created}
	lab.Eventually(tb, 30*time.Second, "Service "+name+" gets an IPv4 and an IPv6 address", func() error {
		current, err := l.KubeClient().CoreV1().Services(svc.Namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		out.Service = current
		out.IPv4, out.IPv6 = ingressIPs(current)
		if !out.IPv4.IsValid() || !out.IPv6.IsValid() {
			return fmt.Errorf("status %+v", current.Status.LoadBalancer)
		}
		return nil
	})
	return out
}

// inPool places a Service in the l2-selected pool.
func inPool(pool string) func(*corev1.Service) {
	return func(svc *corev1.Service) {
		svc.Annotations = map[string]string{annotations.AddressPool: pool}
	}
}

// ingressIPs returns a Service's first IPv4 and IPv6 ingress addresses.
func ingressIPs(svc *corev1.Service) (ipv4, ipv6 netip.Addr) {
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		ip, err := netip.ParseAddr(ing.IP)
		switch {
		case err != nil:
		case ip.Is4() && !ipv4.IsValid():
			ipv4 = ip
		case ip.Is6() && !ipv6.IsValid():
			ipv6 = ip
		}
	}
	return ipv4, ipv6
}

var l2StatusResource = schema.GroupVersionResource{Group: v1beta1.GroupVersion.Group, Version: v1beta1.GroupVersion.Version, Resource: "servicel2statuses"}

// l2Statuses returns the ServiceL2Status objects of a Service.
func l2Statuses(ctx context.Context, l *lab.Lab, svc *corev1.Service) ([]v1beta1.ServiceL2Status, error) {
	list, err := l.Dynamic().Resource(l2StatusResource).Namespace(lab.IronLBNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: speaker.LabelServiceName + "=" + svc.Name + "," + speaker.LabelServiceNamespace + "=" + svc.Namespace})
	if err != nil {
		return nil, err
	}
	out := make([]v1beta1.ServiceL2Status, len(list.Items))
	for i, item := range list.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// statusOwner returns the node that the Service's only ServiceL2Status
// names, or an error when there is not exactly one.
func statusOwner(ctx context.Context, l *lab.Lab, svc *corev1.Service) (string, error) {
	statuses, err := l2Statuses(ctx, l, svc)
	if err != nil {
		return "", err
	}
	if len(statuses) != 1 {
		var nodes []string
		for _, s := range statuses {
			nodes = append(nodes, s.Status.Node)
		}
		return "", fmt.Errorf("%d ServiceL2Status objects for %s/%s (nodes %v), want 1", len(statuses), svc.Namespace, svc.Name, nodes)
	}
	return statuses[0].Status.Node, nil
}

// nodeIndex returns the index of the node named name.
func nodeIndex(tb testing.TB, l *lab.Lab, name string) int {
	tb.Helper()
	for _, n := range l.Nodes() {
		if n.Name == name {
			return n.Index
		}
	}
	tb.Fatalf("%q is not a lab node", name)
	return 0
}

// nodeOfMAC names the lab node with MAC address mac, or returns the address
// itself for a stranger.
func nodeOfMAC(l *lab.Lab, mac net.HardwareAddr) string {
	for _, n := range l.Nodes() {
		if own, err := n.MAC(); err == nil && own.String() == mac.String() {
			return n.Name
		}
	}
	return mac.String()
}

// layer2Answers asks for ip once from the client (arping for IPv4, ndisc6
// for IPv6) while capturing there, and returns the node the tool reports and
// every node whose answer or announcement for ip the capture saw, sorted.
func layer2Answers(ctx context.Context, l *lab.Lab, ip netip.Addr) (tool string, captured []string, err error) {
	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		return "", nil, err
	}
	defer capture.Close()
	var mac net.HardwareAddr
	if ip.Is4() {
		mac, err = l.Client().Arping(ctx, ip)
	} else {
		mac, err = l.Client().Ndisc(ctx, ip)
	}
	if err != nil {
		return "", nil, err
	}
	// A second responder would answer within a millisecond; allow for a
	// loaded machine.
	time.Sleep(100 * time.Millisecond)
	for _, f := range capture.Frames() {
		if f.Announces(ip) {
			if node := nodeOfMAC(l, f.Source); !slices.Contains(captured, node) {
				captured = append(captured, node)
			}
		}
	}
	slices.Sort(captured)
	return nodeOfMAC(l, mac), captured, nil
}

// checkOwner checks that node owns the Service at every level: it is the
// only one in the ServiceL2Status objects, the only one answering ARP and NDP
// for the Service's IPs, and the client's HTTP requests are answered (with
// externalTrafficPolicy Local, by node's backend).
func checkOwner(ctx context.Context, l *lab.Lab, svc service, node string) error {
	owner, err := statusOwner(ctx, l, svc.Service)
	if err != nil {
		return err
	}
	if owner != node {
		return fmt.Errorf("ServiceL2Status names %s, want %s", owner, node)
	}
	for _, ip := range svc.IPs() {
		tool, captured, err := layer2Answers(ctx, l, ip)
		if err != nil {
			return err
		}
		if tool != node || !slices.Equal(captured, []string{node}) {
			return fmt.Errorf("%s: answered by %s, capture saw answers from %v; want only %s", ip, tool, captured, node)
		}
		got, err := l.Client().Curl(ctx, ip)
		if err != nil {
			return err
		}
		// With externalTrafficPolicy Cluster the owner's kube-proxy spreads
		// requests over every node's backend; with Local it keeps them.
		local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
		if local && got != node || !local && !slices.ContainsFunc(l.Nodes(), func(n *lab.Node) bool { return n.Name == got }) {
			return fmt.Errorf("GET http://%s/ answered by %s, want %s (externalTrafficPolicy %s)", ip, got, node, svc.Spec.ExternalTrafficPolicy)
		}
	}
	return nil
}

// waitOwner waits until the Service has exactly one owner at every level
// (see checkOwner) for which want is true, and returns it.
func waitOwner(tb testing.TB, l *lab.Lab, svc service, what string, want func(node string) bool) string {
	tb.Helper()
	return waitOwnerWithin(tb, l, svc, what, want, 20*time.Second)
}

// waitOwnerWithin is waitOwner with another bound than 20 s.
func waitOwnerWithin(tb testing.TB, l *lab.Lab, svc service, what string, want func(node string) bool, timeout time.Duration) string {
	tb.Helper()
	ctx := context.Background()
	var node string
	lab.Eventually(tb, timeout, what, func() error {
		var err error
		if node, err = statusOwner(ctx, l, svc.Service); err != nil {
			return err
		}
		if !want(node) {
			return fmt.Errorf("owner is %s", node)
		}
		return checkOwner(ctx, l, svc, node)
	})
	return node
}

// anyNode accepts every owner.
func anyNode(string) bool { return true }

// is accepts only node.
func is(node string) func(string) bool { return func(n string) bool { return n == node } }

// isNot accepts any owner but node.
func isNot(node string) func(string) bool { return func(n string) bool { return n != node } }

// restartSpeaker starts node i's speaker again when the test ends, if it is
// not running then.
func restartSpeaker(tb testing.TB, l *lab.Lab, i int) {
	tb.Cleanup(func() {
		if !l.SpeakerRunning(context.Background(), i) {
			if err := l.StartSpeaker(i); err != nil {
				tb.Error(err)
			}
			waitMembers(tb, l)
		}
	})
}

// waitMembers waits until every speaker runs and sees all of them as live
// members.
func waitMembers(tb testing.TB, l *lab.Lab) {
	tb.Helper()
	lab.Eventually(tb, 30*time.Second, "every speaker sees every other", func() error { return l.EverySpeakerSeesAll(context.Background()) })
}
