package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ironlb/ironlb/internal/logging"
)

// The names of the objects the webhook uses, as in MetalLB's manifests.
const (
	DefaultSecretName        = "webhook-server-cert"
	DefaultServiceName       = "metallb-webhook-service"
	DefaultWebhookConfigName = "metallb-webhook-configuration"
	// DefaultLifetime is the validity of the certificates issued.
	DefaultLifetime = 365 * 24 * time.Hour
	// SecretKeyCA holds the CA certificate in the Secret, next to
	// tls.crt and tls.key.
	SecretKeyCA = "ca.crt"
	// MinLifetime is the shortest lifetime a rotator accepts: the previous
	// certificate must outlive BundlePropagation.
	MinLifetime = 30 * time.Second
	// BundlePropagation is how long a rotator keeps serving the previous
	// certificate after adding a new CA to the caBundle, so that the API
	// server trusts the new CA before it is presented.
	BundlePropagation = 5 * time.Second
	// resync is how often Run re-checks the Secret and the CA bundle, which
	// also repairs a ValidatingWebhookConfiguration that was re-created.
	resync = time.Minute
	// minWait is the shortest pause between two reconciles of Run.
	minWait = time.Second
)

// CertRotator keeps the webhook's serving certificate: it issues one when
// the Secret is missing, invalid or due for renewal, stores it in the
// Secret, makes the API server trust its CA by setting the caBundle of the
// ValidatingWebhookConfiguration, and hands the certificate to the TLS
// server through GetCertificate, so that rotation needs no restart.
type CertRotator struct {
	Kube kubernetes.Interface
	// Namespace holds the Secret and the webhook Service.
	Namespace         string
	SecretName        string
	ServiceName       string
	WebhookConfigName string
	// ExtraHosts are further IP addresses or DNS names the certificate is
	// valid for, for an API server that calls the webhook by URL (outside
	// the cluster network); webhooks whose clientConfig.url names one of
	// them get the caBundle too.
	ExtraHosts []string
	// Lifetime of issued certificates; they are renewed after two thirds
	// of it.
	Lifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives issuance and error lines; nil means slog.Default().
	Log *slog.Logger

	serving atomic.Pointer[tls.Certificate]
}

// NewCertRotator returns a rotator with MetalLB's object names and the
// default lifetime.
func NewCertRotator(kube kubernetes.Interface, namespace string) *CertRotator {
	return &CertRotator{
		Kube:              kube,
		Namespace:         namespace,
		SecretName:        DefaultSecretName,
		ServiceName:       DefaultServiceName,
		WebhookConfigName: DefaultWebhookConfigName,
		Lifetime:          DefaultLifetime,
	}
}

// GetCertificate implements tls.Config.GetCertificate with the current
// serving certificate.
func (r *CertRotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := r.serving.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("webhook serving certificate not issued yet")
}

// Ready returns nil once a serving certificate is loaded.
func (r *CertRotator) Ready() error {
	_, err := r.GetCertificate(nil)
	return err
}

