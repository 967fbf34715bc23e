package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// webhookConfiguration is the object the manifests install: two webhooks
// calling our Service and one calling someone else's.
func webhookConfiguration() *admissionregistrationv1.ValidatingWebhookConfiguration {
	hook := func(name, service string) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name: name,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: namespace, Name: service},
			},
		}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultWebhookConfigName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			hook("config.metallb.io", DefaultServiceName),
			hook("config-delete.metallb.io", DefaultServiceName),
			hook("other.example.com", "other"),
		},
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func newRotator(t *testing.T, objects ...metav1.Object) (*CertRotator, *fake.Clientset, *fakeClock) {
	t.Helper()
	kube := fake.NewClientset()
	for _, obj := range objects {
		var err error
		switch o := obj.(type) {
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			_, err = kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(), o, metav1.CreateOptions{})
		case *corev1.Secret:
			_, err = kube.CoreV1().Secrets(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	clock := &fakeClock{now: t0}
	r := NewCertRotator(kube, namespace)
	r.Now = clock.Now
	r.Log = slog.New(slog.DiscardHandler)
	return r, kube, clock
}

func (r *CertRotator) mustReconcile(t *testing.T) {
	t.Helper()
	if _, err := r.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func getSecret(t *testing.T, kube *fake.Clientset) *corev1.Secret {
	t.Helper()
	s, err := kube.CoreV1().Secrets(namespace).Get(context.Background(), DefaultSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bundles(t *testing.T, kube *fake.Clientset) [][]byte {
	t.Helper()
	vwc, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), DefaultWebhookConfigName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, h := range vwc.Webhooks {
		out = append(out, h.ClientConfig.CABundle)
	}
	return out
}

func servedSerial(t *testing.T, r *CertRotator) string {
	t.Helper()
	cert, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.String()
}

func serialOf(t *testing.T, pemData []byte) string {
	t.Helper()
	block, _ := pem.Decode(pemData)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.String()
}

func TestRotatorLifecycle(t *testing.T) {
	r, kube, clock := newRotator(t, webhookConfiguration())
	if r.Ready() == nil {
		t.Fatal("ready before any certificate")
	}

	// First start: issue, store, trust, serve.
	renewAt, err := r.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Ready() != nil {
		t.Fatal("not ready after reconcile")
	}
	secret := getSecret(t, kube)
	if secret.Type != corev1.SecretTypeTLS {
		t.Errorf("secret type = %s", secret.Type)
	}
	first := keyPairOf(secret)
	if _, err := first.Check(clock.now, names); err != nil {
		t.Fatalf("stored key pair: %v", err)
	}
	b := bundles(t, kube)
	if !bytes.Equal(b[0], first.CA) || !bytes.Equal(b[1], first.CA) || len(b[2]) != 0 {
		t.Fatal("caBundle: want our CA on our two webhooks, nothing on the other")
	}
	if servedSerial(t, r) != serialOf(t, first.Cert) {
		t.Fatal("not serving the stored certificate")
	}
	if renewAt.Before(t0.Add(200*24*time.Hour)) || renewAt.After(t0.Add(250*24*time.Hour)) {
		t.Errorf("renewAt = %s, want about 8 months after %s", renewAt, t0)
	}

	// A month later, after a restart: nothing to write, same certificate.
	clock.now = t0.Add(30 * 24 * time.Hour)
	restarted := NewCertRotator(kube, namespace)
	restarted.Now = clock.Now
	restarted.Log = r.Log
	kube.ClearActions()
	restarted.mustReconcile(t)
	for _, a := range kube.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("unexpected %s %s while nothing changed", a.GetVerb(), a.GetResource().Resource)
		}
	}
	if servedSerial(t, restarted) != serialOf(t, first.Cert) {
		t.Error("restart did not reuse the stored certificate")
	}

	// Someone re-creates the webhook configuration: the caBundle comes back.
	if err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), DefaultWebhookConfigName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(), webhookConfiguration(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	restarted.mustReconcile(t)
	if b := bundles(t, kube); !bytes.Equal(b[0], first.CA) {
		t.Error("caBundle not restored")
	}

	// Past two thirds of the lifetime: rotate, keeping the old CA trusted,
	// and keep serving the old certificate until the API server has had
	// time to pick up the new CA.
	clock.now = renewAt.Add(time.Minute)
	next, err := restarted.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second := keyPairOf(getSecret(t, kube))
	if bytes.Equal(second.CA, first.CA) || bytes.Equal(second.Cert, first.Cert) {
		t.Fatal("not rotated")
	}
	b = bundles(t, kube)
	if !bytes.HasPrefix(b[0], second.CA) || !bytes.Contains(b[0], first.CA) {
		t.Error("caBundle after rotation: want the new CA first and the old one still trusted")
	}
	if servedSerial(t, restarted) != serialOf(t, first.Cert) {
		t.Error("serving the new certificate before the API server can trust its CA")
	}
	if want := clock.now.Add(BundlePropagation); !next.Equal(want) {
		t.Errorf("next reconcile at %s, want %s (after the bundle propagated)", next, want)
	}
	clock.now = next
	restarted.mustReconcile(t)
	if servedSerial(t, restarted) != serialOf(t, second.Cert) {
		t.Error("still serving the old certificate after rotation")
	}

	// Once the old CA has expired it leaves the bundle.
	clock.now = t0.Add(DefaultLifetime + time.Hour)
	restarted.mustReconcile(t)
	if b := bundles(t, kube); !bytes.Equal(b[0], second.CA) {
		t.Error("expired CA still in the bundle")
	}
}

func TestRotatorReplacesABrokenSecretOfAnotherType(t *testing.T) {
	broken := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultSecretName, Namespace: namespace},
		Type:       corev1.SecretTypeOpaque, // as MetalLB's manifests create it
		Data:       map[string][]byte{"tls.crt": []byte("not a certificate"), "unrelated": []byte("kept")},
	}
	r, kube, _ := newRotator(t, webhookConfiguration(), broken)
	r.mustReconcile(t)
	secret := getSecret(t, kube)
	if _, err := keyPairOf(secret).Check(t0, names); err != nil {
		t.Fatalf("secret not repaired: %v", err)
	}
	if secret.Type != corev1.SecretTypeOpaque || string(secret.Data["unrelated"]) != "kept" {
		t.Error("repairing the secret changed its type or dropped other keys")
	}
}

