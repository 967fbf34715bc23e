package lab

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestManifestObject: the objects the lab takes from the manifest decode
// strictly, and a missing one is an error naming it.
func TestManifestObject(t *testing.T) {
	var deploy appsv1.Deployment
	if err := manifestObject("Deployment", "controller", &deploy); err != nil {
		t.Fatal(err)
	}
	containers := deploy.Spec.Template.Spec.Containers
	if len(containers) != 1 || containers[0].Name != "controller" || !slices.Contains(containers[0].Args, "--secure-metrics-addr=:9120") {
		t.Errorf("controller Deployment's containers: %+v", containers)
	}
	if _, err := manifestWebhookConfiguration(); err != nil {
		t.Error(err)
	}
	err := manifestObject("Deployment", "no-such", &deploy)
	if err == nil || !strings.Contains(err.Error(), "no Deployment no-such") {
		t.Errorf("a missing object: %v", err)
	}
}
