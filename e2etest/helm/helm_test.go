package helm

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/k8s"
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
// `helm uninstall` (its pre-delete hook) removes every object of the
// release but the CRDs and all that ironlb wrote at run time, and leaves
// the user's configuration, with which a second `helm install` serves the
// Service on the same IP.
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
	reinstall(t, l, ip)
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

// uninstall runs `helm uninstall --wait` on the running release, as
// docs/helm.md says, and checks what is left: of what the chart rendered,
// the CRDs only; the user's configuration; nothing ironlb wrote at run
// time; no pod; none of the hook's objects. The hook used every grant of
// its Role but the rare ones (the lab's TestMain fails the run on any 403).
func uninstall(t *testing.T, l *lab.Lab) {
	ctx := t.Context()
	rendered, err := l.Helm(ctx, "", "get", "manifest", release, "--namespace", lab.IronLBNamespace)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := l.Helm(ctx, "", "uninstall", release, "--namespace", lab.IronLBNamespace, "--wait", "--timeout=3m")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("helm uninstall --wait: done in %s; its output:\n%s", time.Since(start).Round(100*time.Millisecond), out)
	if !strings.Contains(out, "ironlb uninstalled") {
		t.Error("helm uninstall did not print the hook's log")
	}
	left, err := l.Kubectl(ctx, rendered, "get", "--ignore-not-found", "-f", "-", "-o", "custom-columns=KIND:.kind,NAME:.metadata.name", "--no-headers")
	if err != nil {
		t.Fatal(err)
	}
	var crds int
	for _, line := range strings.Split(strings.TrimSpace(left), "\n") {
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
		t.Errorf("%d metallb.io CRDs left after helm uninstall, want all 9 (kept):\n%s", crds, left)
	}
	for _, object := range []string{"ipaddresspool/helm", "l2advertisement/helm"} {
		if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "get", object); err != nil {
			t.Errorf("the user's %s is gone after helm uninstall: %v", object, err)
		}
	}
	state, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "get", "--ignore-not-found", "-o", "name",
		"secret/memberlist", "secret/webhook-server-cert", "lease/ironlb-controller", "serviceaccount/ironlb-uninstall",
		"role/ironlb-uninstall", "rolebinding/ironlb-uninstall", "job/ironlb-uninstall")
	if err != nil || strings.TrimSpace(state) != "" {
		t.Errorf("left after helm uninstall (%v):\n%s", err, state)
	}
	all, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "get", "configurationstates,servicel2statuses,servicebgpstatuses", "-o", "name")
	if err != nil || strings.TrimSpace(all) != "" {
		t.Errorf("state ironlb wrote at run time left after helm uninstall (%v):\n%s", err, all)
	}
	// The Job's pod goes with it, in the background.
	if err := l.WaitNoIronLBPods(ctx, time.Minute); err != nil {
		t.Error(err)
	}
	used, err := l.UsedRequests()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range k8s.UnusedGrants(k8s.UninstallPermissions, used["ironlb-uninstall"]) {
		if u.Rare == "" {
			t.Errorf("the uninstall hook's Role grants %s, which it did not use", u.Grant)
		}
	}
}

// reinstall installs the release again after the uninstall: the Service
// keeps the address it had, and answers on it.
func reinstall(t *testing.T, l *lab.Lab, ip netip.Addr) {
	ctx := t.Context()
	if out, err := l.Helm(ctx, "", "install", release, l.ChartPath(), "--namespace", lab.IronLBNamespace, "--wait", "--timeout=5m"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := l.WaitIronLBReady(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	if now, err := l.WaitServiceIP(ctx, "default", "web", time.Minute); err != nil || now != ip {
		t.Errorf("Service web: IP %v (err %v) after the second install, want %s as before", now, err, ip)
	}
	if err := l.Client().WaitAnswer(ctx, ip, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("second helm install: Service web answers on %s as before", ip)
}
