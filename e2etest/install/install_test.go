package install

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// l2Config is a layer 2 pool on the lab segment and its advertisement; the
// webhook (through its Service) admits it.
var l2Config = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: install, namespace: %[1]s}
spec:
  addresses: [%[2]s]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: install, namespace: %[1]s}
spec:
  ipAddressPools: [install]
`, lab.IronLBNamespace, lab.L2PoolIPv4)

// installed is what one install measured.
type installed struct {
	ready, firstAnswer time.Duration
	ip                 netip.Addr
	answeredBy         string
}

// installAndServe applies the manifest, waits for ironlb's pods to be Ready,
// configures a layer 2 pool and exposes backend pods (one per node) through
// a LoadBalancer Service (externalTrafficPolicy policy), until the client
// gets an answer through the Service's IP. Durations count from the apply.
func installAndServe(ctx context.Context, l *lab.Lab, name string, policy corev1.ServiceExternalTrafficPolicy) (installed, error) {
	var got installed
	start := time.Now()
	if err := l.Install(ctx); err != nil {
		return got, err
	}
	if err := l.WaitIronLBReady(ctx, 3*time.Minute); err != nil {
		return got, fmt.Errorf("ironlb not ready: %w", err)
	}
	got.ready = time.Since(start)
	if err := l.DeployBackends(ctx, "default", name); err != nil {
		return got, err
	}
	// The webhook's Service may lag the controller's readiness by a moment.
	var applyErr error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if applyErr = l.Apply(ctx, l2Config); applyErr == nil {
			break
		}
	}
	if applyErr != nil {
		return got, fmt.Errorf("apply pool through the webhook: %w", applyErr)
	}
	svc := lab.NewLoadBalancerService("default", name)
	svc.Spec.ExternalTrafficPolicy = policy
	svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	if _, err := l.KubeClient().CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return got, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		current, err := l.KubeClient().CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && len(current.Status.LoadBalancer.Ingress) > 0 {
			got.ip, _ = netip.ParseAddr(current.Status.LoadBalancer.Ingress[0].IP)
			if got.answeredBy, err = l.Client().Curl(ctx, got.ip); err == nil {
				got.firstAnswer = time.Since(start)
				return got, nil
			}
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("Service %s not answered through its IP %v within 2m: %v", name, got.ip, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// uninstall removes what installAndServe created and waits until the
// namespace and the CustomResourceDefinitions are gone, so the next install
// starts from nothing.
func uninstall(ctx context.Context, l *lab.Lab, name string) error {
	kube := l.KubeClient()
	kube.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{})
	kube.AppsV1().DaemonSets("default").Delete(ctx, name, metav1.DeleteOptions{})
	// ironlb's pods first, while their Roles still exist: a speaker's
	// graceful stop deletes its node's status objects, which `kubectl delete
	// -f` at once would refuse (403, Role already gone) and the audit check
	// would count.
	if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "delete", "--wait=true", "--timeout=2m",
		"daemonset/speaker", "deployment/controller"); err != nil {
		return err
	}
	if err := l.WaitNoIronLBPods(ctx, 2*time.Minute); err != nil {
		return err
	}
	if _, err := l.Kubectl(ctx, "", "delete", "--wait=false", "--ignore-not-found", "-f", l.ManifestPath("metallb-native.yaml")); err != nil {
		return err
	}
	return l.WaitIronLBGone(ctx, 3*time.Minute)
}

// TestInstall: the manifest installs as is on real nodes with RBAC
// enforced; the controller and every speaker become Ready by their own
// probes, the controller creates the memberlist Secret, the webhook admits a
// pool through its Service, a LoadBalancer Service gets an IP that the
// client reaches backend pods through (kube-proxy), and no request of an
// ironlb service account was refused.
func TestInstall(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	got, err := installAndServe(ctx, l, "web", corev1.ServiceExternalTrafficPolicyCluster)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := uninstall(context.Background(), l, "web"); err != nil {
			t.Error(err)
		}
	})
	t.Logf("ready after %s, first answer (%s from %s) after %s", got.ready.Round(100*time.Millisecond),
		got.ip, got.answeredBy, got.firstAnswer.Round(100*time.Millisecond))
	if !lab.L2PoolIPv4.Contains(got.ip) {
		t.Errorf("Service IP %s outside the pool %s", got.ip, lab.L2PoolIPv4)
	}
	var nodes []string
	for i := 1; i <= l.NodeCount(); i++ {
		nodes = append(nodes, lab.NodeName(i))
	}
	if !slices.Contains(nodes, got.answeredBy) {
		t.Errorf("answer %q is not a node's name %v", got.answeredBy, nodes)
	}
	endpointSlices, err := l.KubeClient().DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range endpointSlices.Items {
		if s.Labels["endpointslice.kubernetes.io/managed-by"] != "endpointslice-controller.k8s.io" {
			t.Errorf("EndpointSlice %s managed by %q, want the endpointslice controller", s.Name, s.Labels["endpointslice.kubernetes.io/managed-by"])
		}
	}
	if len(endpointSlices.Items) == 0 {
		t.Error("no EndpointSlice for Service web")
	}
	forbidden, audited, err := l.ForbiddenRequests()
	if err != nil {
		t.Fatal(err)
	}
	if audited == 0 {
		t.Error("the audit log holds no request of ironlb's service accounts: the 403 check would see nothing")
	}
	for _, e := range forbidden {
		t.Errorf("refused: %s", e)
	}
}

// TestSpeakerContainerKilled: killing a speaker's container (as a crash on
// a node would) gets it restarted by its kubelet and Ready again.
func TestSpeakerContainerKilled(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	if _, err := installAndServe(ctx, l, "crash", corev1.ServiceExternalTrafficPolicyCluster); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := uninstall(context.Background(), l, "crash"); err != nil {
			t.Error(err)
		}
	})
	restarts, err := speakerRestarts(ctx, l, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.KillSpeakerContainer(ctx, 2); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, 2*time.Minute, "speaker on node2 restarted and Ready", func() error {
		return speakerRestarted(ctx, l, 2, restarts)
	})
}

// speakerRestarts is the restart count of node i's speaker container.
func speakerRestarts(ctx context.Context, l *lab.Lab, i int) (int32, error) {
	pod, err := l.SpeakerPod(ctx, i)
	if err != nil {
		return 0, err
	}
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == "speaker" {
			return s.RestartCount, nil
		}
	}
	return 0, fmt.Errorf("speaker pod %s has no speaker container status", pod.Name)
}

// speakerRestarted is nil once node i's speaker container has restarted
// since it had before restarts and is Ready.
func speakerRestarted(ctx context.Context, l *lab.Lab, i int, before int32) error {
	pod, err := l.SpeakerPod(ctx, i)
	if err != nil {
		return err
	}
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == "speaker" && s.RestartCount > before && s.Ready {
			return nil
		}
	}
	return fmt.Errorf("speaker pod %s: %+v", pod.Name, pod.Status.ContainerStatuses)
}
