package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/logging"
)

// Path is the URL path the ValidatingWebhookConfiguration sends reviews to.
const Path = "/validate-metallb-io"

// maxReviewBytes bounds the size of an AdmissionReview the handler reads;
// the API server caps objects at a few MiB.
const maxReviewBytes = 8 << 20

// Handler serves AdmissionReviews (admission.k8s.io/v1) over HTTP.
type Handler struct {
	Validator Validator
	// Current returns the configuration objects as they are before the
	// change; it should read the API server, not a cache, so that objects
	// created just before are seen (see k8s.Clients.ListConfig).
	Current func(ctx context.Context) (config.Resources, error)
	// InUse, when set, returns the addresses Services show, read from the
	// API server; a pool change leaving one in no pool is warned about
	// (Validator.UnpooledWarnings).
	InUse func(ctx context.Context) ([]AddressInUse, error)
	// Log receives one line per refused request; nil means slog.Default().
	Log *slog.Logger
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "AdmissionReview must be POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxReviewBytes {
		http.Error(w, "AdmissionReview too large", http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("not an AdmissionReview with a request: %v", err), http.StatusBadRequest)
		return
	}
	req := review.Request
	var resp *admissionv1.AdmissionResponse
	if current, err := h.Current(r.Context()); err != nil {
		resp = denied(req, http.StatusInternalServerError, "cannot read the current metallb.io configuration to validate against: "+err.Error())
	} else {
		resp = h.Validator.Review(req, current)
		if resp.Allowed && h.InUse != nil {
			resp.Warnings = h.Validator.UnpooledWarnings(req, current, func() ([]AddressInUse, error) { return h.InUse(r.Context()) })
		}
	}
	if !resp.Allowed {
		h.logger().Info("admission refused", "operation", req.Operation, "kind", req.Kind.Kind,
			"object", req.Namespace+"/"+req.Name, "user", req.UserInfo.Username, logging.KeyError, resp.Result.Message)
	}
	review.Request = nil
	review.Response = resp
	review.SetGroupVersionKind(admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"))
	out, err := json.Marshal(&review)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (h *Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
