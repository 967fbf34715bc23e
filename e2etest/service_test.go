package e2etest

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// node gets an IP from the real controller, and the client reaches it
// through the speakers. The lab writes the endpoints.
func TestLoadBalancerService(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	svc := lab.Shared(t).CreateService(t, lab.NewLoadBalancerService("default", "smoke"))
	if err := l.SetEndpoints(ctx, svc, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	endpointSlices, err := l.KubeClient().DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=smoke"})
	if err != nil {
		t.Fatal(err)
	}
	if len(endpointSlices.Items) != len(svc.Spec.IPFamilies) {
		t.Fatalf("%d EndpointSlices for families %v", len(endpointSlices.Items), svc.Spec.IPFamilies)
	}
	for _, s := range endpointSlices.Items {
		if len(s.Endpoints) != 3 || *s.Endpoints[0].NodeName != lab.NodeName(1) || !*s.Endpoints[2].Conditions.Ready {
			t.Errorf("EndpointSlice %s: %+v, want ready endpoints on node1..node3", s.Name, s.Endpoints)
		}
	}
	// Endpoints move like the endpointslice controller would move them.
	if err := l.SetEndpoints(ctx, svc, 2); err != nil {
		t.Fatal(err)
	}
	moved, err := l.KubeClient().DiscoveryV1().EndpointSlices("default").Get(ctx, "smoke-lab-ipv4", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(moved.Endpoints) != 1 || *moved.Endpoints[0].NodeName != lab.NodeName(2) {
		t.Errorf("after SetEndpoints(node2): %+v", moved.Endpoints)
	}
	if err := l.SetEndpoints(ctx, svc, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if len(l.CRDs()) == 0 {
		t.Fatal("manifests/crds installed no CRD")
	}
	if err := l.Apply(ctx, l2Pool); err != nil {
		t.Fatal(err)
	}
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
