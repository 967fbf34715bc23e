package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/ironlb/ironlb/internal/config"
)

// startWebhook serves h over HTTPS on loopback with the rotator's
// certificate and returns a client that trusts the caBundle the rotator
// published, as the API server does, and the server's URL.
func startWebhook(t *testing.T, h http.Handler) (*http.Client, string) {
	t.Helper()
	r, kube, _ := newRotator(t, webhookConfiguration())
	r.mustReconcile(t)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundles(t, kube)[0]) {
		t.Fatal("caBundle holds no certificate")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, h, r.GetCertificate) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:    roots,
		ServerName: DefaultServiceName + "." + namespace + ".svc",
	}}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	})
	return client, "https://" + ln.Addr().String() + Path
}

func post(t *testing.T, client *http.Client, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func reviewOf(t *testing.T, req *admissionv1.AdmissionRequest) []byte {
	t.Helper()
	review := admissionv1.AdmissionReview{Request: req}
	review.APIVersion, review.Kind = "admission.k8s.io/v1", "AdmissionReview"
	data, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestHTTPSWebhookRefusesAnOverlap(t *testing.T) {
	existing := resources(t, poolA)
	h := &Handler{
		Validator: Validator{Namespace: namespace},
		Current:   func(context.Context) (config.Resources, error) { return existing, nil },
		Log:       slog.New(slog.DiscardHandler),
	}
	client, url := startWebhook(t, h)

	resp, body := post(t, client, url, reviewOf(t, request(t, admissionv1.Create, poolBOverlapping)))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		t.Fatal(err)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" || review.Request != nil {
		t.Errorf("review envelope = %s %s, request echoed: %v", review.APIVersion, review.Kind, review.Request != nil)
	}
	r := review.Response
	if r == nil || r.UID != "uid-1" || r.Allowed || !strings.Contains(r.Result.Message, "overlaps 192.168.10.0-192.168.10.255 of IPAddressPool a") {
		t.Fatalf("response = %+v", r)
	}

	resp, body = post(t, client, url, reviewOf(t, request(t, admissionv1.Create, strings.Replace(poolBOverlapping, "192.168.10.128-192.168.10.200", "10.1.0.0/24", 1))))
	if err := json.Unmarshal(body, &review); err != nil || resp.StatusCode != http.StatusOK || !review.Response.Allowed {
		t.Fatalf("valid pool: status %d, %s", resp.StatusCode, body)
	}
}

func TestHandlerErrors(t *testing.T) {
	failing := &Handler{
		Validator: Validator{Namespace: namespace},
		Current: func(context.Context) (config.Resources, error) {
			return config.Resources{}, errors.New("connection refused")
		},
		Log: slog.New(slog.DiscardHandler),
	}
	client, url := startWebhook(t, failing)

	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", resp.StatusCode)
	}
	if resp, _ := post(t, client, url, []byte("{not json")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("junk: status %d", resp.StatusCode)
	}
	if resp, _ := post(t, client, url, []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no request: status %d", resp.StatusCode)
	}
	if resp, _ := post(t, client, url, bytes.Repeat([]byte(" "), maxReviewBytes+1)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("huge: status %d", resp.StatusCode)
	}

	// The current configuration cannot be read: refuse rather than guess.
	_, body := post(t, client, url, reviewOf(t, request(t, admissionv1.Create, poolA)))
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		t.Fatal(err)
	}
	if r := review.Response; r.Allowed || r.Result.Code != http.StatusInternalServerError || !strings.Contains(r.Result.Message, "connection refused") {
		t.Errorf("response = %+v", r.Result)
	}
}

// The webhook serves MaxConcurrentReviews reviews at once and answers the
// next with 429 at once instead of queueing it.
func TestServeBoundsConcurrentReviews(t *testing.T) {
	entered, release := make(chan struct{}, MaxConcurrentReviews), make(chan struct{})
	client, url := startWebhook(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	codes := make(chan int, MaxConcurrentReviews)
	for range MaxConcurrentReviews {
		go func() {
			resp, err := client.Post(url, "application/json", strings.NewReader("{}"))
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range MaxConcurrentReviews {
		<-entered
	}
	resp, body := post(t, client, url, []byte("{}"))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("review beyond the bound: %d %s, want 429", resp.StatusCode, body)
	}
	close(release)
	for range MaxConcurrentReviews {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("review within the bound: %d", code)
		}
	}
}
