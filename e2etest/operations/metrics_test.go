package operations

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// metricsOf scrapes endpoint and parses the exposition.
func metricsOf(t *testing.T, endpoint string) (map[string]*dto.MetricFamily, error) {
	t.Helper()
	body, err := lab.Scrape(t.Context(), endpoint)
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	return parser.TextToMetricFamilies(strings.NewReader(body))
}

// value returns the value of the series of family whose labels include
// want, and whether there is one.
func value(families map[string]*dto.MetricFamily, family string, want map[string]string) (float64, bool) {
	f := families[family]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// missing returns the families of want that families lacks.
func missing(families map[string]*dto.MetricFamily, want []string) []string {
	var out []string
	for _, name := range want {
		if families[name] == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

const (
	bgpPeer = `apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ops-router, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64500
  peerAddress: 172.30.0.254
`
	bgpPool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: ops-bgp, namespace: metallb-system}
spec:
  addresses: [172.32.0.10-172.32.0.11]
  autoAssign: false
`
	bgpAdvertisement = `apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: ops-bgp, namespace: metallb-system}
spec:
  ipAddressPools: [ops-bgp]
`
	routerPeerLabel = "172.30.0.254:179"
)

// TestEveryMetricIsExported scrapes the running controller and speakers and
// finds every family docs/metrics.md lists, with the values the lab's state
// implies: an L2 Service announced by one node that answered the client's
// ARP request, a BGP Service advertised by every node over an established
// session with the lab's router. /healthz and /readyz answer 200.
func TestEveryMetricIsExported(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	applyConfig(t, l, append(l2Pool("ops-metrics", "172.30.0.234/32"), bgpPeer, bgpPool, bgpAdvertisement)...)
	l2Svc := ipv4Service(t, l, "ops-metrics-l2", "ops-metrics")
	bgpSvc := ipv4Service(t, l, "ops-metrics-bgp", "ops-bgp")
	l2IP, bgpIP := waitIP(t, l, l2Svc), waitIP(t, l, bgpSvc)
	if l2IP != netip.MustParseAddr("172.30.0.234") {
		t.Fatalf("L2 Service got %s, want 172.30.0.234", l2IP)
	}
	lab.Eventually(t, 30*time.Second, "the client resolves "+l2IP.String(), func() error {
		_, err := l.Client().Arping(ctx, l2IP)
		return err
	})

	for _, path := range []string{"/healthz", "/readyz"} {
		endpoints := []string{strings.TrimSuffix(l.ControllerMetricsURL(), "/metrics") + path}
		for i := 1; i <= l.NodeCount(); i++ {
			endpoints = append(endpoints, strings.TrimSuffix(l.SpeakerMetricsURL(i), "/metrics")+path)
		}
		for _, e := range endpoints {
			if _, err := lab.Scrape(ctx, e); err != nil {
				t.Errorf("%s: %v", e, err)
			}
		}
	}

	lab.Eventually(t, 30*time.Second, "the controller exports its families", func() error {
		families, err := metricsOf(t, l.ControllerMetricsURL())
		if err != nil {
			return err
		}
		if m := missing(families, []string{
			"metallb_allocator_addresses_total", "metallb_allocator_ipv4_addresses_total", "metallb_allocator_ipv6_addresses_total",
			"metallb_allocator_addresses_in_use_total", "metallb_allocator_ipv4_addresses_in_use_total", "metallb_allocator_ipv6_addresses_in_use_total",
			"metallb_k8s_client_updates_total", "metallb_k8s_client_update_errors_total",
			"metallb_k8s_client_config_loaded_bool", "metallb_k8s_client_config_stale_bool",
			"go_goroutines", "process_resident_memory_bytes",
		}); len(m) > 0 {
			return fmt.Errorf("missing %v", m)
		}
		for family, want := range map[string]float64{
			"metallb_allocator_addresses_total":        1,
			"metallb_allocator_addresses_in_use_total": 1,
			"metallb_allocator_ipv4_addresses_total":   1,
			"metallb_allocator_ipv6_addresses_total":   0,
		} {
			if v, ok := value(families, family, map[string]string{"pool": "ops-metrics"}); !ok || v != want {
				return fmt.Errorf("%s{pool=ops-metrics} = %v (found %v), want %v", family, v, ok, want)
			}
		}
		if v, _ := value(families, "metallb_k8s_client_updates_total", nil); v == 0 {
			return fmt.Errorf("no update processed")
		}
		return nil
	})

	owner := 0
	lab.Eventually(t, 60*time.Second, "every speaker exports its families", func() error {
		owner = 0
		for i := 1; i <= l.NodeCount(); i++ {
			families, err := metricsOf(t, l.SpeakerMetricsURL(i))
			if err != nil {
				return err
			}
			node := lab.NodeName(i)
			if m := missing(families, []string{
				"metallb_speaker_announced", "metallb_bgp_session_up", "metallb_bgp_updates_total", "metallb_bgp_announced_prefixes_total",
				"metallb_k8s_client_updates_total", "metallb_k8s_client_update_errors_total",
				"metallb_k8s_client_config_loaded_bool", "metallb_k8s_client_config_stale_bool",
				"ironlb_memberlist_members", "ironlb_announce_latency_seconds", "ironlb_layer2_failover_duration_seconds",
			}); len(m) > 0 {
				return fmt.Errorf("%s: missing %v", node, m)
			}
			if v, _ := value(families, "ironlb_memberlist_members", nil); int(v) != l.NodeCount() {
				return fmt.Errorf("%s sees %v memberlist members, want %d", node, v, l.NodeCount())
			}
			peer := map[string]string{"peer": routerPeerLabel}
			if v, _ := value(families, "metallb_bgp_session_up", peer); v != 1 {
				return fmt.Errorf("%s: session with the router not up", node)
			}
			if v, _ := value(families, "metallb_bgp_announced_prefixes_total", peer); v < 1 {
				return fmt.Errorf("%s: %v prefixes advertised to the router", node, v)
			}
			if v, _ := value(families, "metallb_bgp_updates_total", peer); v < 1 {
				return fmt.Errorf("%s: no UPDATE sent", node)
			}
			if v, _ := value(families, "metallb_speaker_announced", map[string]string{
				"service": "default/ops-metrics-bgp", "protocol": "bgp", "node": node, "ip": bgpIP.String()}); v != 1 {
				return fmt.Errorf("%s does not announce %s over BGP", node, bgpIP)
			}
			if v, _ := value(families, "ironlb_announce_latency_seconds", map[string]string{"protocol": "bgp"}); v < 1 {
				return fmt.Errorf("%s: no BGP announcement latency observed", node)
			}
			if v, ok := value(families, "metallb_speaker_announced", map[string]string{
				"service": "default/ops-metrics-l2", "protocol": "layer2", "node": node, "ip": l2IP.String()}); ok && v == 1 {
				if owner != 0 {
					return fmt.Errorf("%s and %s both announce %s", lab.NodeName(owner), node, l2IP)
				}
				owner = i
				if m := missing(families, []string{"metallb_layer2_requests_received", "metallb_layer2_responses_sent",
					"metallb_layer2_gratuitous_sent", "ironlb_layer2_ownership_changes_total"}); len(m) > 0 {
					return fmt.Errorf("owner %s: missing %v", node, m)
				}
				ip := map[string]string{"ip": l2IP.String()}
				for _, family := range []string{"metallb_layer2_requests_received", "metallb_layer2_responses_sent", "metallb_layer2_gratuitous_sent"} {
					if v, _ := value(families, family, ip); v < 1 {
						return fmt.Errorf("owner %s: %s{ip=%s} = %v", node, family, l2IP, v)
					}
				}
				if v, _ := value(families, "ironlb_layer2_ownership_changes_total", map[string]string{"ip": l2IP.String(), "change": "gained"}); v < 1 {
					return fmt.Errorf("owner %s: ownership gain not counted", node)
				}
				if v, _ := value(families, "ironlb_announce_latency_seconds", map[string]string{"protocol": "layer2"}); v < 1 {
					return fmt.Errorf("owner %s: no layer 2 announcement latency observed", node)
				}
			}
		}
		if owner == 0 {
			return fmt.Errorf("no speaker announces %s in layer 2", l2IP)
		}
		return nil
	})
	t.Logf("%s announced by %s, %s by every node", l2IP, lab.NodeName(owner), bgpIP)
}

// TestMetricsNeedAToken: on the network, the controller's and the speakers'
// /metrics answer only HTTPS requests whose bearer token the API server
// authenticates and authorizes (ClusterRole metallb-metrics-reader); the
// probes answer without one.
func TestMetricsNeedAToken(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	reader, err := l.MetricsReaderToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A ServiceAccount that nothing allows to read metrics.
	const stranger = "metrics-stranger"
	if _, err := l.Kubectl(ctx, "", "create", "serviceaccount", stranger, "-n", "default"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Kubectl(context.Background(), "", "delete", "serviceaccount", stranger, "-n", "default") })
	tr, err := l.KubeClient().CoreV1().ServiceAccounts("default").CreateToken(ctx, stranger, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	status := func(url, token string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	endpoints := []string{l.ControllerMetricsURL(), l.SpeakerMetricsURL(1)}
	for _, url := range endpoints {
		if !strings.HasPrefix(url, "https://") {
			t.Fatalf("%s: not HTTPS", url)
		}
		for _, c := range []struct {
			who   string
			token string
			want  int
		}{{"no token", "", 401}, {"a forged token", "forged", 401}, {"a stranger", tr.Status.Token, 403}, {"the reader", reader, 200}} {
			if got := status(url, c.token); got != c.want {
				t.Errorf("%s with %s: %d, want %d", url, c.who, got, c.want)
			}
		}
		if got := status(strings.TrimSuffix(url, "/metrics")+"/healthz", ""); got != 200 {
			t.Errorf("%s /healthz without a token: %d, want 200", url, got)
		}
	}
	// The plain endpoint listens on loopback only: not reachable on the node's address.
	if _, err := lab.Scrape(ctx, "http://"+lab.SpeakerMetricsAddr(1)+"/metrics"); err == nil {
		t.Errorf("the speaker's plain metrics answer on %s", lab.SpeakerMetricsAddr(1))
	}
}
