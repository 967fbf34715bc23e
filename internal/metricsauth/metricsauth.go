// Package metricsauth guards the metrics endpoint as kube-rbac-proxy guards
// MetalLB's: a request must carry a bearer token that the API server
// authenticates (TokenReview) and whose user may "get" the request's path as
// a non-resource URL (SubjectAccessReview), e.g. through the ClusterRole
// metallb-metrics-reader. Verdicts are cached briefly, so that a scrape
// every few seconds costs the API server two requests a minute per token.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Cache lifetimes and bound: an allowed token is trusted for AllowedTTL, a
// refused one refused for DeniedTTL (a grant added by an administrator
// takes effect within it), at most MaxCached verdicts are kept.
const (
	AllowedTTL = time.Minute
	DeniedTTL  = 10 * time.Second
	MaxCached  = 256
	// reviewTimeout bounds the two reviews of one request.
	reviewTimeout = 5 * time.Second
)

// verdict is the outcome of the reviews for one token and path: the status
// code to answer (200 lets the request through) and the reason for a
// refusal.
type verdict struct {
	code    int
	reason  string
	expires time.Time
}

// Authorizer asks the API server who a bearer token belongs to and whether
// that user may read a path.
type Authorizer struct {
	Kube kubernetes.Interface
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger

	mu    sync.Mutex
	cache map[[sha256.Size]byte]verdict
}

// Wrap lets a request through to next only when its token is allowed to
// get the request's path: 401 without a token or with one the API server
// does not authenticate, 403 when it is not allowed, 503 when the API
// server cannot be asked.
func (a *Authorizer) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ironlb metrics"`)
			http.Error(w, "Unauthorized: a bearer token is required", http.StatusUnauthorized)
			return
		}
		v := a.decide(r.Context(), token, r.URL.Path)
		if v.code != http.StatusOK {
			http.Error(w, v.reason, v.code)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken is the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, found && strings.EqualFold(scheme, "Bearer") && token != ""
}

// decide returns the cached verdict for token and path, or asks the API
// server. An error of the API server is not cached.
func (a *Authorizer) decide(ctx context.Context, token, path string) verdict {
	key := sha256.Sum256([]byte(path + "\x00" + token))
	now := a.now()
	a.mu.Lock()
	v, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(v.expires) {
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	v, cacheable := a.review(ctx, token, path)
	if !cacheable {
		a.logger().Warn("metrics request not authorized: the API server could not be asked", "reason", v.reason)
		return v
	}
	v.expires = now.Add(DeniedTTL)
	if v.code == http.StatusOK {
		v.expires = now.Add(AllowedTTL)
	}
	a.store(key, v, now)
	return v
}

// review authenticates token and authorizes its user to get path. It
// reports whether the verdict may be cached (not an API server error).
func (a *Authorizer) review(ctx context.Context, token, path string) (verdict, bool) {
	tr, err := a.Kube.AuthenticationV1().TokenReviews().Create(ctx,
		&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return verdict{code: http.StatusServiceUnavailable, reason: fmt.Sprintf("authenticating the token: %v", err)}, false
	}
	if !tr.Status.Authenticated {
		return verdict{code: http.StatusUnauthorized, reason: "Unauthorized: the API server does not authenticate the token"}, true
	}
	user := tr.Status.User
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := a.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: "get"},
		}}, metav1.CreateOptions{})
	if err != nil {
		return verdict{code: http.StatusServiceUnavailable, reason: fmt.Sprintf("authorizing %s: %v", user.Username, err)}, false
	}
	if !sar.Status.Allowed {
		return verdict{code: http.StatusForbidden, reason: fmt.Sprintf("Forbidden: %s may not get %s", user.Username, path)}, true
	}
	return verdict{code: http.StatusOK}, true
}

// store caches v, first dropping expired verdicts, and when the cache is
// still full, all of them: a flood of distinct tokens never grows it past
// MaxCached.
func (a *Authorizer) store(key [sha256.Size]byte, v verdict, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cache == nil {
		a.cache = map[[sha256.Size]byte]verdict{}
	}
	if len(a.cache) >= MaxCached {
		for k, cached := range a.cache {
			if !now.Before(cached.expires) {
				delete(a.cache, k)
			}
		}
	}
	if len(a.cache) >= MaxCached {
		clear(a.cache)
	}
	a.cache[key] = v
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authorizer) logger() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}
