package helm

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// release is the Helm release name the scenarios install.
const release = "ironlb"

// l2Config is the user's configuration: a layer 2 pool on the lab segment
// and its advertisement, admitted by the webhook through its Service.
var l2Config = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: helm, namespace: %[1]s}
spec:
  addresses: [%[2]s]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: helm, namespace: %[1]s}
spec:
  ipAddressPools: [helm]
`, lab.IronLBNamespace, lab.L2PoolIPv4)

// createNamespace creates the release's namespace as docs/helm.md tells
// users to: privileged pod security, since speakers use the host network.
func createNamespace(ctx context.Context, l *lab.Lab) error {
	if _, err := l.Kubectl(ctx, "", "create", "namespace", lab.IronLBNamespace); err != nil {
		return err
	}
	_, err := l.Kubectl(ctx, "", "label", "namespace", lab.IronLBNamespace, "pod-security.kubernetes.io/enforce=privileged",
		"pod-security.kubernetes.io/audit=privileged", "pod-security.kubernetes.io/warn=privileged")
	return err
}

// serve deploys backend pods (one per node), applies the layer 2
// configuration and a LoadBalancer Service named name, and waits until the
// client gets an answer through the Service's IP, which it returns.
func serve(ctx context.Context, l *lab.Lab, name string) (netip.Addr, error) {
	if err := l.DeployBackends(ctx, "default", name); err != nil {
		return netip.Addr{}, err
	}
	// The webhook's Service may lag the controller's readiness by a moment.
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if err = l.Apply(ctx, l2Config); err == nil {
			break
		}
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("apply the pool through the webhook: %w", err)
	}
	svc := lab.NewLoadBalancerService("default", name)
	svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	if _, err := l.KubeClient().CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return netip.Addr{}, err
	}
	ip, err := l.WaitServiceIP(ctx, "default", name, 2*time.Minute)
	if err != nil {
		return ip, err
	}
	return ip, l.Client().WaitAnswer(ctx, ip, 2*time.Minute)
}

// load sends a request to a VIP from the client every 30 ms (500 ms
// timeout each), as the install suite's rolling-restart measurement does,
// until stopped.
type load struct {
	sent     int
	failures []string
}

// start runs the load in the background; the returned function stops it.
func (ld *load) start(l *lab.Lab, ip netip.Addr) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			begin := time.Now()
			probe, done := context.WithTimeout(ctx, 500*time.Millisecond)
			_, err := l.Client().Curl(probe, ip)
			done()
			if ctx.Err() != nil {
				return
			}
			ld.sent++
			if err != nil {
				ld.failures = append(ld.failures, begin.UTC().Format("15:04:05.000")+" "+err.Error())
			}
			time.Sleep(30*time.Millisecond - time.Since(begin))
		}
	})
	return func() { cancel(); wg.Wait() }
}

// speakerPods returns the speaker pods by name, with their image.
func speakerPods(ctx context.Context, l *lab.Lab) (map[string]string, error) {
	pods, err := l.KubeClient().CoreV1().Pods(lab.IronLBNamespace).List(ctx, metav1.ListOptions{LabelSelector: "component=speaker"})
	if err != nil {
		return nil, err
	}
	images := map[string]string{}
	for _, p := range pods.Items {
		images[p.Name] = p.Spec.Containers[0].Image
	}
	return images, nil
}

// removeAll deletes what a scenario left: its Service and backends, the
// release, the namespace and the CRDs, and waits until the namespace and
// the CRDs are gone, so the next scenario starts from nothing.
func removeAll(ctx context.Context, l *lab.Lab, name string) error {
	kube := l.KubeClient()
	kube.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{})
	kube.AppsV1().DaemonSets("default").Delete(ctx, name, metav1.DeleteOptions{})
	// The chart's pre-delete hook stops the pods first (docs/helm.md, Uninstall).
	if out, err := l.Helm(ctx, "", "uninstall", release, "--namespace", lab.IronLBNamespace, "--wait", "--ignore-not-found"); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	// A plain-manifest install that was never adopted: its pods first,
	// while their RBAC exists.
	if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "delete", "--ignore-not-found", "--wait=true", "--timeout=2m",
		"daemonset/speaker", "deployment/controller"); err != nil {
		return err
	}
	if err := l.WaitNoIronLBPods(ctx, 2*time.Minute); err != nil {
		return err
	}
	if _, err := l.Kubectl(ctx, "", "delete", "--ignore-not-found", "--wait=true", "--timeout=2m", "-f", l.ManifestPath("metallb-native.yaml")); err != nil {
		return err
	}
	if _, err := l.Kubectl(ctx, "", "delete", "--ignore-not-found", "--wait=false", "-f", l.ManifestPath("crds")); err != nil {
		return err
	}
	return l.WaitIronLBGone(ctx, 3*time.Minute)
}