// Run reconciles now, then every minute or when the certificate is due,
// whichever comes first, until ctx is done. Errors are logged and retried.
func (r *CertRotator) Run(ctx context.Context) {
	for {
		wait := resync
		next, err := r.Reconcile(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.logger().Error("webhook certificate", logging.KeyError, err)
			}
		} else if until := next.Sub(r.now()); until < wait {
			wait = max(until, minWait)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// hosts are the names and addresses the certificate must be valid for.
func (r *CertRotator) hosts() []string {
	return append(DNSNames(r.ServiceName, r.Namespace), r.ExtraHosts...)
}

// Reconcile makes the Secret hold a valid certificate, the webhook
// configuration trust its CA and the server serve it. It returns when it
// wants to run again: when the certificate is due for renewal, or, right
// after a new CA entered the caBundle while the previous certificate is
// still valid, once BundlePropagation has passed and the new certificate can
// be served.
func (r *CertRotator) Reconcile(ctx context.Context) (next time.Time, err error) {
	if r.Lifetime < MinLifetime {
		return time.Time{}, fmt.Errorf("webhook certificate lifetime %s is shorter than %s", r.Lifetime, MinLifetime)
	}
	now := r.now()
	names := r.hosts()
	secret, err := r.Kube.CoreV1().Secrets(r.Namespace).Get(ctx, r.SecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		secret, err = nil, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading Secret %s/%s: %w", r.Namespace, r.SecretName, err)
	}
	kp := keyPairOf(secret)
	renewAt, invalid := kp.Check(now, names)
	if invalid != nil {
		r.logger().Info("issuing webhook certificate", "secret", r.Namespace+"/"+r.SecretName, "reason", invalid.Error())
		if kp, err = Generate(now, r.Lifetime, names); err != nil {
			return time.Time{}, err
		}
		if renewAt, err = kp.Check(now, names); err != nil {
			return time.Time{}, fmt.Errorf("issued certificate is unusable: %w", err)
		}
	}
	// Store, then trust, then serve: a restart finds the certificate that
	// was about to be served, and the API server trusts its CA before it
	// is presented. (Trusting first could pile up CAs of certificates that
	// failed to be stored.)
	if invalid != nil {
		if err := r.store(ctx, secret, kp); err != nil {
			return time.Time{}, err
		}
	}
	trusted, err := r.trustCA(ctx, kp.CA, now)
	if err != nil {
		return time.Time{}, err
	}
	cert, err := tls.X509KeyPair(kp.Cert, kp.Key)
	if err != nil {
		return time.Time{}, err
	}
	switchAt := now.Add(BundlePropagation)
	if trusted && r.servingValidAt(switchAt) && !r.serves(&cert) {
		r.logger().Info("new webhook certificate stored; serving it once the API server trusts its CA", "after", BundlePropagation)
		return switchAt, nil
	}
	r.serving.Store(&cert)
	return renewAt, nil
}

// servingValidAt reports whether a certificate is being served that is still
// valid at t.
func (r *CertRotator) servingValidAt(t time.Time) bool {
	cur := r.serving.Load()
	return cur != nil && cur.Leaf != nil && t.Before(cur.Leaf.NotAfter)
}

// serves reports whether cert is the one being served.
func (r *CertRotator) serves(cert *tls.Certificate) bool {
	cur := r.serving.Load()
	return cur != nil && len(cur.Certificate) > 0 && len(cert.Certificate) > 0 && bytes.Equal(cur.Certificate[0], cert.Certificate[0])
}

func keyPairOf(secret *corev1.Secret) KeyPair {
	if secret == nil {
		return KeyPair{}
	}
	return KeyPair{CA: secret.Data[SecretKeyCA], Cert: secret.Data[corev1.TLSCertKey], Key: secret.Data[corev1.TLSPrivateKeyKey]}
}

// store writes kp into the Secret, creating it if needed.
func (r *CertRotator) store(ctx context.Context, secret *corev1.Secret, kp KeyPair) error {
	secrets := r.Kube.CoreV1().Secrets(r.Namespace)
	exists := secret != nil
	if !exists {
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: r.SecretName, Namespace: r.Namespace, Labels: map[string]string{"app": "metallb"}},
			Type:       corev1.SecretTypeTLS,
		}
	} else {
		secret = secret.DeepCopy()
	}
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	secret.Data[SecretKeyCA] = kp.CA
	secret.Data[corev1.TLSCertKey] = kp.Cert
	secret.Data[corev1.TLSPrivateKeyKey] = kp.Key
	var err error
	if !exists {
		_, err = secrets.Create(ctx, secret, metav1.CreateOptions{})
	} else {
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("writing Secret %s/%s: %w", r.Namespace, r.SecretName, err)
	}
	return nil
}

// trustCA puts ca first in the caBundle of every webhook of the
// configuration that calls this server, and reports whether it changed a
// bundle. A missing configuration is not an error: nothing calls the webhook
// then.
func (r *CertRotator) trustCA(ctx context.Context, ca []byte, now time.Time) (changed bool, err error) {
	configs := r.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	vwc, err := configs.Get(ctx, r.WebhookConfigName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.logger().Warn("no ValidatingWebhookConfiguration: configuration changes are not validated at admission", "name", r.WebhookConfigName)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", r.WebhookConfigName, err)
	}
	for i := range vwc.Webhooks {
		if !r.callsUs(vwc.Webhooks[i].ClientConfig) {
			continue
		}
		bundle := MergeBundle(ca, vwc.Webhooks[i].ClientConfig.CABundle, now)
		if !bytes.Equal(bundle, vwc.Webhooks[i].ClientConfig.CABundle) {
			vwc.Webhooks[i].ClientConfig.CABundle = bundle
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	if _, err := configs.Update(ctx, vwc, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("setting the caBundle of ValidatingWebhookConfiguration %s: %w", r.WebhookConfigName, err)
	}
	r.logger().Info("webhook CA bundle updated", "name", r.WebhookConfigName)
	return true, nil
}

// callsUs reports whether a webhook calls this server: through its Service,
// or by a URL whose host is one of ExtraHosts.
func (r *CertRotator) callsUs(cc admissionregistrationv1.WebhookClientConfig) bool {
	if svc := cc.Service; svc != nil {
		return svc.Name == r.ServiceName && svc.Namespace == r.Namespace
	}
	if cc.URL == nil {
		return false
	}
	u, err := url.Parse(*cc.URL)
	return err == nil && slices.Contains(r.ExtraHosts, u.Hostname())
}

func (r *CertRotator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *CertRotator) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}
