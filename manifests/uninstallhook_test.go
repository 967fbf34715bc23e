package manifests_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/uninstall"
	"github.com/ironlb/ironlb/manifests"
)

// TestChartUninstallHook: the chart renders `controller uninstall` as a
// pre-delete Job of the controller's image, in the release's namespace,
// with a ServiceAccount and a Role of its own created before it (lower
// hook weight) and deleted once it succeeded. The Role grants exactly what
// the code declares (k8s.UninstallPermissions), which covers every object
// the uninstall deletes. uninstallHook.enabled=false renders none of it.
func TestChartUninstallHook(t *testing.T) {
	objects, err := helmTemplate(t, "--namespace=lb", "--set", "controller.image.tag=v9", "--set", "controller.image.pullPolicy=Never")
	if err != nil {
		t.Fatal(err)
	}
	hooks := slices.DeleteFunc(slices.Clone(objects), func(o *unstructured.Unstructured) bool { return !isHook(o) })
	var kinds []string
	for _, o := range hooks {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		annotations := o.GetAnnotations()
		if annotations[hookAnnotation] != "pre-delete" || annotations["helm.sh/hook-delete-policy"] != "before-hook-creation,hook-succeeded" {
			t.Errorf("%s: hook annotations %v, want a pre-delete hook deleted before its next creation and once it succeeded", objectKey(o), annotations)
		}
		if o.GetNamespace() != "lb" {
			t.Errorf("%s outside the release namespace", objectKey(o))
		}
	}
	want := []string{"ServiceAccount/ironlb-uninstall", "Role/ironlb-uninstall", "RoleBinding/ironlb-uninstall", "Job/ironlb-uninstall"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("hooks %q, want %q", kinds, want)
	}
	job := find(hooks, "Job", "ironlb-uninstall")
	if weight := job.GetAnnotations()["helm.sh/hook-weight"]; weight != "" {
		t.Errorf("Job hook weight %q, want the default 0, after its RBAC", weight)
	}
	for _, o := range hooks[:3] {
		if weight, err := strconv.Atoi(o.GetAnnotations()["helm.sh/hook-weight"]); err != nil || weight >= 0 {
			t.Errorf("%s: hook weight %q, want below the Job's 0", objectKey(o), o.GetAnnotations()["helm.sh/hook-weight"])
		}
	}
	c, pod := container(t, job)
	if c["image"] != "ghcr.io/ironlb/controller:v9" || c["imagePullPolicy"] != "Never" || pod["serviceAccountName"] != "ironlb-uninstall" ||
		yamlText(c["args"]) != "- uninstall\n- --namespace=lb\n- --log-level=info" {
		t.Errorf("uninstall Job's pod:\n%s", yamlText(pod))
	}

	role := &rbacv1.Role{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(hooks, "Role", "ironlb-uninstall").Object, role); err != nil {
		t.Fatal(err)
	}
	var granted []string
	for _, r := range role.Rules {
		granted = append(granted, manifests.Expand(true, r)...)
	}
	slices.Sort(granted)
	if declared := manifests.Grants(k8s.UninstallPermissions); !slices.Equal(granted, declared) {
		t.Errorf("uninstall Role grants:\n  %s\ncode declares:\n  %s", strings.Join(granted, "\n  "), strings.Join(declared, "\n  "))
	}
	for _, o := range append(slices.Clone(uninstall.Workloads), uninstall.Leftovers(nil)...) {
		if !slices.Contains(granted, "metallb-system "+o.Resource.Group+"/"+o.Resource.Resource+" "+o.Name+" delete") {
			t.Errorf("the uninstall deletes %s, which its Role does not allow", o)
		}
	}
	for _, kind := range uninstall.StateKinds {
		for _, verb := range []string{"list", "delete"} {
			if !slices.Contains(granted, "metallb-system "+kind.Group+"/"+kind.Resource+" * "+verb) {
				t.Errorf("the uninstall needs %s %s, which its Role does not allow", verb, kind.GroupResource())
			}
		}
	}

	off, err := helmTemplate(t, "--set", "uninstallHook.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(off, isHook) {
		t.Error("hooks rendered with uninstallHook.enabled=false")
	}
}
