package helm

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/version"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// upgradeTag is the image tag the upgrade moves to: the lab's images
// tagged anew in every node's containerd.
const upgradeTag = version.Version + "-upgrade"

// TestInstallUpgradeUninstall: `helm install` into the namespace the user
// created gets every pod Ready and a Service answered; `helm upgrade` to a
// new image tag and log levels rolls the speaker DaemonSet (every speaker
// replaced, on the new image) under load while the Service keeps its IP;
// `helm uninstall` removes every object of the release but the CRDs, and
// leaves the user's configuration.
func TestInstallUpgradeUninstall(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	t.Cleanup(func() {
		if err := removeAll(context.Background(), l, "web"); err != nil {
			t.Error(err)
		}
	})
	if err := createNamespace(ctx, l); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if out, err := l.Helm(ctx, "", "install", release, l.ChartPath(), "--namespace", lab.IronLBNamespace, "--wait", "--timeout=5m"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := l.WaitIronLBReady(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("helm install: every pod Ready after %s", time.Since(start).Round(100*time.Millisecond))
	ip, err := serve(ctx, l, "web")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Service web: %s answers", ip)

	upgrade(t, l)
	uninstall(t, l)
}

// upgrade runs `helm upgrade` to upgradeTag with debug logs under load and
// checks the rollout.
func upgrade(t *testing.T, l *lab.Lab) {
	ctx := t.Context()
	for _, component := range []string{"controller", "speaker"} {
		if err := l.TagImage(ctx, version.Image(component), version.Registry+"/"+component+":"+upgradeTag); err != nil {
			t.Fatal(err)
		}
	}
	before, err := speakerPods(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	vip, err := l.WaitServiceIP(ctx, "default", "web", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var ld load
	stop := ld.start(l, vip)
	start := time.Now()
	out, err := l.Helm(ctx, "", "upgrade", release, l.ChartPath(), "--namespace", lab.IronLBNamespace, "--wait", "--timeout=5m",
		"--set", "controller.image.tag="+upgradeTag, "--set", "speaker.image.tag="+upgradeTag,
		"--set", "controller.logLevel=debug", "--set", "speaker.logLevel=debug")
	if err == nil {
		err = l.WaitIronLBReady(ctx, 3*time.Minute)
	}
	took := time.Since(start)
	time.Sleep(3 * time.Second) // the last restarted speaker's takeovers
	stop()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("helm upgrade: rolled out in %s; %d requests to %s, %d failed", took.Round(100*time.Millisecond), ld.sent, vip, len(ld.failures))
	for _, f := range ld.failures {
		t.Logf("  failed %s", f)
	}
	after, err := speakerPods(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != l.NodeCount() {
		t.Errorf("%d speaker pods after the upgrade, want %d", len(after), l.NodeCount())
	}
	for name, image := range after {
		if _, old := before[name]; old {
			t.Errorf("speaker pod %s survived the upgrade: the DaemonSet did not roll", name)
		}
		if !strings.HasSuffix(image, ":"+upgradeTag) {
			t.Errorf("speaker pod %s runs %s, want tag %s", name, image, upgradeTag)
		}
	}
	ds, err := l.KubeClient().AppsV1().DaemonSets(lab.IronLBNamespace).Get(ctx, "speaker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if args := strings.Join(ds.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--log-level=debug") {
		t.Errorf("speaker args %q after the upgrade, want --log-level=debug", args)
	}
	if now, err := l.WaitServiceIP(ctx, "default", "web", time.Minute); err != nil || now != vip {
		t.Errorf("Service web: IP %v (err %v) after the upgrade, want %s as before", now, err, vip)
	}
	if err := l.Client().WaitAnswer(ctx, vip, 10*time.Second); err != nil {
		t.Error(err)
	}
	if ld.sent == 0 {
		t.Error("no load during the upgrade")
	}
}

// uninstall runs `helm uninstall` and checks what is left: nothing the
// chart rendered but the CRDs, and the user's configuration.
func uninstall(t *testing.T, l *lab.Lab) {
	ctx := t.Context()
	rendered, err := l.Helm(ctx, "", "get", "manifest", release, "--namespace", lab.IronLBNamespace)
	if err != nil {
		t.Fatal(err)
	}
	// As docs/helm.md says: the pods first, while their RBAC still exists.
	// `helm uninstall` deletes everything at once, and a speaker stopping
	// after its Role is gone cannot delete its status objects (403).
	if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "delete", "--wait=true", "--timeout=2m",
		"daemonset/speaker", "deployment/controller"); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitNoIronLBPods(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Helm(ctx, "", "uninstall", release, "--namespace", lab.IronLBNamespace, "--wait", "--timeout=3m"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := l.Kubectl(ctx, rendered, "get", "--ignore-not-found", "-f", "-", "-o", "custom-columns=KIND:.kind,NAME:.metadata.name", "--no-headers")
	if err != nil {
		t.Fatal(err)
	}
	var crds int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		kind, _, _ := strings.Cut(line, " ")
		switch {
		case line == "":
		case kind == "CustomResourceDefinition":
			crds++
		default:
			t.Errorf("left after helm uninstall: %s", line)
		}
	}
	if crds != 9 {
		t.Errorf("%d metallb.io CRDs left after helm uninstall, want all 9 (kept):\n%s", crds, out)
	}
	for _, object := range []string{"ipaddresspool/helm", "l2advertisement/helm"} {
		if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "get", object); err != nil {
			t.Errorf("the user's %s is gone after helm uninstall: %v", object, err)
		}
	}
	statuses, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "get", "servicel2statuses,servicebgpstatuses", "-o", "name")
	if err != nil || strings.TrimSpace(statuses) != "" {
		t.Errorf("status objects left after the speakers stopped: %v\n%s", err, statuses)
	}
	left, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "get", "secrets,leases,configurationstates", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("state ironlb wrote at run time, left in %s after helm uninstall:\n%s", lab.IronLBNamespace, left)
}
