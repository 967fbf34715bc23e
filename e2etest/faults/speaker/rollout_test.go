package speaker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/configstate"
)

// A BGPPeer whose password Secret the test deletes: that makes the whole
// configuration invalid (Secrets are not checked at admission). It selects
// no node, so no session is opened.
const (
	rolloutSecret = `apiVersion: v1
kind: Secret
metadata: {name: faults-peer-password, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {password: s3cret}
`
	rolloutPeer = `apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: faults-peer, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64500
  peerAddress: 192.0.2.1
  passwordSecret: {name: faults-peer-password, namespace: metallb-system}
  nodeSelectors:
  - matchLabels: {lab.ironlb.io/node: none}
`
)

// rolloutServices is how many Services the rollout is measured against.
const rolloutServices = 8

// TestInvalidConfigurationThenRollout makes the configuration invalid (a
// BGPPeer's password Secret deleted), then restarts every speaker with
// `kubectl rollout restart daemonset/speaker`. Each restarted speaker
// serves the last valid configuration it saved, so every Service address is
// answered by exactly one node afterwards (the fault table's "share of IPs
// answering ARP": 100 %). The share is also sampled during the rollout.
func TestInvalidConfigurationThenRollout(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	ips := make([]netip.Addr, rolloutServices)
	for i := range ips {
		ips[i] = createService(t, l, fmt.Sprintf("rollout-%d", i))
	}
	for _, ip := range ips {
		waitSingleAnswerer(t, l, ip)
	}
	lab.Eventually(t, time.Minute, "the BGPPeer with a password Secret is applied", func() error {
		return l.Apply(ctx, rolloutSecret+"---\n"+rolloutPeer)
	})
	t.Cleanup(func() {
		l.Kubectl(context.Background(), rolloutSecret, "apply", "-f", "-")                                                 //nolint:errcheck // best effort
		l.Kubectl(context.Background(), "", "-n", lab.IronLBNamespace, "delete", "bgppeer", "faults-peer", "--wait=false") //nolint:errcheck // best effort
	})
	time.Sleep(2 * time.Second) // every speaker saves the configuration with the peer as its last valid one
	secrets := l.KubeClient().CoreV1().Secrets(lab.IronLBNamespace)
	if err := secrets.Delete(ctx, "faults-peer-password", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	lab.Eventually(t, 30*time.Second, "the speakers refuse the configuration", func() error {
		out, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "get", "configurationstates", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.result} {end}")
		if err != nil {
			return err
		}
		for i := 1; i <= l.NodeCount(); i++ {
			if !slices.Contains(strings.Fields(out), configstate.SpeakerName(lab.NodeName(i))+"=Invalid") {
				return fmt.Errorf("configuration states: %s", out)
			}
		}
		return nil
	})

	sampler := sampleShare(l, ips)
	started := time.Now()
	if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "rollout", "restart", "daemonset/speaker"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Kubectl(ctx, "", "-n", lab.IronLBNamespace, "rollout", "status", "daemonset/speaker", "--timeout=5m"); err != nil {
		t.Fatal(err)
	}
	rolled := time.Since(started)
	minShare, samples := sampler.stop()

	answered := 0
	for _, ip := range ips {
		lab.Eventually(t, 20*time.Second, ip.String()+" answered by one node after the rollout", func() error {
			answerers, err := arpAnswerers(ctx, l, ip)
			if err != nil {
				return err
			}
			if len(answerers) != 1 {
				return fmt.Errorf("answered by %v", answerers)
			}
			return nil
		})
		answered++
	}
	t.Logf("rollout with an invalid configuration took %v; during it the share of %d addresses answering ARP was at least %d%% (%d samples); after it %d%%",
		rolled.Round(100*time.Millisecond), len(ips), minShare, samples, 100*answered/len(ips))
}

// shareSampler asks for every address from the client, in parallel, about
// twice a second, and keeps the lowest share of them answered.
type shareSampler struct {
	cancel  context.CancelFunc
	done    sync.WaitGroup
	min     atomic.Int64
	samples atomic.Int64
}

func sampleShare(l *lab.Lab, ips []netip.Addr) *shareSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &shareSampler{cancel: cancel}
	s.min.Store(100)
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		for ctx.Err() == nil {
			var answered atomic.Int64
			var wg sync.WaitGroup
			for _, ip := range ips {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := l.Client().Arping(ctx, ip); err == nil {
						answered.Add(1)
					}
				}()
			}
			wg.Wait()
			if ctx.Err() != nil {
				return
			}
			s.samples.Add(1)
			if share := 100 * answered.Load() / int64(len(ips)); share < s.min.Load() {
				s.min.Store(share)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	return s
}

// stop ends the sampling and returns the lowest share seen, in percent, and
// the number of samples.
func (s *shareSampler) stop() (minShare, samples int64) {
	s.cancel()
	s.done.Wait()
	return s.min.Load(), s.samples.Load()
}
