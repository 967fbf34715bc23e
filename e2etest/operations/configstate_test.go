package operations

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go4.org/netipx"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/configstate"
	"github.com/ironlb/ironlb/internal/k8s"
)

// peerWithSecret is a BGPPeer whose password is in Secret ops-peer-password;
// it selects no node, so no session is opened.
const (
	peerSecret = `apiVersion: v1
kind: Secret
metadata: {name: ops-peer-password, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {password: s3cret}
`
	peerWithSecret = `apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ops-peer, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64500
  peerAddress: 192.0.2.1
  passwordSecret: {name: ops-peer-password, namespace: metallb-system}
  nodeSelectors:
  - matchLabels: {lab.ironlb.io/node: none}
`
	missingSecretMessage = `BGPPeer metallb-system/ops-peer: spec.passwordSecret: Secret metallb-system/ops-peer-password not found`
)

// TestRefusedConfigurationSurfaces: deleting the Secret a BGPPeer needs
// (Secrets are not checked at admission) makes the configuration invalid.
// The controller and every speaker report it in their ConfigurationState
// (result Invalid, the error, Stale=True), the controller writes a Warning
// Event on the BGPPeer, config_stale_bool turns 1, `controller status` notes
// it, and the controller keeps serving the last valid configuration: a new
// Service still gets an address.
// Restoring the Secret makes everything valid again.
func TestRefusedConfigurationSurfaces(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	clients, err := k8s.NewClients(l.Kubeconfig(), "ops-e2e")
	if err != nil {
		t.Fatal(err)
	}
	applyConfig(t, l, append(l2Pool("ops-state", "172.30.0.230-172.30.0.233"), peerSecret, peerWithSecret)...)
	components := []string{configstate.ControllerName}
	for i := 1; i <= l.NodeCount(); i++ {
		components = append(components, configstate.SpeakerName(lab.NodeName(i)))
	}
	waitStates(t, clients, components, v1beta1.ConfigurationValid, "")
	waitStale(t, l, 0)

	secrets := l.KubeClient().CoreV1().Secrets(lab.IronLBNamespace)
	if err := secrets.Delete(ctx, "ops-peer-password", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	restored := false
	t.Cleanup(func() {
		if !restored { // the BGPPeer cannot be deleted while it is refused
			l.Kubectl(context.Background(), peerSecret, "apply", "-f", "-")
		}
	})
	waitStates(t, clients, components, v1beta1.ConfigurationInvalid, missingSecretMessage)
	waitStale(t, l, 1)

	lab.Eventually(t, 30*time.Second, "a Warning Event on the BGPPeer", func() error {
		selector := fields.Set{"involvedObject.kind": "BGPPeer", "involvedObject.name": "ops-peer", "reason": configstate.ReasonInvalidConfiguration}
		events, err := l.KubeClient().CoreV1().Events(lab.IronLBNamespace).List(ctx, metav1.ListOptions{FieldSelector: selector.AsSelector().String()})
		if err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning && e.InvolvedObject.UID != "" &&
				e.Message == "configuration refused: spec.passwordSecret: Secret metallb-system/ops-peer-password not found" {
				return nil
			}
		}
		return fmt.Errorf("events %+v", events.Items)
	})
	// `kubectl describe` finds the Event through the object's UID.
	out, err := l.Kubectl(ctx, "", "describe", "bgppeer", "-n", lab.IronLBNamespace, "ops-peer")
	if err != nil || !strings.Contains(out, configstate.ReasonInvalidConfiguration) {
		t.Errorf("kubectl describe bgppeer does not show the Event (%v):\n%s", err, out)
	}

	// controller status says so above its table.
	lab.Eventually(t, 30*time.Second, "controller status notes the refused configuration", func() error {
		_, out, err := controllerStatus(ctx, l)
		if err != nil {
			return err
		}
		for _, want := range []string{
			"note: configuration refused (ironlb keeps serving the last valid one): " + missingSecretMessage,
			"note: controller refused the latest configuration and serves its last valid one",
			"note: speaker-node1 refused the latest configuration and serves its last valid one",
		} {
			if !strings.Contains(out, want+"\n") {
				return fmt.Errorf("no %q in:\n%s", want, out)
			}
		}
		return nil
	})

	// The last valid configuration keeps serving.
	svc := ipv4Service(t, l, "ops-state", "ops-state")
	if ip := waitIP(t, l, svc); !netipx.MustParseIPRange("172.30.0.230-172.30.0.233").Contains(ip) {
		t.Errorf("assigned %s while stale, want one of ops-state's", ip)
	}

	if _, err := l.Kubectl(ctx, peerSecret, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	restored = true
	waitStates(t, clients, components, v1beta1.ConfigurationValid, "")
	waitStale(t, l, 0)
}

// waitStates waits until every component's ConfigurationState has result
// and errorSummary, with conditions that agree.
func waitStates(t *testing.T, clients *k8s.Clients, names []string, result v1beta1.ConfigurationResult, summary string) {
	t.Helper()
	for _, name := range names {
		lab.Eventually(t, 30*time.Second, fmt.Sprintf("ConfigurationState %s is %s", name, result), func() error {
			var state v1beta1.ConfigurationState
			err := clients.MetalLBv1beta1.Get().Namespace(lab.IronLBNamespace).Resource("configurationstates").Name(name).Do(context.Background()).Into(&state)
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("not created yet")
			}
			if err != nil {
				return err
			}
			st := state.Status
			if st.Result != result || st.ErrorSummary != summary {
				return fmt.Errorf("result %q errorSummary %q", st.Result, st.ErrorSummary)
			}
			valid := meta.IsStatusConditionTrue(st.Conditions, configstate.ConditionValid)
			stale := meta.IsStatusConditionTrue(st.Conditions, configstate.ConditionStale)
			if valid != (result == v1beta1.ConfigurationValid) || stale == valid {
				return fmt.Errorf("conditions %+v disagree with result %s", st.Conditions, result)
			}
			wantKind := configstate.ComponentSpeaker
			if name == configstate.ControllerName {
				wantKind = configstate.ComponentController
			}
			if state.Labels[configstate.LabelComponent] != wantKind {
				return fmt.Errorf("labels %v", state.Labels)
			}
			return nil
		})
	}
}

// waitStale waits until the controller and every speaker export
// metallb_k8s_client_config_stale_bool = value.
func waitStale(t *testing.T, l *lab.Lab, value int) {
	t.Helper()
	endpoints := []string{l.ControllerMetricsURL()}
	for i := 1; i <= l.NodeCount(); i++ {
		endpoints = append(endpoints, l.SpeakerMetricsURL(i))
	}
	want := fmt.Sprintf("\nmetallb_k8s_client_config_stale_bool %d\n", value)
	for _, e := range endpoints {
		lab.Eventually(t, 30*time.Second, e+" reports config_stale_bool "+fmt.Sprint(value), func() error {
			body, err := lab.Scrape(t.Context(), e)
			if err != nil {
				return err
			}
			if !strings.Contains(body, want) || !strings.Contains(body, "\nmetallb_k8s_client_config_loaded_bool 1\n") {
				return fmt.Errorf("stale/loaded not as expected")
			}
			return nil
		})
	}
}
