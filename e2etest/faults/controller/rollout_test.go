package controller

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// rolloutServices is how many Services the rollout scenario creates.
const rolloutServices = 500

// Two controller rollouts (the Deployment is Recreate, the controller
// allocates only under its Lease) while 500 Services are created, eight at
// a time: no address is ever shown by two Services, none changes, and every
// Service ends with its own.
func TestRolloutWhileServicesAreCreated(t *testing.T) {
	l := setup(t)
	ctx := context.Background()
	const ns = "faults-rollout"
	createNamespace(t, l, ns)
	checker := watchStatuses(t, l)

	start := time.Now()
	var created atomic.Int32
	createErrs := make(chan error, rolloutServices)
	var creators sync.WaitGroup
	names := make(chan string)
	for range 8 {
		creators.Go(func() {
			for name := range names {
				_, err := l.KubeClient().CoreV1().Services(ns).Create(ctx, inPool(ns, name, "faults-rollout"), metav1.CreateOptions{})
				if err != nil {
					createErrs <- fmt.Errorf("create %s: %w", name, err)
				}
				created.Add(1)
			}
		})
	}
	// 20 creations a second: the rollouts happen while Services keep
	// coming.
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := range rolloutServices {
			<-tick.C
			names <- fmt.Sprintf("svc-%03d", i)
		}
		close(names)
	}()

	for _, after := range []int32{rolloutServices / 5, rolloutServices * 3 / 5} {
		lab.Eventually(t, 5*time.Minute, fmt.Sprintf("%d Services are created", after), func() error {
			if n := created.Load(); n < after {
				return fmt.Errorf("%d created", n)
			}
			return nil
		})
		rolloutAt := time.Since(start)
		assignedBefore := len(checker.assigned(ns))
		if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "rollout", "restart", "deployment/controller"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "rollout", "status", "deployment/controller", "--timeout=5m"); err != nil {
			t.Fatal(err)
		}
		t.Logf("rollout at %s (%d created, %d assigned) done at %s (%d created, %d assigned)",
			rolloutAt.Round(100*time.Millisecond), after, assignedBefore,
			time.Since(start).Round(100*time.Millisecond), created.Load(), len(checker.assigned(ns)))
	}
	creators.Wait()
	close(createErrs)
	for err := range createErrs {
		t.Error(err)
	}
	createdAt := time.Since(start)

	lab.Eventually(t, 5*time.Minute, "every Service shows an address", func() error {
		if n := len(checker.assigned(ns)); n < rolloutServices {
			return fmt.Errorf("%d of %d", n, rolloutServices)
		}
		return nil
	})
	distinct := map[string]string{}
	for key, ips := range checker.assigned(ns) {
		for _, ip := range ips {
			if other, ok := distinct[ip]; ok {
				t.Errorf("%s shown by %s and %s at the end", ip, key, other)
			}
			distinct[ip] = key
		}
	}
	pause, at := checker.longestPause(start)
	t.Logf("%d Services created in %s, all assigned after %s; %d distinct addresses; longest pause between two first assignments %s, from %s",
		rolloutServices, createdAt.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond), len(distinct),
		pause.Round(10*time.Millisecond), at.Sub(start).Round(100*time.Millisecond))
	checker.check(t)
}
