package controller

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaseName is the coordination.k8s.io Lease, in the controller's namespace,
// that the controller holding it allocates under. Controllers of different
// loadBalancerClasses run in namespaces of their own, hence leases of their
// own.
const LeaseName = "ironlb-controller"

// Lease timings: a leader that cannot renew for RenewDeadline stops
// allocating; a candidate takes over a lease its holder stopped renewing
// LeaseDuration ago. A leader that stops on purpose (SIGTERM) releases the
// lease, so its successor takes over at its next try.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// errLeaseLost says the controller stopped allocating because it could not
// renew its lease: another controller may be allocating now.
var errLeaseLost = errors.New("lost the controller lease: stopped allocating")

// Election runs the allocating part of the controller only while this
// process holds the Lease, so that two controllers (a rolling update, a
// second replica) never allocate at once.
type Election struct {
	Kube      kubernetes.Interface
	Namespace string
	// Host is the pod name (the hostname). A lease its holder took under
	// the same Host was held by an earlier process of this pod (a
	// restarted container): that process is gone, so the lease is taken
	// over at once instead of after LeaseDuration.
	Host string
	// Identity names this process in the Lease: Host, "_" and a random
	// suffix.
	Identity string
	Log      *slog.Logger
	// LeaseDuration, RenewDeadline and RetryPeriod default to the
	// Default* values when zero.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	leading atomic.Bool
}

// Leading reports whether lead is running.
func (e *Election) Leading() bool { return e.leading.Load() }

// Run waits for the Lease, then runs lead until ctx is done or lead
// returns. The Lease is released only once lead has returned, so the next
// leader never starts while this one still allocates. A Lease lost (not
// renewed for RenewDeadline, as while the API server is down) stops lead;
// the process then waits for the Lease again and runs lead anew (lead must
// start from nothing each time) instead of exiting: a controller that
// exited on every lost lease would, after a long API server outage, sit in
// its container's restart back-off (up to 5 minutes) once the API server
// is back. Run returns nil when ctx ended it, or lead's error.
func (e *Election) Run(ctx context.Context, lead func(context.Context) error) error {
	for {
		err := e.runTerm(ctx, lead)
		if !errors.Is(err, errLeaseLost) || ctx.Err() != nil {
			return err
		}
		e.Log.Error("lost the controller lease: stopped allocating; waiting for it again", "identity", e.Identity)
	}
}

// runTerm waits for the Lease, then runs lead until ctx is done, lead
// returns or the Lease is lost (errLeaseLost).
func (e *Election) runTerm(ctx context.Context, lead func(context.Context) error) error {
	// The elector's context outlives ctx: on SIGTERM lead stops first, then
	// the lease is released.
	electCtx, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()
	var started atomic.Bool
	leadDone := make(chan error, 1)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: e.Namespace, Name: LeaseName},
			Client:     e.Kube.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
		},
		LeaseDuration:   cmp.Or(e.LeaseDuration, DefaultLeaseDuration),
		RenewDeadline:   cmp.Or(e.RenewDeadline, DefaultRenewDeadline),
		RetryPeriod:     cmp.Or(e.RetryPeriod, DefaultRetryPeriod),
		ReleaseOnCancel: true,
		Name:            LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaseCtx context.Context) {
				started.Store(true)
				leadDone <- e.lead(ctx, leaseCtx, lead)
				stopElecting()
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return err
	}
	stopWaiting := context.AfterFunc(ctx, func() {
		if !started.Load() {
			stopElecting() // not leading: nothing to hand over
		}
	})
	defer stopWaiting()
	e.takeOverFromOwnHost(ctx)
	e.Log.Info("waiting for the controller lease", "lease", e.Namespace+"/"+LeaseName, "identity", e.Identity)
	elector.Run(electCtx)
	if ctx.Err() == nil {
		return <-leadDone // lead failed, or the lease was lost
	}
	select {
	case err := <-leadDone:
		return err
	default:
		return nil
	}
}

// lead runs lead until ctx is done or the lease is lost.
func (e *Election) lead(ctx, leaseCtx context.Context, lead func(context.Context) error) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(leaseCtx, cancel)()
	e.Log.Info("holding the controller lease: allocating", "identity", e.Identity)
	e.leading.Store(true)
	err := lead(runCtx)
	e.leading.Store(false)
	switch {
	case ctx.Err() != nil:
		e.Log.Info("stopping: releasing the controller lease")
		return nil
	case leaseCtx.Err() != nil:
		return errLeaseLost
	}
	return err
}

// takeOverFromOwnHost releases the lease when an earlier process of this
// pod holds it, so that a restarted container need not wait for it to
// expire. Errors only mean waiting for the expiry.
func (e *Election) takeOverFromOwnHost(ctx context.Context) {
	leases := e.Kube.CoordinationV1().Leases(e.Namespace)
	lease, err := leases.Get(ctx, LeaseName, metav1.GetOptions{})
	if err != nil || e.Host == "" || lease.Spec.HolderIdentity == nil {
		return
	}
	holder := *lease.Spec.HolderIdentity
	if holder == e.Identity || !strings.HasPrefix(holder, e.Host+"_") {
		return
	}
	lease.Spec.HolderIdentity = nil
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err == nil {
		e.Log.Info("took over the controller lease from an earlier process of this pod", "previous", holder)
	}
}
