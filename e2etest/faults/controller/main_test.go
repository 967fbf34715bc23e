// Package controller puts the installed ironlb controller (pods mode) through
// the faults of issue 16 and measures what they cost: a rollout while 500
// Services are created, a status write the API server refuses with 429, the
// API server and etcd down, pools deleted and shrunk, and a flood of slow
// and idle connections. An invariant checker watches every Service's status
// throughout: no address is ever shown by two Services, and none changes once
// shown. docs/reliability.md records the figures.
package controller

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/annotations"
)

func TestMain(m *testing.M) { os.Exit(lab.Main(m, lab.Options{Pods: true})) }

// Pools of the scenarios. None is announced except faults-l2 (the outage
// scenario checks that announcements survive); every pool but faults-l2 is
// asked for by annotation only.
const faultsConfig = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: faults-rollout
  namespace: metallb-system
spec:
  addresses: [10.200.0.0/22]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: faults-one
  namespace: metallb-system
spec:
  addresses: [10.201.0.1/32]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: faults-other
  namespace: metallb-system
spec:
  addresses: [10.201.1.0/28]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: faults-l2
  namespace: metallb-system
spec:
  addresses: [172.30.0.200-172.30.0.229]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: faults-l2
  namespace: metallb-system
spec:
  ipAddressPools: [faults-l2]
`

var configured bool

// setup returns the shared lab with faultsConfig applied.
func setup(tb testing.TB) *lab.Lab {
	tb.Helper()
	l := lab.Shared(tb)
	if !configured {
		lab.Eventually(tb, time.Minute, "the fault scenarios' pools are applied through the webhook", func() error {
			return l.Apply(context.Background(), faultsConfig)
		})
		configured = true
	}
	return l
}

// createNamespace creates a namespace for one scenario's Services and
// deletes it when the test ends.
func createNamespace(tb testing.TB, l *lab.Lab, name string) {
	tb.Helper()
	kube := l.KubeClient()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := kube.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		err := kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			tb.Errorf("delete namespace %s: %v", name, err)
		}
	})
}

// inPool returns a LoadBalancer Service (IPv4 only) asking for pool.
func inPool(namespace, name, pool string) *corev1.Service {
	svc := lab.NewLoadBalancerService(namespace, name)
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	single := corev1.IPFamilyPolicySingleStack
	svc.Spec.IPFamilyPolicy = &single
	svc.Annotations = map[string]string{annotations.AddressPool: pool}
	return svc
}

// shownIPs returns the addresses a Service's status shows.
func shownIPs(svc *corev1.Service) []string {
	var ips []string
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP != "" {
			ips = append(ips, ing.IP)
		}
	}
	return ips
}

// statusChecker follows every Service's status through one watch (events in
// the order the API server committed them) and records each moment an
// address is shown by two Services that do not carry the same
// allow-shared-ip key, and each Service whose address changed once shown
// (to another address; a Service that loses its address and gets it back
// changes nothing).
type statusChecker struct {
	mu         sync.Mutex
	services   map[string]*corev1.Service
	first      map[string][]string
	violations []string
	changed    []string
	// firstShown are the moments Services first showed an address, in
	// the order seen.
	firstShown []time.Time
}

// watchStatuses starts a statusChecker on the lab's Services; it stops when
// the test ends.
func watchStatuses(tb testing.TB, l *lab.Lab) *statusChecker {
	tb.Helper()
	c := newStatusChecker()
	c.follow(tb, l)
	return c
}

// newStatusChecker returns a statusChecker that has seen nothing yet.
func newStatusChecker() *statusChecker {
	return &statusChecker{services: map[string]*corev1.Service{}, first: map[string][]string{}}
}

// follow starts a watch of the lab's Services feeding c and returns once
// it has listed them; the returned function stops it (the test's end
// does too). A new watch after an outage lists at once, where client-go
// retries a failed one only after a back-off of up to a minute.
func (c *statusChecker) follow(tb testing.TB, l *lab.Lab) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(l.KubeClient(), 0)
	informer := factory.Core().V1().Services().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.observe(obj, false) },
		UpdateFunc: func(_, obj any) { c.observe(obj, false) },
		DeleteFunc: func(obj any) { c.observe(obj, true) },
	}); err != nil {
		tb.Fatal(err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	stop = sync.OnceFunc(func() { cancel(); factory.Shutdown() })
	tb.Cleanup(stop)
	return stop
}

func (c *statusChecker) observe(obj any, deleted bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	key := svc.Namespace + "/" + svc.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted {
		delete(c.services, key)
		delete(c.first, key)
		return
	}
	c.services[key] = svc
	ips := shownIPs(svc)
	if first, ok := c.first[key]; ok && len(ips) > 0 && !slices.Equal(first, ips) {
		c.changed = append(c.changed, fmt.Sprintf("%s: %v, then %v (resourceVersion %s)", key, first, ips, svc.ResourceVersion))
	} else if !ok && len(ips) > 0 {
		c.first[key] = ips
		c.firstShown = append(c.firstShown, time.Now())
	}
	c.checkShared(svc, key, ips)
}

// checkShared records every other Service showing one of ips without the
// same sharing key.
func (c *statusChecker) checkShared(svc *corev1.Service, key string, ips []string) {
	for otherKey, other := range c.services {
		if otherKey == key {
			continue
		}
		sharingKey := svc.Annotations[annotations.AllowSharedIP]
		for _, ip := range shownIPs(other) {
			if slices.Contains(ips, ip) && (sharingKey == "" || other.Annotations[annotations.AllowSharedIP] != sharingKey) {
				c.violations = append(c.violations, fmt.Sprintf("%s shown by %s and %s (resourceVersion %s)", ip, key, otherKey, svc.ResourceVersion))
			}
		}
	}
}

// report returns the violations and changes seen so far.
func (c *statusChecker) report() (violations, changed []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.violations), slices.Clone(c.changed)
}

// check fails the test on any violation or change seen so far.
func (c *statusChecker) check(tb testing.TB) {
	tb.Helper()
	violations, changed := c.report()
	if len(violations) > 0 {
		tb.Errorf("%d times an address was shown by two Services:\n%s", len(violations), strings.Join(violations, "\n"))
	}
	if len(changed) > 0 {
		tb.Errorf("%d Services' addresses changed:\n%s", len(changed), strings.Join(changed, "\n"))
	}
}

// assigned returns the Services of namespace that show an address, by key,
// with it.
func (c *statusChecker) assigned(namespace string) map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]string{}
	for key, svc := range c.services {
		if svc.Namespace == namespace && len(shownIPs(svc)) > 0 {
			out[key] = shownIPs(svc)
		}
	}
	return out
}

// percentile returns the p-th percentile (0-100) of durations.
func percentile(durations []time.Duration, p float64) time.Duration {
	if len(durations) == 0 {
		return 0
	}
	sorted := slices.Clone(durations)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// longestPause returns the longest time between two Services first showing
// an address after since, and when it began.
func (c *statusChecker) longestPause(since time.Time) (pause time.Duration, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 1; i < len(c.firstShown); i++ {
		if c.firstShown[i-1].Before(since) {
			continue
		}
		if gap := c.firstShown[i].Sub(c.firstShown[i-1]); gap > pause {
			pause, at = gap, c.firstShown[i-1]
		}
	}
	return pause, at
}
