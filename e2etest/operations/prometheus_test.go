package operations

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// labRules is manifests/prometheus/rules.yaml with every `for:` hold cut to
// 5 s, so that the lab sees alerts fire within seconds rather than minutes.
// Expressions, labels and annotations are the shipped ones; the holds
// themselves are covered by the promtool unit tests (rules_test.yaml).
func labRules(t *testing.T, l *lab.Lab) []byte {
	t.Helper()
	data, err := os.ReadFile(l.ManifestPath("prometheus/rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	holds := regexp.MustCompile(`(?m)^(\s+for: )\S+$`)
	if n := len(holds.FindAll(data, -1)); n == 0 {
		t.Fatal("rules.yaml has no `for:` hold to shorten")
	}
	return holds.ReplaceAll(data, []byte("${1}5s"))
}

// startPrometheus runs the lab's Prometheus with the lab rules, stopped when
// the test ends, and waits until every target is scraped.
func startPrometheus(t *testing.T, l *lab.Lab) *lab.Prometheus {
	t.Helper()
	p, err := l.StartPrometheus(t.Context(), lab.PrometheusOptions{Rules: labRules(t, l), Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	lab.Eventually(t, 30*time.Second, "Prometheus scrapes the controller and every speaker", func() error {
		targets, err := p.Targets(t.Context())
		if err != nil {
			return err
		}
		up := map[string]bool{}
		for _, target := range targets {
			if target.Health != "up" {
				return fmt.Errorf("%s is %s: %s", target.ScrapeURL, target.Health, target.LastError)
			}
			up[target.Labels["job"]+"/"+target.Labels["pod"]] = true
		}
		want := []string{"controller/" + controllerPodName(t, l)}
		for i := 1; i <= l.NodeCount(); i++ {
			want = append(want, "speaker/"+speakerPodName(t, l, i))
		}
		for _, w := range want {
			if !up[w] {
				return fmt.Errorf("target %s not scraped (have %v)", w, up)
			}
		}
		return nil
	})
	return p
}

// controllerPodName is the Ready controller pod's name, which Prometheus
// puts in the pod label.
func controllerPodName(t *testing.T, l *lab.Lab) string {
	t.Helper()
	pod, err := l.ControllerPod(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return pod.Name
}

// speakerPodName is node i's speaker pod's name.
func speakerPodName(t *testing.T, l *lab.Lab, i int) string {
	t.Helper()
	pod, err := l.SpeakerPod(t.Context(), i)
	if err != nil {
		t.Fatal(err)
	}
	return pod.Name
}

// firing returns the names of the firing alerts, with their labels.
func firing(t *testing.T, p *lab.Prometheus) map[string][]map[string]string {
	t.Helper()
	alerts, err := p.Alerts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]string{}
	for _, a := range alerts {
		if a.State == "firing" {
			out[a.Labels["alertname"]] = append(out[a.Labels["alertname"]], a.Labels)
		}
	}
	return out
}

// TestPoolExhaustionAlertFires: Debian's Prometheus scrapes the controller
// and the speakers with ironlb's alert rules loaded. Filling a /30 pool with
// four Services makes MetalLBAddressPoolExhausted (and NearlyExhausted) fire
// for that pool, as /api/v1/alerts reports, and no other alert fires.
func TestPoolExhaustionAlertFires(t *testing.T) {
	l := setup(t)
	p := startPrometheus(t, l)
	controller := controllerPodName(t, l)
	applyConfig(t, l, l2Pool("ops-full", "172.30.0.240/30")...)
	for i := range 4 {
		waitIP(t, l, ipv4Service(t, l, fmt.Sprintf("ops-full-%d", i), "ops-full"))
	}

	lab.Eventually(t, 60*time.Second, "MetalLBAddressPoolExhausted fires for ops-full", func() error {
		samples, err := p.Query(t.Context(), `metallb_allocator_addresses_in_use_total{pool="ops-full"} / metallb_allocator_addresses_total{pool="ops-full"}`)
		if err != nil {
			return err
		}
		if len(samples) != 1 || samples[0].Value != 1 {
			return fmt.Errorf("pool usage %+v, want 1 (4 of 4)", samples)
		}
		alerts := firing(t, p)
		for _, name := range []string{"MetalLBAddressPoolExhausted", "MetalLBAddressPoolNearlyExhausted"} {
			if !slices.ContainsFunc(alerts[name], func(labels map[string]string) bool {
				return labels["pool"] == "ops-full" && labels["job"] == "controller" && labels["pod"] == controller
			}) {
				return fmt.Errorf("%s not firing for ops-full; firing: %v", name, alerts)
			}
		}
		return nil
	})
	var others []string
	for name := range firing(t, p) {
		if !strings.HasPrefix(name, "MetalLBAddressPool") {
			others = append(others, name)
		}
	}
	sort.Strings(others)
	if len(others) > 0 {
		t.Errorf("alerts firing without cause: %v", others)
	}
}

// TestSpeakerMissingFromMemberlistAlertFires: node3's speaker keeps running
// and being scraped, but cannot reach the other speakers (blackhole routes
// to their addresses in node3's namespace, as a firewall dropping port 7946
// would). Each side then sees fewer memberlist members than the speakers
// Prometheus scrapes, and IronLBSpeakerMissingFromMemberlist fires for all
// three; once the routes are gone, the members agree again and it resolves.
func TestSpeakerMissingFromMemberlistAlertFires(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	if l.NodeCount() < 3 {
		t.Fatalf("needs 3 nodes, the lab has %d", l.NodeCount())
	}
	p := startPrometheus(t, l)
	cutOff := l.Node(3)
	var routes []string
	for i := 1; i < 3; i++ {
		routes = append(routes, lab.NodeIPv4(i).String()+"/32")
	}
	heal := func() {
		for _, r := range routes {
			cutOff.Exec(context.Background(), "ip", "route", "del", "blackhole", r)
		}
	}
	t.Cleanup(heal)
	for _, r := range routes {
		if out, err := cutOff.Exec(ctx, "ip", "route", "add", "blackhole", r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	lab.Eventually(t, 60*time.Second, "IronLBSpeakerMissingFromMemberlist fires for every speaker", func() error {
		var pods []string
		for _, labels := range firing(t, p)["IronLBSpeakerMissingFromMemberlist"] {
			pods = append(pods, labels["pod"])
		}
		sort.Strings(pods)
		want := []string{speakerPodName(t, l, 1), speakerPodName(t, l, 2), speakerPodName(t, l, 3)}
		sort.Strings(want)
		if !slices.Equal(pods, want) {
			return fmt.Errorf("firing for %v, want %v", pods, want)
		}
		return nil
	})
	members, err := p.Query(ctx, fmt.Sprintf(`ironlb_memberlist_members{pod=%q}`, speakerPodName(t, l, 3)))
	if err != nil || len(members) != 1 || members[0].Value != 1 {
		t.Errorf("the cut-off speaker sees %+v members (%v), want itself only", members, err)
	}

	heal()
	lab.Eventually(t, 60*time.Second, "the alert resolves once the speakers see each other", func() error {
		if pods := firing(t, p)["IronLBSpeakerMissingFromMemberlist"]; len(pods) > 0 {
			return fmt.Errorf("still firing for %v", pods)
		}
		samples, err := p.Query(ctx, `ironlb_memberlist_members != 3`)
		if err != nil {
			return err
		}
		if len(samples) > 0 {
			return fmt.Errorf("members disagree: %+v", samples)
		}
		return nil
	})
}
