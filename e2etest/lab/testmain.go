package lab

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
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
	start := time.Now()
	l, err := Up(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: lab up:", err)
		return 1
	}
	upEnd := time.Now()
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
	testsEnd := time.Now()
	signal.Stop(signals)
	if opts.Pods && !forbiddenNone(l) {
		code = 1
	}
	if opts.Pods && !reportUnusedGrants(l, opts.RequireGrantsUsed && fullRun()) {
		code = 1
	}
	downStart := time.Now()
	if err := l.Down(); err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: lab down:", err)
		return 1
	}
	recordSuiteTimes(l, code, suiteTimes{up: upEnd.Sub(start), tests: testsEnd.Sub(upEnd),
		audit: downStart.Sub(testsEnd), down: time.Since(downStart)})
	return code
}

// suiteTimes is where a package's time went.
type suiteTimes struct{ up, tests, audit, down time.Duration }

// recordSuiteTimes appends the package's line to SuiteTimesPath: where a
// suite's time went (waiting for another lab, bringing the lab up, the
// tests, the audit log's checks and taking the lab down).
func recordSuiteTimes(l *Lab, code int, times suiteTimes) {
	dir, err := os.Getwd()
	if err == nil {
		if rel, relErr := filepath.Rel(l.repo, dir); relErr == nil {
			dir = rel
		}
	}
	total := times.up + times.tests + times.audit + times.down
	line := fmt.Sprintf("%-26s exit %d  total %6.1fs = waited for another lab %6.1fs + up %5.1fs + tests %6.1fs + audit %4.1fs + down %4.1fs\n",
		dir, code, total.Seconds(), l.lockWait.Seconds(), (times.up - l.lockWait).Seconds(), times.tests.Seconds(), times.audit.Seconds(), times.down.Seconds())
	f, err := os.OpenFile(SuiteTimesPath(l.repo), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: recording the suite's times:", err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: recording the suite's times:", err)
	}
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
