// Package webhook is ironlb's validating admission webhook for the metallb.io
// configuration kinds, and the certificates it serves with.
//
// A change to an IPAddressPool, L2Advertisement, BGPAdvertisement, Community,
// BFDProfile or BGPPeer is judged by applying it to the current objects and
// building the whole resulting configuration with config.Build — the same
// validation the controller, the speakers and `controller validate` run — so
// an overlap with an existing pool, an advertisement naming a missing pool or
// a bad field is refused at `kubectl apply` with the same words.
//
// A change is refused only for the errors it introduces: when the current
// configuration is already broken (objects created while the webhook was not
// running), unrelated errors do not block fixing it one object at a time.
package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/config"
)

// Group is the API group the webhook validates.
const Group = "metallb.io"

// Validator judges admission requests against the current configuration.
type Validator struct {
	// Namespace is the namespace ironlb reads its configuration from;
	// objects created elsewhere would be ignored, so they are refused.
	Namespace string
}

// Review decides req given current, the objects of the namespace before the
// change. It never fails: a request it cannot judge is refused with the
// reason.
func (v Validator) Review(req *admissionv1.AdmissionRequest, current config.Resources) *admissionv1.AdmissionResponse {
	if req.Kind.Group != Group {
		return allowed(req)
	}
	k, ok := config.KindNamed(req.Kind.Kind)
	if !ok || req.Kind.Version != k.Version {
		// Not a configuration kind (e.g. a status object): not ours to judge.
		return allowed(req)
	}
	raw := req.Object.Raw
	if req.Operation == admissionv1.Delete {
		raw = req.OldObject.Raw
	}
	if req.Operation != admissionv1.Delete && req.Namespace != v.Namespace {
		return denied(req, http.StatusForbidden, fmt.Sprintf("%s %s/%s: metadata.namespace: must be %s, the namespace ironlb reads its configuration from",
			req.Kind.Kind, req.Namespace, req.Name, v.Namespace))
	}
	next, err := applyChange(k, current, req.Operation, raw)
	if err != nil {
		return denied(req, http.StatusBadRequest, fmt.Sprintf("%s %s/%s: cannot decode the object: %v", req.Kind.Kind, req.Namespace, req.Name, err))
	}
	_, before := config.Build(current)
	_, after := config.Build(next)
	introduced := newErrors(before, after)
	if len(introduced) == 0 {
		return allowed(req)
	}
	message := strings.Join(introduced, "\n")
	if req.Operation == admissionv1.Delete {
		message = fmt.Sprintf("%s %s/%s is still needed:\n%s", req.Kind.Kind, req.Namespace, req.Name, message)
	}
	return denied(req, http.StatusForbidden, message)
}

// newErrors returns the lines of after's errors that before does not have.
func newErrors(before, after error) []string {
	known := map[string]bool{}
	for _, line := range errorLines(before) {
		known[line] = true
	}
	var out []string
	for _, line := range errorLines(after) {
		if !known[line] {
			out = append(out, line)
		}
	}
	return out
}

// errorLines splits a Build error into one line per problem.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	var errs config.Errors
	if errors.As(err, &errs) {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = e.Error()
		}
		return lines
	}
	return []string{err.Error()}
}

func allowed(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
}

func denied(req *admissionv1.AdmissionRequest, code int32, message string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		UID: req.UID,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    code,
			Reason:  reasonFor(code),
			Message: message,
		},
	}
}

func reasonFor(code int32) metav1.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusForbidden:
		return metav1.StatusReasonInvalid
	case http.StatusInternalServerError:
		return metav1.StatusReasonInternalError
	}
	return metav1.StatusReasonForbidden
}

// applyChange returns a copy of res with the object of kind k in raw
// created, updated (replaced by name) or deleted.
func applyChange(k config.Kind, res config.Resources, op admissionv1.Operation, raw []byte) (config.Resources, error) {
	if len(raw) == 0 {
		return res, fmt.Errorf("the request carries no object")
	}
	obj := k.New()
	if err := json.Unmarshal(raw, obj); err != nil {
		return res, err
	}
	current := k.Objects(&res)
	next := make([]config.Object, 0, len(current)+1)
	for _, o := range current {
		if o.GetName() != obj.GetName() {
			next = append(next, o)
		}
	}
	if op != admissionv1.Delete {
		next = append(next, obj)
	}
	return res, k.SetObjects(&res, next)
}
