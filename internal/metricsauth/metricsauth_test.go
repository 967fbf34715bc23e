package metricsauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// apiServer is a fake API server that knows two tokens: "reader" (user
// prometheus, allowed to get /metrics) and "other" (user nobody, allowed
// nothing). It counts the reviews it answers and can fail them.
type apiServer struct {
	kube               *fake.Clientset
	tokenReviews, sars int
	failTokenReviews   bool
	lastSAR            authorizationv1.SubjectAccessReviewSpec
}

func newAPIServer() *apiServer {
	s := &apiServer{kube: fake.NewClientset()}
	s.kube.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		s.tokenReviews++
		if s.failTokenReviews {
			return true, nil, errors.New("connection refused")
		}
		tr := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		switch tr.Spec.Token {
		case "reader":
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{
				Username: "system:serviceaccount:monitoring:prometheus", UID: "u1", Groups: []string{"system:serviceaccounts"},
				Extra: map[string]authenticationv1.ExtraValue{"k": {"v"}}}}
		case "other":
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "nobody"}}
		}
		return true, tr, nil
	})
	s.kube.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		s.sars++
		sar := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		s.lastSAR = sar.Spec
		attrs := sar.Spec.NonResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "system:serviceaccount:monitoring:prometheus" &&
			attrs != nil && attrs.Path == "/metrics" && attrs.Verb == "get"
		return true, sar, nil
	})
	return s
}

func serve(t *testing.T, a *Authorizer, header string) *httptest.ResponseRecorder {
	t.Helper()
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "metrics") }))
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		code   int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"basic auth", "Basic cmVhZGVyOng=", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"unknown token", "Bearer forged", http.StatusUnauthorized},
		{"authenticated, not allowed", "Bearer other", http.StatusForbidden},
		{"allowed", "Bearer reader", http.StatusOK},
		{"allowed, scheme in lower case", "bearer reader", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Authorizer{Kube: newAPIServer().kube}
			rec := serve(t, a, tc.header)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if (rec.Body.String() == "metrics") != (tc.code == http.StatusOK) {
				t.Errorf("body %q with code %d", rec.Body, rec.Code)
			}
		})
	}
}

// The SubjectAccessReview asks for the token's user, groups, UID and extra,
// for verb get on the request's path.
func TestWrapAsksForTheTokensUser(t *testing.T) {
	s := newAPIServer()
	serve(t, &Authorizer{Kube: s.kube}, "Bearer reader")
	got := s.lastSAR
	if got.User != "system:serviceaccount:monitoring:prometheus" || got.UID != "u1" ||
		len(got.Groups) != 1 || got.Groups[0] != "system:serviceaccounts" || len(got.Extra["k"]) != 1 ||
		got.NonResourceAttributes == nil || got.NonResourceAttributes.Path != "/metrics" || got.NonResourceAttributes.Verb != "get" ||
		got.ResourceAttributes != nil {
		t.Errorf("SubjectAccessReview spec = %+v", got)
	}
}

func TestVerdictsCached(t *testing.T) {
	s := newAPIServer()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Authorizer{Kube: s.kube, Now: func() time.Time { return now }}
	for range 5 {
		serve(t, a, "Bearer reader")
		serve(t, a, "Bearer other")
	}
	if s.tokenReviews != 2 || s.sars != 2 {
		t.Fatalf("%d TokenReviews and %d SubjectAccessReviews for two tokens scraped 5 times, want 2 and 2", s.tokenReviews, s.sars)
	}
	now = now.Add(DeniedTTL)
	serve(t, a, "Bearer reader")
	serve(t, a, "Bearer other")
	if s.tokenReviews != 3 {
		t.Errorf("after %s: %d TokenReviews, want 3 (the refusal asked again, the grant still cached)", DeniedTTL, s.tokenReviews)
	}
	now = now.Add(AllowedTTL)
	serve(t, a, "Bearer reader")
	if s.tokenReviews != 4 {
		t.Errorf("after %s: %d TokenReviews, want 4 (the grant asked again)", AllowedTTL, s.tokenReviews)
	}
}

// An API server that cannot be asked makes the request fail with 503, and
// the failure is not cached: the next request asks again.
func TestAPIServerErrorNotCached(t *testing.T) {
	s := newAPIServer()
	s.failTokenReviews = true
	a := &Authorizer{Kube: s.kube}
	if rec := serve(t, a, "Bearer reader"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("code %d, want 503: %s", rec.Code, rec.Body)
	}
	s.failTokenReviews = false
	if rec := serve(t, a, "Bearer reader"); rec.Code != http.StatusOK {
		t.Fatalf("code %d after the API server came back, want 200: %s", rec.Code, rec.Body)
	}
	if s.tokenReviews != 2 {
		t.Errorf("%d TokenReviews, want 2", s.tokenReviews)
	}
}

// A flood of distinct forged tokens never grows the cache past MaxCached.
func TestCacheBounded(t *testing.T) {
	a := &Authorizer{Kube: newAPIServer().kube}
	for i := range 3 * MaxCached {
		serve(t, a, fmt.Sprintf("Bearer forged-%d", i))
		if len(a.cache) > MaxCached {
			t.Fatalf("%d cached verdicts after %d tokens, want at most %d", len(a.cache), i+1, MaxCached)
		}
	}
}

func TestSelfSigned(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cert, err := SelfSigned(now, "speaker")
	if err != nil {
		t.Fatal(err)
	}
	if leaf := cert.Leaf; leaf.NotBefore.After(now.Add(-2*time.Hour)) || leaf.NotAfter.Before(now.Add(SelfSignedLifetime)) ||
		leaf.DNSNames[0] != "speaker" {
		t.Errorf("certificate valid %s to %s for %v", leaf.NotBefore, leaf.NotAfter, leaf.DNSNames)
	}
}
