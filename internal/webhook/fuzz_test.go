package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/ironlb/ironlb/internal/config"
)

// FuzzAdmissionReviewEnvelope posts arbitrary bytes to the handler: it never
// panics nor fails with a server error, refuses what is not an
// AdmissionReview with a 4xx, and answers every review with a response for
// the request's UID and no echoed request.
func FuzzAdmissionReviewEnvelope(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"metallb.io","version":"v1beta1","kind":"IPAddressPool"},"operation":"DELETE","namespace":"metallb-system","oldObject":{"metadata":{"name":"a"},"spec":{"addresses":["192.168.10.0/24"]}}}}`))
	f.Add([]byte(`{"request":{"uid":"u","kind":{"group":"metallb.io","version":"v1beta2","kind":"BGPPeer"},"operation":"CREATE","object":null}}`))
	f.Add([]byte(`{"request":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"request":{"uid":"x","kind":{"group":"metallb.io","version":"v1beta1","kind":"IPAddressPool"},"operation":"UPDATE","namespace":"metallb-system","object":{"metadata":{"name":"a"},"spec":{"addresses":["192.168.10.0/25"]}}}}`))
	current := resources(f, poolA)
	h := &Handler{
		Validator: Validator{Namespace: namespace},
		Current:   func(context.Context) (config.Resources, error) { return current, nil },
		InUse:     func(context.Context) ([]AddressInUse, error) { return inUse("default/web", "192.168.10.200")() },
		Log:       slog.New(slog.DiscardHandler),
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("server error %d: %s", rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK {
			return
		}
		var in, out admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			t.Fatalf("answered 200 to a body that is not a review with a request (%v)", err)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
		if out.Request != nil || out.Response == nil || out.Response.UID != in.Request.UID ||
			(!out.Response.Allowed && (out.Response.Result == nil || out.Response.Result.Message == "")) {
			t.Fatalf("bad answer %s", rec.Body)
		}
	})
}
