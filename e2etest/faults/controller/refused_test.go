package controller

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/annotations"
	"github.com/ironlb/ironlb/internal/controller"
)

// refuseLabel marks the Services whose status writes the refusing webhook
// answers.
const refuseLabel = "faults.ironlb.io/refuse-status"

// The controller moves a Service off the only address of a pool while the
// API server refuses the status write with 429 (a validating webhook on
// services/status, as a policy engine would refuse it): a second Service
// asking for that pool gets nothing while the first still shows the
// address, and gets it once the write lands. No address is shown twice.
func TestRefusedStatusWriteKeepsAddressQuarantined(t *testing.T) {
	l := setup(t)
	ctx := context.Background()
	const ns = "faults-refused"
	createNamespace(t, l, ns)
	checker := watchStatuses(t, l)
	refusing := startRefusingWebhook(t, l)

	first := inPool(ns, "first", "faults-one")
	first.Labels = map[string]string{refuseLabel: "true"}
	l.CreateService(t, first)
	held := waitShown(t, l, ns, "first")
	if !slices.Equal(held, []string{"10.201.0.1"}) {
		t.Fatalf("first shows %v, want faults-one's only address 10.201.0.1", held)
	}

	refusing.on.Store(true)
	moved, err := l.KubeClient().CoreV1().Services(ns).Get(ctx, "first", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	moved.Annotations[annotations.AddressPool] = "faults-other"
	if _, err := l.KubeClient().CoreV1().Services(ns).Update(ctx, moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, time.Minute, "the controller's status write for first is refused", func() error {
		if n := refusing.refused.Load(); n < 2 {
			return fmt.Errorf("%d refused", n)
		}
		return nil
	})
	refusingSince := time.Now()

	second := inPool(ns, "second", "faults-one")
	l.CreateService(t, second)
	lab.Eventually(t, time.Minute, "the controller finds faults-one exhausted for second", func() error {
		return serviceEvent(ctx, l, ns, "second", controller.ReasonAllocationFailed)
	})
	// A few more retries of first's write, refused too.
	lab.Eventually(t, time.Minute, "first's write is retried and refused", func() error {
		if n := refusing.refused.Load(); n < 8 {
			return fmt.Errorf("%d refused", n)
		}
		return nil
	})
	if got := checker.assigned(ns)[ns+"/second"]; len(got) > 0 {
		t.Errorf("second shows %v while first's release is refused", got)
	}
	refusedFor := time.Since(refusingSince)
	refusing.on.Store(false)
	released := time.Now()

	lab.Eventually(t, 2*time.Minute, "first moves to faults-other and second gets 10.201.0.1", func() error {
		shown := checker.assigned(ns)
		first, second := shown[ns+"/first"], shown[ns+"/second"]
		if len(first) != 1 || !strings.HasPrefix(first[0], "10.201.1.") || !slices.Equal(second, held) {
			return fmt.Errorf("first shows %v, second %v", first, second)
		}
		return nil
	})
	t.Logf("%d status writes refused with 429 over %s; second got %v %s after the refusals stopped",
		refusing.refused.Load(), refusedFor.Round(100*time.Millisecond), held, time.Since(released).Round(100*time.Millisecond))
	violations, changed := checker.report()
	if len(violations) > 0 {
		t.Errorf("%d times an address was shown by two Services:\n%s", len(violations), strings.Join(violations, "\n"))
	}
	for _, c := range changed {
		if !strings.HasPrefix(c, ns+"/first:") { // first was moved on purpose
			t.Errorf("address changed: %s", c)
		}
	}
}

// waitShown waits until Service namespace/name shows an address and
// returns what it shows.
func waitShown(tb testing.TB, l *lab.Lab, namespace, name string) []string {
	tb.Helper()
	var ips []string
	lab.Eventually(tb, time.Minute, namespace+"/"+name+" shows an address", func() error {
		svc, err := l.KubeClient().CoreV1().Services(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ips = shownIPs(svc); len(ips) == 0 {
			return fmt.Errorf("status %+v", svc.Status.LoadBalancer)
		}
		return nil
	})
	return ips
}

// refusingWebhook answers the API server's reviews of status writes of
// Services labelled refuseLabel: 429 while on, allowed otherwise.
type refusingWebhook struct {
	on      atomic.Bool
	refused atomic.Int32
}

// startRefusingWebhook serves a refusingWebhook on loopback (the API server
// runs in the root namespace) and registers it for services/status; both
// go when the test ends.
func startRefusingWebhook(tb testing.TB, l *lab.Lab) *refusingWebhook {
	tb.Helper()
	cert, caPEM, err := loopbackCertificate()
	if err != nil {
		tb.Fatal(err)
	}
	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		tb.Fatal(err)
	}
	w := &refusingWebhook{}
	server := &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second}
	go server.Serve(listener)
	tb.Cleanup(func() { server.Close() })

	config := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "faults-refuse-status"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "refuse-status.faults.ironlb.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL: ptr.To("https://" + listener.Addr().String() + "/"), CABundle: caPEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"},
					Resources: []string{"services/status"}},
			}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{refuseLabel: "true"}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
	configs := l.KubeClient().AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := configs.Create(context.Background(), config, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := configs.Delete(context.Background(), config.Name, metav1.DeleteOptions{}); err != nil {
			tb.Error(err)
		}
	})
	return w
}

func (w *refusingWebhook) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(req.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(rw, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	response := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	if w.on.Load() {
		w.refused.Add(1)
		response.Allowed = false
		response.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusTooManyRequests,
			Reason: metav1.StatusReasonTooManyRequests, Message: "injected by the fault test"}
	}
	review.Response = response
	review.Request = nil
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(review)
}

// loopbackCertificate returns a self-signed serving certificate for
// 127.0.0.1 and its PEM, the webhook's CA bundle.
func loopbackCertificate() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "faults-refuse-status"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
