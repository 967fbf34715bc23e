// Package operations holds the lab scenarios of ironlb's operations: the
// validating webhook called by the real API server (with certificates the
// controller issues and rotates), a refused configuration surfacing as
// ConfigurationState conditions and Events, the metrics of the running
// processes, a Debian Prometheus server scraping them and firing ironlb's
// alerts, and `controller status`.
package operations

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// webhookLifetime is the lifetime of the webhook certificates in this lab:
// short enough that TestWebhookCertificateRotation sees two rotations.
const webhookLifetime = "30s"

// The package runs ironlb as users do (pods mode): the manifest applied
// unchanged, the API server calling the webhook through its Service, and
// the controller Deployment's args extended with a short certificate
// lifetime. A full run must use every verb the manifest grants, but those
// declared rare (docs/reliability.md, least privilege).
func TestMain(m *testing.M) {
	os.Exit(lab.Main(m, lab.Options{
		Pods:              true,
		ControllerArgs:    []string{"--webhook-cert-lifetime", webhookLifetime},
		RequireGrantsUsed: true,
	}))
}

// setup returns the lab once the webhook answers the API server.
func setup(t *testing.T) *lab.Lab {
	t.Helper()
	l := lab.Shared(t)
	if err := l.WaitWebhook(t.Context(), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	return l
}

// applyConfig applies YAML documents of metallb.io objects (and Secrets) and
// deletes them when the test ends, last document first, so that
// advertisements go before the pools they name (the webhook refuses the
// other order).
func applyConfig(t *testing.T, l *lab.Lab, docs ...string) {
	t.Helper()
	ctx := t.Context()
	if _, err := l.Kubectl(ctx, strings.Join(docs, "\n---\n"), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := len(docs) - 1; i >= 0; i-- {
			if _, err := l.Kubectl(context.Background(), docs[i], "delete", "--ignore-not-found", "-f", "-"); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

// l2Pool is an IPAddressPool of addresses with an L2Advertisement.
func l2Pool(name string, addresses ...string) []string {
	return []string{
		fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: %s, namespace: metallb-system}
spec:
  addresses: [%s]
  autoAssign: false
`, name, strings.Join(addresses, ", ")),
		fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: %s, namespace: metallb-system}
spec:
  ipAddressPools: [%s]
`, name, name),
	}
}

// ipv4Service is an IPv4 LoadBalancer Service asking for pool, with ready
// endpoints on every node.
func ipv4Service(t *testing.T, l *lab.Lab, name, pool string) *corev1.Service {
	t.Helper()
	svc := lab.NewLoadBalancerService("default", name)
	svc.Annotations = map[string]string{"metallb.io/address-pool": pool}
	svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	created := l.CreateService(t, svc)
	nodes := make([]int, l.NodeCount())
	for i := range nodes {
		nodes[i] = i + 1
	}
	if err := l.SetEndpoints(t.Context(), created, nodes...); err != nil {
		t.Fatal(err)
	}
	return created
}

// waitIP waits for the Service to get an address and returns it.
func waitIP(t *testing.T, l *lab.Lab, svc *corev1.Service) netip.Addr {
	t.Helper()
	var ip netip.Addr
	lab.Eventually(t, 30*time.Second, "Service "+svc.Name+" gets an IP", func() error {
		current, err := l.KubeClient().CoreV1().Services(svc.Namespace).Get(t.Context(), svc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, ingress := range current.Status.LoadBalancer.Ingress {
			if addr, err := netip.ParseAddr(ingress.IP); err == nil {
				ip = addr
				return nil
			}
		}
		return fmt.Errorf("no ingress IP yet")
	})
	return ip
}
