package soak

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/annotations"
)

// tolerance is how long an address may be answered wrongly (by two nodes,
// by none, or after its Service went away) before it is a violation: the
// churn kills speakers (a failover takes under a second) and edits pools.
const tolerance = 20 * time.Second

// assignWithin is how long a new Service of soak-a may wait for an address.
const assignWithin = 30 * time.Second

// checker checks the invariants and samples memory.
type checker struct {
	l        *lab.Lab
	log      func(format string, args ...any)
	poolBEnd netip.Addr
	// shown is the address each Service showed, by name, to see it change.
	shown map[string]netip.Addr
	// badSince is when each address was first seen answered wrongly in the
	// current streak, and why.
	badSince map[netip.Addr]time.Time
	badWhy   map[netip.Addr]string
	// reported are addresses whose current streak is already a violation.
	reported   map[netip.Addr]bool
	violations []string
	checks     int
	samples    []sample
}

// sample is the memory and goroutines of node1's speaker and of the
// controller at one moment.
type sample struct {
	at                   time.Time
	baseline             bool // taken after the warm-up
	speakerRSS           float64
	speakerGoroutines    float64
	controllerPod        string
	controllerRSS        float64
	controllerGoroutines float64
}

func (s sample) String() string {
	return fmt.Sprintf("speaker node1 RSS %.1f MiB, %v goroutines; controller %s RSS %.1f MiB, %v goroutines",
		s.speakerRSS/(1<<20), s.speakerGoroutines, s.controllerPod, s.controllerRSS/(1<<20), s.controllerGoroutines)
}

func newChecker(l *lab.Lab, log func(format string, args ...any)) *checker {
	return &checker{l: l, log: log, poolBEnd: poolBLast, shown: map[string]netip.Addr{}, badSince: map[netip.Addr]time.Time{},
		badWhy: map[netip.Addr]string{}, reported: map[netip.Addr]bool{}}
}

func (c *checker) setPoolBEnd(last netip.Addr) { c.poolBEnd = last }

func (c *checker) violate(format string, args ...any) {
	v := time.Now().Format("15:04:05 ") + fmt.Sprintf(format, args...)
	c.violations = append(c.violations, v)
	c.log("violation: %s", v)
}

// inPools reports whether ip is in one of the soak's pools as configured
// now: an address outside them is kept by its Service but not announced.
func (c *checker) inPools(ip netip.Addr) bool {
	a := netip.MustParseAddr("172.30.0.193")
	return !ip.Less(a) && !sharedIP.Less(ip) || !ip.Less(poolBFirst) && !c.poolBEnd.Less(ip)
}

// allAddresses are every address either pool ever has.
func allAddresses() []netip.Addr {
	var out []netip.Addr
	for ip := netip.MustParseAddr("172.30.0.193"); !sharedIP.Less(ip); ip = ip.Next() {
		out = append(out, ip)
	}
	for ip := poolBFirst; !poolBLast.Less(ip); ip = ip.Next() {
		out = append(out, ip)
	}
	return out
}

// check runs one round: the Services' statuses, then who answers ARP for
// every pool address.
func (c *checker) check(ctx context.Context, created map[string]time.Time) {
	c.checks++
	list, err := c.l.KubeClient().CoreV1().Services("default").List(ctx, metav1.ListOptions{LabelSelector: soakLabel + "=true"})
	if err != nil {
		return
	}
	holders := map[netip.Addr][]*corev1.Service{}
	for i := range list.Items {
		svc := &list.Items[i]
		ip := ingressIP(svc)
		if prev, ok := c.shown[svc.Name]; ok && prev != ip {
			c.violate("lost IP: Service %s showed %s, now %q", svc.Name, prev, ip)
			delete(c.shown, svc.Name)
		}
		if !ip.IsValid() {
			// soak-b may be exhausted while shrunk, and the shared address
			// may be held by a Service that does not share.
			waits := svc.Annotations[annotations.AddressPool] != "" || svc.Annotations[annotations.LoadBalancerIPs] != ""
			if at, ok := created[svc.Name]; ok && time.Since(at) > assignWithin && !waits {
				c.violate("Service %s has had no address for %v", svc.Name, time.Since(at).Round(time.Second))
				delete(created, svc.Name) // once
			}
			continue
		}
		c.shown[svc.Name] = ip
		holders[ip] = append(holders[ip], svc)
	}
	for name := range c.shown {
		if !slices.ContainsFunc(list.Items, func(s corev1.Service) bool { return s.Name == name }) {
			delete(c.shown, name)
		}
	}
	for ip, svcs := range holders {
		if len(svcs) > 1 && slices.ContainsFunc(svcs, func(s *corev1.Service) bool { return s.Annotations[annotations.AllowSharedIP] != shareKey }) {
			names := make([]string, len(svcs))
			for i, s := range svcs {
				names[i] = s.Name
			}
			c.violate("double IP: %s shown by %v without a common sharing key", ip, names)
		}
	}
	answers, err := answerers(ctx, c.l, allAddresses())
	if err != nil {
		return
	}
	now := time.Now()
	for _, ip := range allAddresses() {
		want := 0
		if len(holders[ip]) > 0 && c.inPools(ip) {
			want = 1
		}
		got := answers[ip]
		if len(got) == want {
			delete(c.badSince, ip)
			delete(c.reported, ip)
			continue
		}
		why := fmt.Sprintf("%s answered by %v, want %d node(s) (Services %d, in a pool %v)", ip, got, want, len(holders[ip]), c.inPools(ip))
		if _, ok := c.badSince[ip]; !ok {
			c.badSince[ip] = now
		}
		c.badWhy[ip] = why
		if since := now.Sub(c.badSince[ip]); since >= tolerance && !c.reported[ip] {
			kind := map[bool]string{true: "stale announcement", false: "wrong answerers"}[want == 0]
			c.violate("%s for %v: %s", kind, since.Round(time.Second), why)
			c.reported[ip] = true
		}
	}
}

