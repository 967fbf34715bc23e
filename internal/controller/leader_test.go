package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// testElection returns an Election with short timings on kube.
func testElection(kube kubernetes.Interface, identity string) *Election {
	return &Election{
		Kube: kube, Namespace: "metallb-system", Identity: identity, Log: slog.New(slog.DiscardHandler),
		LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 50 * time.Millisecond,
	}
}

// waitFor fails the test if ch is not closed within a bound meant only to
// stop a hung test.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// Two controllers on one lease: the second allocates only after the first
// has stopped allocating, and the first releases the lease on SIGTERM (its
// context ends) instead of letting it expire.
func TestElectionOneLeaderAndReleaseOnStop(t *testing.T) {
	kube := fake.NewClientset()
	first, second := testElection(kube, "first"), testElection(kube, "second")
	var firstAllocating atomic.Bool
	firstLeads, secondLeads := make(chan struct{}), make(chan struct{})

	ctxFirst, stopFirst := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- first.Run(ctxFirst, func(ctx context.Context) error {
			firstAllocating.Store(true)
			close(firstLeads)
			<-ctx.Done()
			firstAllocating.Store(false)
			return nil
		})
	}()
	waitFor(t, firstLeads, "the first controller to lead")

	ctxSecond, stopSecond := context.WithCancel(context.Background())
	defer stopSecond()
	var overlapped atomic.Bool
	secondDone := make(chan error, 1)
	go func() {
		secondDone <- second.Run(ctxSecond, func(ctx context.Context) error {
			overlapped.Store(firstAllocating.Load() || first.Leading())
			close(secondLeads)
			<-ctx.Done()
			return nil
		})
	}()
	if second.Leading() {
		t.Fatal("second controller leads while the first holds the lease")
	}

	stopFirst()
	if err := <-firstDone; err != nil {
		t.Fatalf("first Run: %v", err)
	}
	lease, err := kube.CoordinationV1().Leases("metallb-system").Get(context.Background(), LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if holder := lease.Spec.HolderIdentity; holder != nil && *holder == "first" {
		t.Errorf("lease still held by %q after the first controller stopped: not released", *holder)
	}
	waitFor(t, secondLeads, "the second controller to lead")
	if overlapped.Load() {
		t.Error("the second controller started allocating while the first still was")
	}
	stopSecond()
	if err := <-secondDone; err != nil {
		t.Fatalf("second Run: %v", err)
	}
}

// A controller stopped before it ever leads returns promptly, and one whose
// allocating part fails returns that failure.
func TestElectionStopsWithoutLeadingAndReportsLeadError(t *testing.T) {
	kube := fake.NewClientset()
	holder := testElection(kube, "holder")
	leads := make(chan struct{})
	ctxHolder, stopHolder := context.WithCancel(context.Background())
	defer stopHolder()
	go func() {
		_ = holder.Run(ctxHolder, func(ctx context.Context) error { close(leads); <-ctx.Done(); return nil })
	}()
	waitFor(t, leads, "the holder to lead")

	waiter := testElection(kube, "waiter")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- waiter.Run(ctx, func(context.Context) error { t.Error("waiter led"); return nil }) }()
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run stopped while waiting: %v, want nil", err)
	}

	stopHolder()
	failing := testElection(kube, "failing")
	want := context.DeadlineExceeded
	if err := failing.Run(context.Background(), func(context.Context) error { return want }); err != want {
		t.Errorf("Run = %v, want the lead error %v", err, want)
	}
}

// A restarted container finds the lease held by the earlier process of its
// own pod and takes it over at once; a lease held from another pod is left
// to expire.
func TestElectionTakesOverFromItsOwnPod(t *testing.T) {
	held := func(holder string) *coordinationv1.Lease {
		return &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: LeaseName},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To[int32](3600),
				RenewTime: &metav1.MicroTime{Time: time.Now()}, AcquireTime: &metav1.MicroTime{Time: time.Now()},
			},
		}
	}
	other := fake.NewClientset(held("controller-b_1234"))
	e := testElection(other, "controller-a_5678")
	e.Host = "controller-a"
	e.takeOverFromOwnHost(context.Background())
	lease, err := other.CoordinationV1().Leases("metallb-system").Get(context.Background(), LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h == nil || *h != "controller-b_1234" {
		t.Fatalf("lease of another pod taken over: holder %v", h)
	}

	own := fake.NewClientset(held("controller-a_1234"))
	e = testElection(own, "controller-a_5678")
	e.Host = "controller-a"
	leads := make(chan struct{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, func(ctx context.Context) error { close(leads); <-ctx.Done(); return nil }) }()
	waitFor(t, leads, "the restarted process to lead before the hour-long lease expires")
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A leader whose lease renewals fail (the API server is down) stops
// allocating, then waits for the lease again and allocates anew once the
// renewals succeed, instead of returning: the process must not exit into
// its container's restart back-off.
func TestElectionCampaignsAgainAfterLosingTheLease(t *testing.T) {
	kube := fake.NewClientset()
	var apiDown atomic.Bool
	kube.PrependReactor("*", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if apiDown.Load() {
			return true, nil, errors.New("connection refused (injected)")
		}
		return false, nil, nil
	})
	e := testElection(kube, "leader")
	terms := make(chan struct{}, 2)
	var allocating atomic.Int32
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- e.Run(ctx, func(ctx context.Context) error {
			if allocating.Add(1) > 1 {
				t.Error("two terms allocate at once")
			}
			terms <- struct{}{}
			<-ctx.Done()
			allocating.Add(-1)
			return nil
		})
	}()
	waitTerm := func(what string) {
		t.Helper()
		select {
		case <-terms:
		case err := <-done:
			t.Fatalf("Run returned %v before %s", err, what)
		case <-time.After(30 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	waitTerm("the first term")
	apiDown.Store(true)
	deadline := time.Now().Add(30 * time.Second)
	for e.Leading() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e.Leading() {
		t.Fatal("still allocating with every renewal failing")
	}
	apiDown.Store(false)
	waitTerm("a second term once the lease can be renewed again")
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
