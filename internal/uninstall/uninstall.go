package uninstall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// DefaultTimeout bounds the wait for the pods to stop: a speaker takes up
// to its termination grace period (10 s), the controller 5 s.
const DefaultTimeout = 2 * time.Minute

// Uninstaller removes ironlb from Namespace through the API.
type Uninstaller struct {
	Client    dynamic.Interface
	Namespace string
	// Timeout bounds the wait for the workloads' pods to stop.
	Timeout time.Duration
	// Poll is how often the wait looks; one second when zero.
	Poll time.Duration
	Log  *slog.Logger
}

// Run stops the workloads, waits (bounded) until their pods are gone, then
// deletes the Leftovers. The state is removed even when some pods did not
// stop in time (a node down: its pods cannot write any more); the error
// then names the workloads still there.
func (u *Uninstaller) Run(ctx context.Context) error {
	for _, w := range Workloads {
		if err := u.delete(ctx, w, metav1.DeletePropagationForeground); err != nil {
			return fmt.Errorf("stopping ironlb: %w", err)
		}
	}
	stopErr := u.waitGone(ctx, Workloads)
	found := map[schema.GroupVersionResource][]string{}
	for _, kind := range StateKinds {
		list, err := u.Client.Resource(kind).Namespace(u.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return errors.Join(stopErr, fmt.Errorf("listing %s in %s: %w", kind.GroupResource(), u.Namespace, err))
		}
		for _, item := range list.Items {
			found[kind] = append(found[kind], item.GetName())
		}
	}
	errs := []error{stopErr}
	for _, o := range Leftovers(found) {
		errs = append(errs, u.delete(ctx, o, metav1.DeletePropagationBackground))
	}
	return errors.Join(errs...)
}

// delete deletes o; an object already gone is no error.
func (u *Uninstaller) delete(ctx context.Context, o Object, propagation metav1.DeletionPropagation) error {
	err := u.Client.Resource(o.Resource).Namespace(u.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{PropagationPolicy: &propagation})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("deleting %s in %s: %w", o, u.Namespace, err)
	}
	u.Log.Info("deleted", "object", o.String(), "namespace", u.Namespace)
	return nil
}

// waitGone polls until none of objects exists, for at most u.Timeout.
func (u *Uninstaller) waitGone(ctx context.Context, objects []Object) error {
	poll := u.Poll
	if poll == 0 {
		poll = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, u.Timeout)
	defer cancel()
	start := time.Now()
	var lastErr error // the last error other than NotFound, for the message
	for {
		var present []Object
		for _, o := range objects {
			_, err := u.Client.Resource(o.Resource).Namespace(u.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				present = append(present, o)
			}
			if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
				lastErr = err
			}
		}
		if len(present) == 0 {
			u.Log.Info("every ironlb pod stopped", "after", time.Since(start).Round(100*time.Millisecond).String())
			return nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("waiting for %s in %s to go: %w", names(present), u.Namespace, lastErr)
			}
			return fmt.Errorf("%s in %s still there after %s: their pods have not all stopped (a node down? `kubectl -n %s get pods -l app=metallb`)",
				names(present), u.Namespace, u.Timeout, u.Namespace)
		case <-time.After(poll):
		}
	}
}
