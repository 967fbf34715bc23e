package manifests

import (
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironlb/ironlb/internal/webhook"
)

// configResources are the metallb.io configuration kinds by version.
var configResources = map[string][]string{
	"v1beta1": {"bfdprofiles", "bgpadvertisements", "communities", "ipaddresspools", "l2advertisements"},
	"v1beta2": {"bgppeers"},
}

func TestWebhookConfiguration(t *testing.T) {
	var vwc *admissionregistrationv1.ValidatingWebhookConfiguration
	var svc *corev1.Service
	var controller *appsv1.Deployment
	for _, obj := range decodeAll(t) {
		switch o := obj.(type) {
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			vwc = o
		case *corev1.Service:
			if o.Name == webhook.DefaultServiceName {
				svc = o
			}
		case *appsv1.Deployment:
			controller = o
		}
	}
	if vwc == nil || vwc.Name != webhook.DefaultWebhookConfigName {
		t.Fatalf("no ValidatingWebhookConfiguration %s", webhook.DefaultWebhookConfigName)
	}
	// operation → failure policy that guards it, for each kind.
	guarded := map[string]map[admissionregistrationv1.OperationType]admissionregistrationv1.FailurePolicyType{}
	for _, hook := range vwc.Webhooks {
		ref := hook.ClientConfig.Service
		if ref == nil || ref.Name != webhook.DefaultServiceName || ref.Namespace != "metallb-system" || ref.Path == nil || *ref.Path != webhook.Path {
			t.Errorf("webhook %s does not call %s/%s%s", hook.Name, "metallb-system", webhook.DefaultServiceName, webhook.Path)
		}
		if hook.SideEffects == nil || *hook.SideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("webhook %s: sideEffects must be None", hook.Name)
		}
		if !slices.Equal(hook.AdmissionReviewVersions, []string{"v1"}) {
			t.Errorf("webhook %s: admissionReviewVersions %v, want [v1]", hook.Name, hook.AdmissionReviewVersions)
		}
		if len(hook.ClientConfig.CABundle) != 0 {
			t.Errorf("webhook %s: caBundle must be left to the controller", hook.Name)
		}
		for _, rule := range hook.Rules {
			if !slices.Equal(rule.APIGroups, []string{webhook.Group}) {
				t.Errorf("webhook %s: groups %v", hook.Name, rule.APIGroups)
			}
			for _, version := range rule.APIVersions {
				for _, resource := range rule.Resources {
					if !slices.Contains(configResources[version], resource) {
						t.Errorf("webhook %s judges %s/%s, not a configuration kind", hook.Name, version, resource)
					}
					key := version + "/" + resource
					if guarded[key] == nil {
						guarded[key] = map[admissionregistrationv1.OperationType]admissionregistrationv1.FailurePolicyType{}
					}
					for _, op := range rule.Operations {
						guarded[key][op] = *hook.FailurePolicy
					}
				}
			}
		}
	}
	for version, resources := range configResources {
		for _, resource := range resources {
			ops := guarded[version+"/"+resource]
			if ops[admissionregistrationv1.Create] != admissionregistrationv1.Fail || ops[admissionregistrationv1.Update] != admissionregistrationv1.Fail {
				t.Errorf("%s/%s: CREATE and UPDATE must be guarded with failurePolicy Fail, got %v", version, resource, ops)
			}
			if ops[admissionregistrationv1.Delete] != admissionregistrationv1.Ignore {
				t.Errorf("%s/%s: DELETE must be checked with failurePolicy Ignore, got %v", version, resource, ops)
			}
		}
	}

	if svc == nil || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.StrVal != "webhook-server" ||
		svc.Spec.Selector["component"] != "controller" {
		t.Fatalf("webhook Service = %+v", svc)
	}
	var port *corev1.ContainerPort
	for i, p := range controller.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == "webhook-server" {
			port = &controller.Spec.Template.Spec.Containers[0].Ports[i]
		}
	}
	if port == nil || port.ContainerPort != 9443 {
		t.Errorf("controller container must expose webhook-server on 9443, got %+v", port)
	}
}

func TestControllerMayManageTheWebhookCertificate(t *testing.T) {
	var clusterRule, secretRule bool
	for _, obj := range decodeAll(t) {
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			if o.Name != "metallb-system:controller" {
				continue
			}
			for _, r := range o.Rules {
				if slices.Contains(r.Resources, "validatingwebhookconfigurations") {
					clusterRule = slices.Equal(r.ResourceNames, []string{webhook.DefaultWebhookConfigName}) &&
						slices.Contains(r.Verbs, "get") && slices.Contains(r.Verbs, "update")
				}
			}
		case *rbacv1.Role:
			if o.Name != "controller" {
				continue
			}
			for _, r := range o.Rules {
				if slices.Contains(r.Resources, "secrets") && slices.Equal(r.ResourceNames, []string{webhook.DefaultSecretName}) {
					secretRule = slices.Contains(r.Verbs, "update")
				}
			}
		}
	}
	if !clusterRule {
		t.Error("controller ClusterRole must get and update only the webhook configuration")
	}
	if !secretRule {
		t.Error("controller Role must update only the webhook Secret")
	}
}
