package e2etest

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// l2Pool is the layer-2 configuration of MetalLB's documentation (seed
// 003's shape) over the lab's L2 pool.
var l2Pool = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
  namespace: %[1]s
spec:
  addresses:
  - %[2]s
  - %[3]s
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: ip-advertisement
  namespace: %[1]s
spec:
  ipAddressPools:
  - first-pool
`, lab.IronLBNamespace, lab.L2PoolIPv4, lab.L2PoolIPv6)

// TestLoadBalancerService: a LoadBalancer Service with endpoints on every
// node (the lab's hostNetwork backend pods; EndpointSlices from
// kube-controller-manager) gets an IP from the installed controller, and
// the client reaches it through the speakers.
func TestLoadBalancerService(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	svc := l.CreateService(t, lab.NewLoadBalancerService("default", "smoke"))
	every := []string{lab.NodeName(1), lab.NodeName(2), lab.NodeName(3)}
	if err := l.SetEndpoints(ctx, svc, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	checkEndpoints(t, l, svc, every)
	// Endpoints move when the backends do.
	if err := l.SetEndpoints(ctx, svc, 2); err != nil {
		t.Fatal(err)
	}
	checkEndpoints(t, l, svc, []string{lab.NodeName(2)})
	if err := l.SetEndpoints(ctx, svc, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	// The webhook (through its Service) may answer a moment after the
	// controller is Ready.
	lab.Eventually(t, time.Minute, "the pool is applied through the webhook", func() error {
		return l.Apply(ctx, l2Pool)
	})
	var ip netip.Addr
	lab.Eventually(t, 30*time.Second, "the controller assigns an IP", func() error {
		current, err := l.KubeClient().CoreV1().Services("default").Get(ctx, "smoke", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, ingress := range current.Status.LoadBalancer.Ingress {
			if addr, err := netip.ParseAddr(ingress.IP); err == nil && addr.Is4() {
				ip = addr
				return nil
			}
		}
		return fmt.Errorf("status %+v", current.Status.LoadBalancer)
	})
	if !lab.L2PoolIPv4.Contains(ip) {
		t.Errorf("assigned %s, outside the pool %s", ip, lab.L2PoolIPv4)
	}
	lab.Eventually(t, 30*time.Second, "the client reaches "+ip.String(), func() error {
		node, err := l.Client().Curl(ctx, ip)
		if err != nil {
			return err
		}
		if !slicesContainsNode(l, node) {
			return fmt.Errorf("answered %q, not a node", node)
		}
		t.Logf("%s answered by %s", ip, node)
		return nil
	})
}

// slicesContainsNode reports whether name is one of the lab's nodes.
func slicesContainsNode(l *lab.Lab, name string) bool {
	return slices.ContainsFunc(l.Nodes(), func(n *lab.Node) bool { return n.Name == name })
}

// checkEndpoints checks that the Service has one EndpointSlice per IP
// family, each with ready endpoints on exactly nodes.
func checkEndpoints(t *testing.T, l *lab.Lab, svc *corev1.Service, nodes []string) {
	t.Helper()
	list, err := l.KubeClient().DiscoveryV1().EndpointSlices(svc.Namespace).List(t.Context(), metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
	if err != nil {
		t.Fatal(err)
	}
	var families []string
	for _, s := range list.Items {
		families = append(families, string(s.AddressType))
		var ready []string
		for _, ep := range s.Endpoints {
			if ep.NodeName != nil && ptr.Deref(ep.Conditions.Ready, false) {
				ready = append(ready, *ep.NodeName)
			}
		}
		slices.Sort(ready)
		if !slices.Equal(ready, nodes) {
			t.Errorf("EndpointSlice %s (%s): ready endpoints on %v, want %v", s.Name, s.AddressType, ready, nodes)
		}
	}
	slices.Sort(families)
	if want := []string{string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6)}; !slices.Equal(families, want) {
		t.Errorf("EndpointSlices of %s/%s for %v, want one for each of %v", svc.Namespace, svc.Name, families, want)
	}
}
