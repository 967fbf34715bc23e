package helm

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// adopt runs the commands docs/helm.md gives to move an install
// from the plain manifest to the chart: every object the chart renders gets
// the release's ownership metadata, then `helm upgrade --install` takes
// them over.
func adopt(ctx context.Context, l *lab.Lab) (string, error) {
	// Without the hooks: the uninstall Job and its RBAC exist only during
	// `helm uninstall`; there is nothing of them to annotate.
	rendered, err := l.Helm(ctx, "", "template", release, l.ChartPath(), "--namespace", lab.IronLBNamespace, "--no-hooks")
	if err != nil {
		return "", err
	}
	if out, err := l.Kubectl(ctx, rendered, "annotate", "--overwrite", "-f", "-",
		"meta.helm.sh/release-name="+release, "meta.helm.sh/release-namespace="+lab.IronLBNamespace); err != nil {
		return out, err
	}
	if out, err := l.Kubectl(ctx, rendered, "label", "--overwrite", "-f", "-", "app.kubernetes.io/managed-by=Helm"); err != nil {
		return out, err
	}
	// helm 4 applies server-side: the env fieldRefs kubectl applied hold
	// the defaulted apiVersion, the chart's do not, and the atomic
	// fieldRef conflicts although it means the same; force takes them over.
	return l.Helm(ctx, "", "upgrade", "--install", release, l.ChartPath(), "--namespace", lab.IronLBNamespace, "--wait", "--timeout=5m",
		"--force-conflicts")
}

// TestAdoptPlainInstall: an install from manifests/metallb-native.yaml,
// serving a Service, is taken over by the chart with the steps of
// docs/helm.md; the speakers and the controller keep running (the chart
// renders the same pods), the Service keeps its IP and answers throughout,
// and Helm then owns every object of the release.
func TestAdoptPlainInstall(t *testing.T) {
	l := lab.Shared(t)
	ctx := t.Context()
	t.Cleanup(func() {
		if err := removeAll(context.Background(), l, "adopted"); err != nil {
			t.Error(err)
		}
	})
	if err := l.Install(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitIronLBReady(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	ip, err := serve(ctx, l, "adopted")
	if err != nil {
		t.Fatal(err)
	}
	before, err := speakerPods(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	var ld load
	stop := ld.start(l, ip)
	out, err := adopt(ctx, l)
	if err == nil {
		err = l.WaitIronLBReady(ctx, 3*time.Minute)
	}
	stop()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("adoption: %d requests to %s, %d failed", ld.sent, ip, len(ld.failures))
	for _, f := range ld.failures {
		t.Errorf("request failed during the adoption: %s", f)
	}
	after, err := speakerPods(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after))) {
		t.Errorf("speaker pods %v after the adoption, want the same as before %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before)))
	}
	if now, err := l.WaitServiceIP(ctx, "default", "adopted", time.Minute); err != nil || now != ip {
		t.Errorf("Service adopted: IP %v (err %v) after the adoption, want %s as before", now, err, ip)
	}
	if err := l.Client().WaitAnswer(ctx, ip, 10*time.Second); err != nil {
		t.Error(err)
	}
	status, err := l.Helm(ctx, "", "status", release, "--namespace", lab.IronLBNamespace)
	if err != nil || !strings.Contains(status, "STATUS: deployed") {
		t.Errorf("helm status after the adoption: %v\n%s", err, status)
	}
	owned, err := l.Helm(ctx, "", "get", "manifest", release, "--namespace", lab.IronLBNamespace)
	if err != nil {
		t.Fatal(err)
	}
	annotations, err := l.Kubectl(ctx, owned, "get", "-f", "-", "-o",
		`custom-columns=KIND:.kind,NAME:.metadata.name,RELEASE:.metadata.annotations.meta\.helm\.sh/release-name`, "--no-headers")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(annotations), "\n") {
		if fields := strings.Fields(line); len(fields) != 3 || fields[2] != release {
			t.Errorf("not owned by release %s after the adoption: %s", release, line)
		}
	}
}
