package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WaitServiceIP waits up to timeout for Service namespace/name's first
// ingress IP.
func (l *Lab) WaitServiceIP(ctx context.Context, namespace, name string, timeout time.Duration) (netip.Addr, error) {
	deadline := time.Now().Add(timeout)
	for {
		svc, err := l.kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil && len(svc.Status.LoadBalancer.Ingress) > 0 {
			return netip.ParseAddr(svc.Status.LoadBalancer.Ingress[0].IP)
		}
		if time.Now().After(deadline) {
			return netip.Addr{}, fmt.Errorf("service %s/%s got no IP within %s: %v", namespace, name, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitAnswer polls ip over HTTP from h every 100 ms until it answers or
// timeout passes.
func (h *Host) WaitAnswer(ctx context.Context, ip netip.Addr, timeout time.Duration) error {
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err = h.Curl(ctx, ip); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s: no answer on %s within %s: %v", h.Name, ip, timeout, err)
}

// WaitNoIronLBPods waits up to timeout until no pod is left in ironlb's
// namespace.
func (l *Lab) WaitNoIronLBPods(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pods, err := l.kube.CoreV1().Pods(IronLBNamespace).List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pods of %s not gone after %s: %v", IronLBNamespace, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitIronLBGone waits up to timeout until ironlb's namespace and the
// metallb.io CRDs are gone (an uninstall finished).
func (l *Lab) WaitIronLBGone(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := l.kube.CoreV1().Namespaces().Get(ctx, IronLBNamespace, metav1.GetOptions{})
		out, crdErr := l.Kubectl(ctx, "", "get", "crd", "-o", "name")
		if apierrors.IsNotFound(err) && crdErr == nil && !strings.Contains(out, "metallb.io") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s or metallb.io CRDs still there after %s: %v; %s", IronLBNamespace, timeout, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
