// Package speaker measures the speaker-side faults of issue 16 in the lab,
// with ironlb installed as pods: a configuration refused during a speaker
// rollout, port 7946 blocked on one node for 30 s and healed (on a
// non-owner and on the owner), and the owner's speaker frozen with SIGSTOP.
// The figures go to docs/reliability.md.
package speaker

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

	"github.com/ironlb/ironlb/e2etest/lab"
)

func TestMain(m *testing.M) { os.Exit(lab.Main(m, lab.Options{Pods: true})) }

// pool is the scenarios' layer 2 pool, IPv4 only: the faults act on ARP.
const pool = "172.30.0.200-172.30.0.229"

var l2Config = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: faults, namespace: %[1]s}
spec:
  addresses: [%[2]s]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: faults, namespace: %[1]s}
spec:
  ipAddressPools: [faults]
`, lab.IronLBNamespace, pool)

// configured is set once l2Config is applied to the package's lab.
var configured bool

// setup returns the shared lab with the layer 2 pool.
func setup(tb testing.TB) *lab.Lab {
	tb.Helper()
	l := lab.Shared(tb)
	if !configured {
		lab.Eventually(tb, time.Minute, "the layer 2 pool is applied through the webhook", func() error {
			return l.Apply(context.Background(), l2Config)
		})
		configured = true
	}
	return l
}

// createService creates an IPv4 LoadBalancer Service with ready endpoints
// on every node and returns its address once it has one. It is deleted when
// the test ends.
func createService(tb testing.TB, l *lab.Lab, name string) netip.Addr {
	tb.Helper()
	ctx := context.Background()
	svc := lab.NewLoadBalancerService("default", name)
	single := corev1.IPFamilyPolicySingleStack
	svc.Spec.IPFamilyPolicy = &single
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	created := l.CreateService(tb, svc)
	nodes := make([]int, l.NodeCount())
	for i := range nodes {
		nodes[i] = i + 1
	}
	if err := l.SetEndpoints(ctx, created, nodes...); err != nil {
		tb.Fatal(err)
	}
	var ip netip.Addr
	lab.Eventually(tb, 30*time.Second, "Service "+name+" gets an address", func() error {
		current, err := l.KubeClient().CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, ing := range current.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(ing.IP); err == nil && a.Is4() {
				ip = a
				return nil
			}
		}
		return fmt.Errorf("status %+v", current.Status.LoadBalancer)
	})
	return ip
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

// waitSingleAnswerer waits until exactly one node answers ARP for ip, seen
// from the client, and returns it.
func waitSingleAnswerer(tb testing.TB, l *lab.Lab, ip netip.Addr) string {
	tb.Helper()
	var owner string
	lab.Eventually(tb, 30*time.Second, ip.String()+" is answered by one node", func() error {
		answerers, err := arpAnswerers(context.Background(), l, ip)
		if err != nil {
			return err
		}
		if len(answerers) != 1 {
			return fmt.Errorf("answered by %v", answerers)
		}
		owner = answerers[0]
		return nil
	})
	return owner
}

// arpAnswerers sends one ARP request for ip from the client and returns
// every node whose reply the client received, sorted.
func arpAnswerers(ctx context.Context, l *lab.Lab, ip netip.Addr) ([]string, error) {
	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		return nil, err
	}
	defer capture.Close()
	if _, err := l.Client().Arping(ctx, ip); err != nil {
		return nil, err
	}
	time.Sleep(100 * time.Millisecond) // a second reply comes within a millisecond; allow for a loaded machine
	var out []string
	for _, f := range capture.Frames() {
		if f.Kind == lab.ARPReply && f.IP == ip {
			if node := nodeOfMAC(l, f.Source); !slices.Contains(out, node) {
				out = append(out, node)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// waitMembers waits until every speaker sees every other.
func waitMembers(tb testing.TB, l *lab.Lab) {
	tb.Helper()
	lab.Eventually(tb, time.Minute, "every speaker sees every other", func() error { return l.EverySpeakerSeesAll(context.Background()) })
}
