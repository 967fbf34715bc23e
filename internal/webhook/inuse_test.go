package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/ironlb/ironlb/internal/config"
)

const poolAShrunk = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec:
  addresses: [192.168.10.0/25]
`

const poolAAvoidsBuggy = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec:
  addresses: [192.168.10.0/24]
  avoidBuggyIPs: true
`

const poolCTakesOver = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: c, namespace: metallb-system}
spec:
  addresses: [192.168.10.128/25]
`

func inUse(pairs ...string) func() ([]AddressInUse, error) {
	return func() ([]AddressInUse, error) {
		var out []AddressInUse
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, AddressInUse{Service: pairs[i], IP: netip.MustParseAddr(pairs[i+1])})
		}
		return out, nil
	}
}

func TestUnpooledWarnings(t *testing.T) {
	used := inUse("default/web", "192.168.10.200", "default/db", "192.168.10.0", "default/low", "192.168.10.5")
	v := Validator{Namespace: namespace}
	tests := []struct {
		name    string
		current string
		req     *admissionv1.AdmissionRequest
		want    []string // services warned about, in order
	}{
		{"pool deleted", poolA, request(t, admissionv1.Delete, poolA), []string{"default/web", "default/db", "default/low"}},
		{"pool shrunk", poolA, request(t, admissionv1.Update, poolAShrunk), []string{"default/web"}},
		{".0 now avoided", poolA, request(t, admissionv1.Update, poolAAvoidsBuggy), []string{"default/db"}},
		{"shrunk, the rest in another pool", poolAShrunk + "---" + poolCTakesOver, request(t, admissionv1.Delete, poolCTakesOver), []string{"default/web"}},
		{"unchanged", poolA, request(t, admissionv1.Update, poolA), nil},
		{"a new pool", poolAShrunk, request(t, admissionv1.Create, poolCTakesOver), nil},
		{"not a pool", poolA + "---" + l2ForA, request(t, admissionv1.Delete, l2ForA), nil},
	}
	for _, tt := range tests {
		warnings := v.UnpooledWarnings(tt.req, resources(t, tt.current), used)
		var got []string
		for _, w := range warnings {
			for _, svc := range []string{"default/web", "default/db", "default/low"} {
				if strings.Contains(w, "Service "+svc+" ") {
					got = append(got, svc)
				}
			}
		}
		if !slices.Equal(got, tt.want) || len(warnings) != len(tt.want) {
			t.Errorf("%s: warnings %q, want one for each of %v", tt.name, warnings, tt.want)
		}
	}
	w := v.UnpooledWarnings(request(t, admissionv1.Update, poolAShrunk), resources(t, poolA), used)
	if want := "192.168.10.200 of Service default/web would be in no IPAddressPool (was in a): the Service keeps it, not announced, until a pool contains it again"; len(w) != 1 || w[0] != want {
		t.Errorf("warning = %q, want %q", w, want)
	}
}

func TestUnpooledWarningsBounded(t *testing.T) {
	var pairs []string
	for i := range 25 {
		pairs = append(pairs, "default/s", netip.AddrFrom4([4]byte{192, 168, 10, byte(i)}).String())
	}
	w := Validator{Namespace: namespace}.UnpooledWarnings(request(t, admissionv1.Delete, poolA), resources(t, poolA), inUse(pairs...))
	if len(w) != maxInUseWarnings+1 || w[maxInUseWarnings] != "and 15 more addresses in use would be in no IPAddressPool" {
		t.Errorf("%d warnings, last %q", len(w), w[len(w)-1])
	}
	failing := func() ([]AddressInUse, error) { return nil, errors.New("forbidden") }
	w = Validator{Namespace: namespace}.UnpooledWarnings(request(t, admissionv1.Delete, poolA), resources(t, poolA), failing)
	if len(w) != 1 || !strings.Contains(w[0], "forbidden") {
		t.Errorf("warnings when Services cannot be listed: %q", w)
	}
}

// The handler returns the warnings in an allowed review.
func TestHandlerWarnsAboutAddressesLeftInNoPool(t *testing.T) {
	h := &Handler{
		Validator: Validator{Namespace: namespace},
		Current:   func(context.Context) (config.Resources, error) { return resources(t, poolA), nil },
		InUse: func(context.Context) ([]AddressInUse, error) {
			return inUse("default/web", "192.168.10.200")()
		},
		Log: slog.New(slog.DiscardHandler),
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", Path, strings.NewReader(string(reviewOf(t, request(t, admissionv1.Delete, poolA))))))
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil {
		t.Fatal(err)
	}
	if r := review.Response; r == nil || !r.Allowed || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "default/web") {
		t.Errorf("response = %+v", review.Response)
	}
}
