package manifests

import (
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/internal/images"
	"github.com/ironlb/ironlb/internal/version"
)

// podSpecs returns the controller's and the speaker's pod specs from the rendered file.
func podSpecs(t *testing.T) map[string]corev1.PodSpec {
	t.Helper()
	pods := map[string]corev1.PodSpec{}
	for _, obj := range decodeAll(t) {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			pods[o.Name] = o.Spec.Template.Spec
		case *appsv1.DaemonSet:
			pods[o.Name] = o.Spec.Template.Spec
		}
	}
	if len(pods) != 2 {
		t.Fatalf("want the controller Deployment and the speaker DaemonSet, got %d workloads", len(pods))
	}
	return pods
}

// TestImagesAreTheOnesMakeImagesBuilds: the manifest names the tags `make images` writes, both taken
// from internal/version.
func TestImagesAreTheOnesMakeImagesBuilds(t *testing.T) {
	for name, pod := range podSpecs(t) {
		if got, want := pod.Containers[0].Image, version.Image(name); got != want {
			t.Errorf("%s image = %q, want %q (internal/version)", name, got, want)
		}
		if got := images.Spec(name, "bin", "rev").Ref; got != version.Image(name) {
			t.Errorf("make images tags %s as %q", name, got)
		}
	}
}

// TestPodsRunAsTheImagesSay: the controller runs as the image's non-root user; the speaker runs as the
// image's root with every capability dropped but NET_RAW.
func TestPodsRunAsTheImagesSay(t *testing.T) {
	pods := podSpecs(t)
	ctrl := pods["controller"]
	sc := ctrl.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil {
		t.Fatalf("controller pod securityContext = %+v, want runAsNonRoot and runAsUser", sc)
	}
	uid := strconv.FormatInt(*sc.RunAsUser, 10)
	if imageUser := images.Spec("controller", "bin", "rev").User; imageUser != uid+":"+uid {
		t.Errorf("controller runs as %s in the manifest, as %s in the image", uid, imageUser)
	}
	if images.ControllerUID == 0 {
		t.Error("the controller image runs as root")
	}
	spk := pods["speaker"]
	if spk.SecurityContext != nil && spk.SecurityContext.RunAsUser != nil && *spk.SecurityContext.RunAsUser != images.SpeakerUID {
		t.Errorf("speaker runs as %d in the manifest, as %d in the image", *spk.SecurityContext.RunAsUser, images.SpeakerUID)
	}
	if c := spk.Containers[0].SecurityContext; c == nil || c.RunAsUser != nil && *c.RunAsUser != images.SpeakerUID {
		t.Errorf("speaker container securityContext = %+v", c)
	}
	if got := images.Spec("speaker", "bin", "rev").User; got != "0:0" {
		t.Errorf("speaker image user = %q, want root", got)
	}
	for name, pod := range pods {
		c := pod.Containers[0].SecurityContext
		if c == nil || c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
			t.Errorf("%s: want a read-only root filesystem, the image needs nothing writable", name)
		}
	}
}
