package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/manifests"
)

// The validating webhook in the lab. The API server runs in the root
// namespace, outside any cluster network, so it cannot call the webhook
// Service the manifests define: the lab registers the manifests'
// ValidatingWebhookConfiguration with each webhook's clientConfig turned
// into a URL on the control-plane address, where the controller listens, and
// tells the controller (--webhook-hosts) to issue its certificate for that
// address. The controller still creates the certificate, stores it and fills
// in the caBundle itself, as in a cluster.
const (
	// WebhookPort is where the lab's controller serves the webhook.
	WebhookPort = 9443
	// webhookPath is the path of the webhook in the manifests.
	webhookPath = "/validate-metallb-io"
	// webhookConfigName is the ValidatingWebhookConfiguration's name in the
	// manifests.
	webhookConfigName = "metallb-webhook-configuration"
	// webhookServiceName is the manifest's Service in front of the webhook.
	webhookServiceName = "metallb-webhook-service"
)

// WebhookURL is the URL the lab's API server calls the webhook at.
func WebhookURL() string {
	return "https://" + net.JoinHostPort(ControlPlaneIPv4.String(), strconv.Itoa(WebhookPort)) + webhookPath
}

// webhookArgs registers the webhook when Options.Webhook is set and returns
// the controller flags that go with it; without the option nothing calls the
// webhook the controller serves.
func (l *Lab) webhookArgs() ([]string, error) {
	if !l.opts.Webhook {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.registerWebhook(ctx); err != nil {
		return nil, err
	}
	return []string{
		"--webhook-addr", net.JoinHostPort(ControlPlaneIPv4.String(), strconv.Itoa(WebhookPort)),
		"--webhook-hosts", ControlPlaneIPv4.String(),
	}, nil
}

// registerWebhook creates (or replaces) the manifests'
// ValidatingWebhookConfiguration, every webhook calling WebhookURL, with an
// empty caBundle for the controller to fill in.
func (l *Lab) registerWebhook(ctx context.Context) error {
	vwc, err := manifestWebhookConfiguration()
	if err != nil {
		return err
	}
	u := WebhookURL()
	for i := range vwc.Webhooks {
		cc := &vwc.Webhooks[i].ClientConfig
		if cc.Service == nil || cc.Service.Path == nil || *cc.Service.Path != webhookPath {
			return fmt.Errorf("lab: webhook %s of the manifests does not call %s", vwc.Webhooks[i].Name, webhookPath)
		}
		cc.Service, cc.URL, cc.CABundle = nil, &u, nil
	}
	configs := l.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	err = configs.Delete(ctx, vwc.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("lab: replacing ValidatingWebhookConfiguration %s: %w", vwc.Name, err)
	}
	if _, err := configs.Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("lab: creating ValidatingWebhookConfiguration %s: %w", vwc.Name, err)
	}
	l.logf("lab: ValidatingWebhookConfiguration %s calls %s", vwc.Name, u)
	return nil
}

// manifestWebhookConfiguration returns the ValidatingWebhookConfiguration
// of manifests/metallb-native.yaml.
func manifestWebhookConfiguration() (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := manifestObject("ValidatingWebhookConfiguration", webhookConfigName, &vwc); err != nil {
		return nil, err
	}
	return &vwc, nil
}

// manifestObject decodes the object of manifests/metallb-native.yaml with
// the given kind and name into obj, strictly.
func manifestObject(kind, name string, obj any) error {
	rendered, err := manifests.Render()
	if err != nil {
		return err
	}
	for _, doc := range bytes.Split(rendered, []byte("\n---\n")) {
		var head metav1.PartialObjectMetadata
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return fmt.Errorf("lab: reading the manifests: %w", err)
		}
		if head.Kind != kind || head.Name != name {
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return fmt.Errorf("lab: %s %s of the manifests: %w", kind, name, err)
		}
		return nil
	}
	return fmt.Errorf("lab: no %s %s in the manifests", kind, name)
}

// WaitWebhook waits until the API server calls the webhook successfully: a
// server-side dry run of a valid IPAddressPool passes through it. Right
// after the controller starts, it has yet to issue its certificate and fill
// in the caBundle.
func (l *Lab) WaitWebhook(ctx context.Context, timeout time.Duration) error {
	const probe = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: lab-webhook-probe
  namespace: metallb-system
spec:
  addresses: [192.0.2.0/32]
`
	deadline := time.Now().Add(timeout)
	for {
		_, err := l.Kubectl(ctx, probe, "create", "--dry-run=server", "-f", "-")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the webhook does not answer the API server within %s: %w", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WebhookCertificate returns the certificate the controller's webhook
// presents now: at WebhookPort of the control plane's address in process
// mode, through the webhook Service (as the API server calls it) in pods
// mode.
func (l *Lab) WebhookCertificate(ctx context.Context) ([]byte, error) {
	addr := net.JoinHostPort(ControlPlaneIPv4.String(), strconv.Itoa(WebhookPort))
	if l.opts.Pods {
		svc, err := l.kube.CoreV1().Services(IronLBNamespace).Get(ctx, webhookServiceName, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		addr = net.JoinHostPort(svc.Spec.ClusterIP, "443")
	}
	dialer := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} // only read, never trusted
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("the webhook presented no certificate")
	}
	return certs[0].Raw, nil
}

// ControllerBinary is the path of the controller the lab built.
func (l *Lab) ControllerBinary() string { return l.bins.controller }

// ControllerMetricsURL is the controller's metrics endpoint: HTTPS in pods
// mode (Scrape brings the token).
func (l *Lab) ControllerMetricsURL() string {
	if l.opts.Pods {
		return "https://" + l.ControllerMetricsAddr() + "/metrics"
	}
	return "http://" + l.ControllerMetricsAddr() + "/metrics"
}

// ControllerMetricsAddr is the controller's --metrics-addr (host:port); in
// pods mode the Ready controller pod's IP and secure metrics port (the root
// namespace routes every pod range), empty when there is none.
func (l *Lab) ControllerMetricsAddr() string {
	if !l.opts.Pods {
		return l.controllerMetrics
	}
	pod, err := l.ControllerPod(context.Background())
	if err != nil {
		return ""
	}
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(SecureMetricsPort))
}

// MetricsPort is the plain metrics port of the controller and the speakers
// (--metrics-addr): on every address in process mode, on loopback only in
// pods mode (the manifest's --metrics-addr=127.0.0.1:7472).
const MetricsPort = 7472

// SpeakerMetricsAddr is node i's speaker plain metrics address as seen from
// the root namespace: in process mode the speaker listens on :7472 inside
// the node's namespace (see SpeakerMetricsURL for either mode).
func SpeakerMetricsAddr(i int) string {
	return net.JoinHostPort(NodeIPv4(i).String(), strconv.Itoa(MetricsPort))
}

// Scrape returns the body of a metrics endpoint (http://host:port/metrics,
// or https:// with the metrics reader's token, see MetricsReaderToken).
func Scrape(ctx context.Context, endpoint string) (string, error) {
	if _, err := url.Parse(endpoint); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", err
	}
	client, err := scrapeRequest(req)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", endpoint, resp.Status, body)
	}
	return string(body), nil
}

// ManifestPath is the path of a file of the repository's manifests/
// directory, e.g. "prometheus/rules.yaml".
func (l *Lab) ManifestPath(name string) string { return filepath.Join(l.repo, "manifests", name) }
