package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// SecureMetricsPort is the manifest's "metricshttps" port of the controller
// and the speakers (--secure-metrics-addr=:9120): HTTPS, and /metrics needs
// a token allowed by ClusterRole metallb-metrics-reader. In pods mode the
// plain port (MetricsPort) listens on loopback only.
const SecureMetricsPort = 9120

// metricsReader is the ServiceAccount whose token scrapes the secure
// endpoints: manifests/prometheus/podmonitors.yaml creates and binds it.
const metricsReader = "metrics-reader"

// readerToken caches MetricsReaderToken's token for the lab's life.
var readerToken struct {
	sync.Mutex
	token string
}

// MetricsReaderToken applies the objects of manifests/prometheus/
// podmonitors.yaml that are not PodMonitors (ServiceAccount metrics-reader
// and its binding to metallb-metrics-reader) and returns a token of that
// ServiceAccount, requested once (TokenRequest, valid for a day), as the
// Prometheus Operator would read it from Secret metrics-reader-token.
func (l *Lab) MetricsReaderToken(ctx context.Context) (string, error) {
	readerToken.Lock()
	defer readerToken.Unlock()
	if readerToken.token != "" {
		return readerToken.token, nil
	}
	data, err := os.ReadFile(l.ManifestPath("prometheus/podmonitors.yaml"))
	if err != nil {
		return "", err
	}
	var objects []string
	for doc := range bytes.SplitSeq(data, []byte("\n---")) {
		var kind struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &kind); err != nil {
			return "", err
		}
		if kind.Kind != "" && kind.Kind != "PodMonitor" {
			objects = append(objects, string(doc))
		}
	}
	if _, err := l.Kubectl(ctx, strings.Join(objects, "\n---\n"), "apply", "-f", "-"); err != nil {
		return "", fmt.Errorf("lab: the metrics reader's objects: %w", err)
	}
	tr, err := l.kube.CoreV1().ServiceAccounts(IronLBNamespace).CreateToken(ctx, metricsReader,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)}},
		metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("lab: a token of %s: %w", metricsReader, err)
	}
	readerToken.token = tr.Status.Token
	return readerToken.token, nil
}

// SpeakerMetricsURL is node i's speaker /metrics as seen from the root
// namespace: plain HTTP on MetricsPort in process mode, the secure port in
// pods mode (Scrape brings the token).
func (l *Lab) SpeakerMetricsURL(i int) string {
	if l.opts.Pods {
		return "https://" + net.JoinHostPort(NodeIPv4(i).String(), strconv.Itoa(SecureMetricsPort)) + "/metrics"
	}
	return "http://" + SpeakerMetricsAddr(i) + "/metrics"
}

// scrapeRequest adds the metrics reader's token to a request for an HTTPS
// endpoint of the package's lab, and returns the client for it: one that
// skips verifying the self-signed certificate, as Prometheus does.
func scrapeRequest(req *http.Request) (*http.Client, error) {
	if req.URL.Scheme != "https" {
		return http.DefaultClient, nil
	}
	if shared == nil {
		return nil, fmt.Errorf("lab: no lab to get a metrics token from")
	}
	token, err := shared.MetricsReaderToken(req.Context())
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}, nil
}
