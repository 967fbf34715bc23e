package lab

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/k8s"
)

// shared is the lab of the running test package, nil when there is none.
var shared *Lab

// Main runs a package's tests around one shared lab brought up with opts and
// always taken down, also on SIGINT or SIGTERM. With opts.Pods the run fails
// when the API server refused any request of an ironlb service account. Without root the tests run
// with no lab and Shared skips them. Use it as TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(lab.Main(m, lab.Options{})) }
func Main(m *testing.M, opts Options) int {
	if os.Geteuid() != 0 {
		fmt.Println("e2etest: not root; the lab's scenarios need root and are skipped")
		return m.Run()
	}
	// The first run builds kube-apiserver, kubectl and etcd: allow for it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	l, err := Up(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: lab up:", err)
		return 1
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "e2etest: %v: taking the lab down\n", sig)
		l.Down()
		os.Exit(1)
	}()
	shared = l
	code := m.Run()
	signal.Stop(signals)
	if opts.Pods && !forbiddenNone(l) {
		code = 1
	}
	if opts.Pods && !reportUnusedGrants(l, opts.RequireGrantsUsed && fullRun()) {
		code = 1
	}
	if err := l.Down(); err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: lab down:", err)
		return 1
	}
	return code
}

// forbiddenNone reports whether no request of an ironlb service account was
// refused during the package's run, printing those that were: RBAC is
// enforced with pods, and the manifest must grant all that ironlb does.
func forbiddenNone(l *Lab) bool {
	forbidden, _, err := l.ForbiddenRequests()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: read the audit log:", err)
		return false
	}
	for _, e := range forbidden {
		fmt.Fprintln(os.Stderr, "e2etest: refused by RBAC:", e)
	}
	return len(forbidden) == 0
}

// reportUnusedGrants prints what the manifest grants ironlb's service
// accounts and no request of this package's run used (docs/reliability.md,
// least privilege). With require, it reports whether every grant not
// marked rare was used; otherwise it only reports (a package that
// exercises a part of ironlb) and returns true.
func reportUnusedGrants(l *Lab, require bool) bool {
	used, err := l.UsedRequests()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: read the audit log:", err)
		return !require
	}
	ok := true
	for _, account := range []string{"controller", "speaker"} {
		perms := map[string][]k8s.Permission{"controller": k8s.ControllerPermissions, "speaker": k8s.SpeakerPermissions}[account]
		for _, u := range k8s.UnusedGrants(perms, used[account]) {
			if u.Rare != "" {
				fmt.Fprintf(os.Stderr, "e2etest: granted to %s, not used in this run (a rare path, driven by %s): %s\n", account, u.Rare, u.Grant)
				continue
			}
			fmt.Fprintf(os.Stderr, "e2etest: granted to %s, not used in this run: %s\n", account, u.Grant)
			ok = false
		}
	}
	return ok || !require
}

// fullRun reports whether every test of the package ran (no -run filter):
// only then must the run have used every grant.
func fullRun() bool {
	f := flag.Lookup("test.run")
	return f == nil || f.Value.String() == ""
}

// Shared returns the package's lab, skipping the test where there is none
// (not root).
func Shared(t testing.TB) *Lab {
	t.Helper()
	if shared == nil {
		t.Skip("the lab needs root")
	}
	return shared
}

// Eventually retries check every 20 ms until it returns nil or timeout
// passes, then fails the test with the last error.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CreateService creates svc and deletes it when the test ends.
func (l *Lab) CreateService(t testing.TB, svc *corev1.Service) *corev1.Service {
	t.Helper()
	kube := l.KubeClient()
	created, err := kube.CoreV1().Services(svc.Namespace).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Service %s/%s: %v", svc.Namespace, svc.Name, err)
	}
	t.Cleanup(func() {
		err := kube.CoreV1().Services(svc.Namespace).Delete(context.Background(), svc.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete Service %s/%s: %v", svc.Namespace, svc.Name, err)
		}
	})
	return created
}
