package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/controller"
)

// shrinkPool is the scenario's pool with addresses; the webhook warns,
// naming the Service, for every address in use that an edit leaves in no
// pool.
func shrinkPool(addresses string) string {
	return fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: faults-shrink
  namespace: metallb-system
spec:
  addresses: [%s]
  autoAssign: false
`, addresses)
}

// A pool in use is shrunk, restored, deleted and applied again (a GitOps
// replace): no Service's address changes or is shown twice, the webhook
// warns about each address left in no pool, and the re-applied pool's
// addresses stay with their Services (a new Service finds it exhausted).
func TestPoolShrunkDeletedAndReapplied(t *testing.T) {
	l := setup(t)
	ctx := context.Background()
	const ns = "faults-pools"
	createNamespace(t, l, ns)
	checker := watchStatuses(t, l)
	full := shrinkPool("10.202.0.1-10.202.0.4")
	lab.Eventually(t, time.Minute, "faults-shrink is applied", func() error { return l.Apply(ctx, full) })
	t.Cleanup(func() {
		if _, err := l.Kubectl(context.Background(), full, "delete", "-f", "-"); err != nil {
			t.Error(err)
		}
	})
	byIP := map[string]string{}
	for i := range 4 {
		name := fmt.Sprintf("svc-%d", i)
		l.CreateService(t, inPool(ns, name, "faults-shrink"))
		byIP[waitShown(t, l, ns, name)[0]] = name
	}

	out, err := l.Kubectl(ctx, shrinkPool("10.202.0.1-10.202.0.2"), "apply", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shrink to 10.202.0.1-10.202.0.2: %s", strings.TrimSpace(out))
	warnAbout(t, out, byIP["10.202.0.3"], byIP["10.202.0.4"])
	waitKeptEvents(t, l, ns, byIP["10.202.0.3"], byIP["10.202.0.4"])
	if err := l.Apply(ctx, full); err != nil {
		t.Fatal(err)
	}

	out, err = l.Kubectl(ctx, full, "delete", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("delete: %s", strings.TrimSpace(out))
	warnAbout(t, out, byIP["10.202.0.1"], byIP["10.202.0.2"], byIP["10.202.0.3"], byIP["10.202.0.4"])
	waitKeptEvents(t, l, ns, byIP["10.202.0.1"], byIP["10.202.0.2"])
	if err := l.Apply(ctx, full); err != nil {
		t.Fatal(err)
	}

	l.CreateService(t, inPool(ns, "late", "faults-shrink"))
	lab.Eventually(t, time.Minute, "the Service created after the re-apply finds faults-shrink exhausted", func() error {
		return serviceEvent(ctx, l, ns, "late", controller.ReasonAllocationFailed)
	})
	for ip, name := range byIP {
		if got := checker.assigned(ns)[ns+"/"+name]; !slices.Equal(got, []string{ip}) {
			t.Errorf("%s shows %v, want %s as before the edits", name, got, ip)
		}
	}
	if got := checker.assigned(ns)[ns+"/late"]; len(got) > 0 {
		t.Errorf("late shows %v: faults-shrink's addresses are all in use", got)
	}
	checker.check(t)
}

// warnAbout fails the test unless kubectl's output warns about each of
// services.
func warnAbout(tb testing.TB, out string, services ...string) {
	tb.Helper()
	for _, name := range services {
		if !strings.Contains(out, "Warning:") || !strings.Contains(out, name) {
			tb.Errorf("no warning naming %s in %q", name, out)
		}
	}
}

// waitKeptEvents waits for the controller's IPKeptOutsidePools Event on
// each of services: it has seen the edit.
func waitKeptEvents(tb testing.TB, l *lab.Lab, namespace string, services ...string) {
	tb.Helper()
	for _, name := range services {
		lab.Eventually(tb, time.Minute, name+" keeps its address outside every pool", func() error {
			return serviceEvent(context.Background(), l, namespace, name, controller.ReasonIPKeptOutsidePools)
		})
	}
}

// serviceEvent returns nil once Service namespace/name has an Event with
// reason.
func serviceEvent(ctx context.Context, l *lab.Lab, namespace, name, reason string) error {
	events, err := l.KubeClient().CoreV1().Events(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Service,involvedObject.name=" + name + ",reason=" + reason})
	if err != nil {
		return err
	}
	if len(events.Items) == 0 {
		return fmt.Errorf("no %s Event on %s/%s", reason, namespace, name)
	}
	return nil
}
