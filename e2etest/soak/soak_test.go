package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/annotations"
)

// The soak's pools: soak-a assigns automatically (and holds the shared
// address); soak-b only on request, and is shrunk and grown again.
var (
	sharedIP    = netip.MustParseAddr("172.30.0.222")
	poolBFirst  = netip.MustParseAddr("172.30.0.225")
	poolBLast   = netip.MustParseAddr("172.30.0.250")
	poolBShrunk = netip.MustParseAddr("172.30.0.237")
)

const (
	soakLabel   = "soak.ironlb.io/churn"
	shareKey    = "soak-share"
	maxServices = 24
	// Periods of the churn.
	churnStep        = time.Second
	poolEditEvery    = 90 * time.Second
	controllerKillAt = 4 * time.Minute
	speakerKillAt    = 2 * time.Minute
	checkEvery       = 10 * time.Second
	sampleEvery      = time.Minute
	// warmUp passes before the first memory sample counts as the baseline.
	warmUp = 2 * time.Minute
)

func configYAML(poolBEnd netip.Addr) string {
	return fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: soak-a, namespace: %[1]s}
spec:
  addresses: [172.30.0.193-172.30.0.222]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: soak-b, namespace: %[1]s}
spec:
  addresses: [%[2]s-%[3]s]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: soak, namespace: %[1]s}
spec:
  ipAddressPools: [soak-a, soak-b]
`, lab.IronLBNamespace, poolBFirst, poolBEnd)
}

// TestSoak churns for IRONLB_SOAK_DURATION and fails on any violation of
// the invariants (see checker) and on memory or goroutines of the speaker
// that is never killed growing over the run.
func TestSoak(t *testing.T) {
	duration := soakDuration(t)
	l := lab.Shared(t)
	ctx := t.Context()
	lab.Eventually(t, time.Minute, "the soak's pools are applied through the webhook", func() error {
		return l.Apply(ctx, configYAML(poolBLast))
	})
	// The backend DaemonSet the churned Services select (every node's).
	anchor := l.CreateService(t, newService("soak-anchor", 80, nil))
	if err := l.SetEndpoints(ctx, anchor, 1, 2, 3); err != nil {
		t.Fatal(err)
	}

	c := newChecker(l, t.Logf)
	s := &soak{l: l, t: t, rng: rand.New(rand.NewPCG(1, 2)), created: map[string]time.Time{}}
	start := time.Now()
	end := start.Add(duration)
	tick := time.NewTicker(churnStep)
	defer tick.Stop()
	var lastPoolEdit, lastControllerKill, lastSpeakerKill, lastCheck, lastSample time.Time
	lastPoolEdit, lastControllerKill, lastSpeakerKill = start, start, start
	shrunk := false
	speakerNode := 2
	for now := range tick.C {
		if now.After(end) {
			break
		}
		s.churn(ctx)
		switch {
		case now.Sub(lastPoolEdit) >= poolEditEvery:
			shrunk = !shrunk
			last := poolBLast
			if shrunk {
				last = poolBShrunk
			}
			if err := l.Apply(ctx, configYAML(last)); err != nil {
				t.Logf("pool edit: %v", err)
			} else {
				c.setPoolBEnd(last)
				s.poolEdits++
			}
			lastPoolEdit = now
		case now.Sub(lastControllerKill) >= controllerKillAt:
			if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "delete", "pod", "-l", "component=controller", "--wait=false"); err != nil {
				t.Logf("controller kill: %v", err)
			} else {
				s.controllerKills++
			}
			lastControllerKill = now
		case now.Sub(lastSpeakerKill) >= speakerKillAt:
			// node1's speaker is never killed: its memory is the one measured.
			if err := l.KillSpeakerContainer(ctx, speakerNode); err != nil {
				t.Logf("speaker kill on node%d: %v", speakerNode, err)
			} else {
				s.speakerKills++
			}
			speakerNode = 5 - speakerNode // 2, 3, 2, ...
			lastSpeakerKill = now
		}
		if now.Sub(lastCheck) >= checkEvery {
			c.check(ctx, s.created)
			lastCheck = now
		}
		if now.Sub(lastSample) >= sampleEvery {
			c.sample(ctx, now.Sub(start) >= warmUp)
			lastSample = now
			// Progress, so that a run cut short still tells what it saw.
			t.Logf("%v in: %d live Services, %d created, %d pool edits, %d controller and %d speaker kills, %d checks, %d violations; %s",
				now.Sub(start).Round(time.Second), len(s.created), s.creates, s.poolEdits, s.controllerKills, s.speakerKills,
				c.checks, len(c.violations), c.samples[len(c.samples)-1])
		}
	}
	t.Logf("soak of %v: %d Services created, %d deleted, %d pool edits, %d controller kills, %d speaker kills, %d checks",
		duration, s.creates, s.deletes, s.poolEdits, s.controllerKills, s.speakerKills, c.checks)
	c.report(t)
}

// soak is the churn's state.
type soak struct {
	l                                        *lab.Lab
	t                                        *testing.T
	rng                                      *rand.Rand
	next                                     int
	created                                  map[string]time.Time // live Services, by name
	creates, deletes                         int
	poolEdits, controllerKills, speakerKills int
}

// churn creates or deletes one Service, at random: below half of
// maxServices it always creates, so that about 12 to 24 live at once.
func (s *soak) churn(ctx context.Context) {
	services := s.l.KubeClient().CoreV1().Services("default")
	if len(s.created) < maxServices && (len(s.created) < maxServices/2 || s.rng.IntN(2) == 0) {
		s.next++
		name := fmt.Sprintf("soak-%d", s.next)
		var ann map[string]string
		port := int32(80)
		switch s.rng.IntN(3) {
		case 1:
			ann = map[string]string{annotations.AddressPool: "soak-b"}
		case 2: // shares sharedIP with the other sharing Services, on its own port
			ann = map[string]string{annotations.AllowSharedIP: shareKey, annotations.LoadBalancerIPs: sharedIP.String()}
			port = 10000 + int32(s.next)
		}
		if _, err := services.Create(ctx, newService(name, port, ann), metav1.CreateOptions{}); err != nil {
			s.t.Logf("create %s: %v", name, err)
			return
		}
		s.created[name] = time.Now()
		s.creates++
		return
	}
	for name := range s.created { // a random one: map order
		if err := services.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			s.t.Logf("delete %s: %v", name, err)
			return
		}
		delete(s.created, name)
		s.deletes++
		return
	}
}

// newService is an IPv4 LoadBalancer Service of every node's backend.
func newService(name string, port int32, ann map[string]string) *corev1.Service {
	svc := lab.NewLoadBalancerService("default", name)
	single := corev1.IPFamilyPolicySingleStack
	svc.Spec.IPFamilyPolicy = &single
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	svc.Spec.Ports[0].Port = port
	svc.Spec.Ports[0].TargetPort = intstr.FromInt32(80)
	svc.Labels = map[string]string{soakLabel: "true"}
	svc.Annotations = ann
	if name != "soak-anchor" {
		svc.Spec.Selector = map[string]string{"app": "lab-backend"}
	}
	return svc
}

// metricValue returns the value of an unlabelled metric in a /metrics text.
func metricValue(text, name string) (float64, bool) {
	for line := range strings.Lines(text) {
		if value, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			if _, err := fmt.Sscan(value, &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}