// ingressIP is a Service's first ingress address, zero without one.
func ingressIP(svc *corev1.Service) netip.Addr {
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			return ip
		}
	}
	return netip.Addr{}
}

// answerers sends one ARP request for each address from the client, all at
// once, and returns the nodes whose replies arrived, per address.
func answerers(ctx context.Context, l *lab.Lab, ips []netip.Addr) (map[netip.Addr][]string, error) {
	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		return nil, err
	}
	defer capture.Close()
	var wg sync.WaitGroup
	for _, ip := range ips {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Client().Arping(ctx, ip) //nolint:errcheck // unanswered is an answer too
		}()
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	macs := map[string]string{}
	for _, n := range l.Nodes() {
		if mac, err := n.MAC(); err == nil {
			macs[mac.String()] = n.Name
		}
	}
	out := map[netip.Addr][]string{}
	for _, f := range capture.Frames() {
		if f.Kind != lab.ARPReply {
			continue
		}
		node, ok := macs[f.Source.String()]
		if !ok {
			node = f.Source.String()
		}
		if !slices.Contains(out[f.IP], node) {
			out[f.IP] = append(out[f.IP], node)
		}
	}
	return out, nil
}

// sample records node1's speaker's and the controller's memory and
// goroutines.
func (c *checker) sample(ctx context.Context, baseline bool) {
	s := sample{at: time.Now(), baseline: baseline}
	if text, err := c.l.Node(1).Exec(ctx, "curl", "-sf", "--max-time", "2", "http://127.0.0.1:7472/metrics"); err == nil {
		s.speakerRSS, _ = metricValue(text, "process_resident_memory_bytes")
		s.speakerGoroutines, _ = metricValue(text, "go_goroutines")
	}
	if pod, err := c.l.ControllerPod(ctx); err == nil {
		s.controllerPod = pod.Name
		if text, err := lab.Scrape(ctx, c.l.ControllerMetricsURL()); err == nil {
			s.controllerRSS, _ = metricValue(text, "process_resident_memory_bytes")
			s.controllerGoroutines, _ = metricValue(text, "go_goroutines")
		}
	}
	c.samples = append(c.samples, s)
}

// report logs the samples and the violations, and fails the test on any
// violation or on node1's speaker growing: its last sample against the
// first after the warm-up.
func (c *checker) report(t *testing.T) {
	var b strings.Builder
	for _, s := range c.samples {
		fmt.Fprintf(&b, "\n  %s %s", s.at.Format("15:04:05"), s)
	}
	t.Logf("samples:%s", b.String())
	for _, v := range c.violations {
		t.Errorf("violation: %s", v)
	}
	t.Logf("%d violations in %d checks", len(c.violations), c.checks)
	i := slices.IndexFunc(c.samples, func(s sample) bool { return s.baseline && s.speakerRSS > 0 })
	if i < 0 || i == len(c.samples)-1 {
		t.Logf("too short for a memory trend: %d samples", len(c.samples))
		return
	}
	first, last := c.samples[i], c.samples[len(c.samples)-1]
	t.Logf("node1's speaker from %s to %s: RSS %.1f → %.1f MiB, goroutines %v → %v", first.at.Format("15:04:05"), last.at.Format("15:04:05"),
		first.speakerRSS/(1<<20), last.speakerRSS/(1<<20), first.speakerGoroutines, last.speakerGoroutines)
	// Flat: within the garbage collector's headroom (GOGC 100 lets the heap
	// double) plus a little, and a few goroutines of work in flight.
	if last.speakerRSS > 2*first.speakerRSS+16<<20 {
		t.Errorf("node1's speaker's RSS grew from %.1f to %.1f MiB", first.speakerRSS/(1<<20), last.speakerRSS/(1<<20))
	}
	if last.speakerGoroutines > first.speakerGoroutines+50 {
		t.Errorf("node1's speaker's goroutines grew from %v to %v", first.speakerGoroutines, last.speakerGoroutines)
	}
}