func TestRotatorWithoutWebhookConfiguration(t *testing.T) {
	r, _, _ := newRotator(t)
	r.mustReconcile(t)
	if r.Ready() != nil {
		t.Error("a missing webhook configuration must not stop serving")
	}
}

func TestRotatorRunStopsWithContext(t *testing.T) {
	r, _, _ := newRotator(t, webhookConfiguration())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for r.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatal("Run issued no certificate")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestRotatorByURL: with the webhook called by URL (an API server outside
// the cluster network, like the lab's), the certificate is valid for the
// URL's address and only the webhooks calling that address get the CA.
func TestRotatorByURL(t *testing.T) {
	byURL := func(name, u string) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{Name: name, ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &u}}
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultWebhookConfigName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			byURL("config.metallb.io", "https://172.30.0.1:9443/validate-metallb-io"),
			byURL("other.example.com", "https://192.0.2.1/validate"),
		},
	}
	r, kube, clock := newRotator(t, vwc)
	r.ExtraHosts = []string{"172.30.0.1"}
	r.mustReconcile(t)
	kp := keyPairOf(getSecret(t, kube))
	if _, err := kp.Check(clock.now, []string{"172.30.0.1"}); err != nil {
		t.Errorf("certificate not valid for the URL's address: %v", err)
	}
	if b := bundles(t, kube); !bytes.Equal(b[0], kp.CA) || len(b[1]) != 0 {
		t.Error("caBundle: want our CA on the webhook calling 172.30.0.1 only")
	}

	// A certificate stored before the address was added is replaced.
	r.ExtraHosts = []string{"172.30.0.1", "fd00:30::1"}
	r.mustReconcile(t)
	if again := keyPairOf(getSecret(t, kube)); bytes.Equal(again.Cert, kp.Cert) {
		t.Error("certificate lacking a new address kept")
	}
}

func TestRotatorRefusesATooShortLifetime(t *testing.T) {
	r, _, _ := newRotator(t, webhookConfiguration())
	r.Lifetime = MinLifetime - time.Second
	if _, err := r.Reconcile(context.Background()); err == nil || r.Ready() == nil {
		t.Errorf("lifetime %s accepted", r.Lifetime)
	}
}
