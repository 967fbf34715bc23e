package layer2

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/k8s"
)

// TestNoEndpointsNobodyAnnouncesAndSaysWhy: a Service (externalTrafficPolicy
// Cluster) whose endpoints all go away is announced by no node, as MetalLB
// does and BGP here does, and a NoEligibleNode Warning Event says why; when
// endpoints return, a node announces it again and its ServiceL2Status
// explains the election.
func TestNoEndpointsNobodyAnnouncesAndSaysWhy(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	svc := createService(t, "no-endpoints", nil)
	waitOwner(t, l, svc, "the Service has an owner", anyNode)
	if err := l.SetEndpoints(ctx, svc.Service); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, 20*time.Second, "no endpoints: nobody announces", func() error {
		statuses, err := l2Statuses(ctx, l, svc.Service)
		if err != nil {
			return err
		}
		if len(statuses) != 0 {
			return fmt.Errorf("%d ServiceL2Status objects left, the first naming %s", len(statuses), statuses[0].Status.Node)
		}
		for _, ip := range svc.IPs() {
			if tool, captured, err := layer2Answers(ctx, l, ip); err == nil || len(captured) > 0 {
				return fmt.Errorf("%s answered by %q (capture: %v)", ip, tool, captured)
			}
		}
		return nil
	})
	lab.Eventually(t, 10*time.Second, "a NoEligibleNode Event naming NoEndpoints", func() error {
		events, err := l.KubeClient().CoreV1().Events(svc.Namespace).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.name=" + svc.Name + ",reason=" + k8s.ReasonNoEligibleNode})
		if err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.UID == svc.UID && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, "NoEndpoints") {
				t.Logf("Event: %s %s: %s (from %s)", e.Type, e.Reason, e.Message, e.Source.Component)
				return nil
			}
		}
		return fmt.Errorf("%d NoEligibleNode Events: %+v", len(events.Items), events.Items)
	})

	all := make([]int, l.NodeCount())
	for i := range all {
		all[i] = i + 1
	}
	if err := l.SetEndpoints(ctx, svc.Service, all...); err != nil {
		t.Fatal(err)
	}
	waitOwner(t, l, svc, "endpoints back: the Service has an owner", anyNode)
	lab.Eventually(t, 10*time.Second, "the ServiceL2Status explains the election", func() error {
		statuses, err := l2Statuses(ctx, l, svc.Service)
		if err != nil {
			return err
		}
		if len(statuses) != 1 || statuses[0].Annotations[k8s.AnnotationL2Rule] != k8s.L2RuleSubnet {
			return fmt.Errorf("ServiceL2Status objects %+v, want one with %s=%s", statuses, k8s.AnnotationL2Rule, k8s.L2RuleSubnet)
		}
		return nil
	})
}

// The pool of TestPoolOutsideEverySubnet: no lab interface has a subnet
// holding these addresses.
var outsidePool = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: l2-outside
  namespace: %[1]s
spec:
  addresses: [172.31.99.0/28, "fd00:99::/124"]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2-outside
  namespace: %[1]s
spec:
  ipAddressPools: [l2-outside]
`, lab.IronLBNamespace)

// TestPoolOutsideEverySubnet: addresses outside every node's subnets are
// announced, as MetalLB does, by exactly one node, and its ServiceL2Status
// says the any-interface rule applied.
func TestPoolOutsideEverySubnet(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	if err := l.Apply(ctx, outsidePool); err != nil {
		t.Fatal(err)
	}
	svc := createService(t, "outside", inPool("l2-outside"))
	lab.Eventually(t, 20*time.Second, "one node answers for each address", func() error {
		owner, err := statusOwner(ctx, l, svc.Service)
		if err != nil {
			return err
		}
		for _, ip := range svc.IPs() {
			tool, captured, err := layer2Answers(ctx, l, ip)
			if err != nil {
				return err
			}
			if tool != owner || len(captured) != 1 || captured[0] != owner {
				return fmt.Errorf("%s answered by %q (capture: %v), want only %s", ip, tool, captured, owner)
			}
		}
		return nil
	})
	statuses, err := l2Statuses(ctx, l, svc.Service)
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses[0].Annotations[k8s.AnnotationL2Rule]; got != k8s.L2RuleAnyInterface {
		t.Errorf("ServiceL2Status %s=%q, want %q", k8s.AnnotationL2Rule, got, k8s.L2RuleAnyInterface)
	}
}
