// Package e2etest holds ironlb's end-to-end scenarios. They share one lab
// (see package lab), brought up by TestMain for the whole package; they need
// root, and skip themselves without it.
package e2etest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// theLab is the package's shared lab; nil when the tests cannot have one.
var theLab *lab.Lab

func TestMain(m *testing.M) { os.Exit(runWithLab(m)) }

// runWithLab brings the lab up around the package's tests and always takes
// it down, also on SIGINT or SIGTERM.
func runWithLab(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("e2etest: not root; the lab's scenarios need root and are skipped")
		return m.Run()
	}
	// The first run builds kube-apiserver, kubectl and etcd: allow for it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{ControllerManager: true})
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
	theLab = l
	code := m.Run()
	signal.Stop(signals)
	if err := l.Down(); err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: lab down:", err)
		return 1
	}
	return code
}

// requireLab returns the shared lab, skipping the test where there is none
// (not root).
func requireLab(t testing.TB) *lab.Lab {
	t.Helper()
	if theLab == nil {
		t.Skip("the lab needs root")
	}
	return theLab
}

// eventually retries check every 100 ms until it returns nil or timeout
// passes, then fails the test with the last error.
func eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
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
		time.Sleep(100 * time.Millisecond)
	}
}
