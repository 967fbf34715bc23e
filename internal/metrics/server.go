package metrics

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ironlb/ironlb/internal/httpserve"
	"github.com/ironlb/ironlb/internal/metricsauth"
)

// ServerOptions configure the metrics endpoint.
type ServerOptions struct {
	// Addr is host:port to listen on, e.g. ":7472".
	Addr string
	// CertFile and KeyFile, when both set, make the endpoint serve HTTPS
	// with that key pair. The files are read again whenever they change,
	// so a rotated certificate needs no restart.
	CertFile, KeyFile string
	// Gatherer is the registry to expose (see NewRegistry).
	Gatherer prometheus.Gatherer
	// Ready reports whether the process is ready (nil) or why not; nil
	// Ready means always ready.
	Ready func() error
	// Healthy reports whether the process makes progress (nil) or why not;
	// nil Healthy means healthy while it serves.
	Healthy func() error
	// Authorize, when set, guards /metrics (never /healthz and /readyz,
	// which the kubelet probes without credentials; they tell only whether
	// the process is healthy and ready). The endpoint then always speaks
	// TLS: with CertFile and KeyFile, or else a self-signed certificate
	// issued at start, so that no bearer token crosses the network in
	// clear text.
	Authorize func(http.Handler) http.Handler
}

// Handler serves /metrics from g, /healthz (200 when healthy returns nil,
// 503 with its error otherwise) and /readyz (the same with ready); a nil
// function means always. A non-nil authorize wraps /metrics only.
func Handler(g prometheus.Gatherer, ready, healthy func() error, authorize func(http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	var metrics http.Handler = promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	if authorize != nil {
		metrics = authorize(metrics)
	}
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/healthz", probe("unhealthy", healthy))
	mux.HandleFunc("/readyz", probe("not ready", ready))
	return mux
}

// probe answers 200 "ok" when check is nil or returns nil, else 503 with
// what followed by check's error.
func probe(what string, check func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if check != nil {
			if err := check(); err != nil {
				http.Error(w, what+": "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	}
}

// Serve listens on opts.Addr and serves the metrics endpoint until ctx is
// done.
func Serve(ctx context.Context, opts ServerOptions) error {
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("metrics endpoint: %w", err)
	}
	return ServeListener(ctx, ln, opts)
}

// ServeListener is Serve on a listener the caller opened; opts.Addr is
// ignored.
func ServeListener(ctx context.Context, ln net.Listener, opts ServerOptions) error {
	srv := &http.Server{Handler: Handler(opts.Gatherer, opts.Ready, opts.Healthy, opts.Authorize)}
	getCertificate, err := certificateSource(opts)
	if err != nil {
		ln.Close()
		return fmt.Errorf("metrics endpoint: %w", err)
	}
	if getCertificate != nil {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCertificate}
	}
	return httpserve.Run(ctx, srv, ln)
}

// certificateSource is where the endpoint's TLS certificate comes from: the
// files when set, a self-signed certificate when the endpoint authorizes
// requests, nil (plain HTTP) otherwise.
func certificateSource(opts ServerOptions) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	if opts.CertFile != "" || opts.KeyFile != "" {
		if opts.CertFile == "" || opts.KeyFile == "" {
			return nil, fmt.Errorf("TLS needs both a certificate and a key file")
		}
		keys := &keyPairFiles{certFile: opts.CertFile, keyFile: opts.KeyFile}
		if _, err := keys.GetCertificate(nil); err != nil {
			return nil, err
		}
		return keys.GetCertificate, nil
	}
	if opts.Authorize == nil {
		return nil, nil
	}
	host, _ := os.Hostname() // only the certificate's name, which scrapers do not verify
	if host == "" {
		host = "localhost"
	}
	cert, err := metricsauth.SelfSigned(time.Now(), host)
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }, nil
}

// ServeEach serves every endpoint of endpoints whose Addr is not empty
// until ctx is done. It returns the first error that stops one at once (the
// others keep serving until ctx is done), or nil once all stopped with ctx.
func ServeEach(ctx context.Context, endpoints ...ServerOptions) error {
	errs := make(chan error, len(endpoints))
	n := 0
	for _, opts := range endpoints {
		if opts.Addr == "" {
			continue
		}
		n++
		go func() { errs <- Serve(ctx, opts) }()
	}
	for range n {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// keyPairFiles loads a key pair from files and reloads it when either file's
// modification time changes.
type keyPairFiles struct {
	certFile, keyFile string

	mu              sync.Mutex
	cert            *tls.Certificate
	certMod, keyMod time.Time
}

// GetCertificate implements tls.Config.GetCertificate.
func (k *keyPairFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	certInfo, err := os.Stat(k.certFile)
	if err != nil {
		return nil, err
	}
	keyInfo, err := os.Stat(k.keyFile)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && certInfo.ModTime().Equal(k.certMod) && keyInfo.ModTime().Equal(k.keyMod) {
		return k.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS key pair %s, %s: %w", k.certFile, k.keyFile, err)
	}
	k.cert, k.certMod, k.keyMod = &cert, certInfo.ModTime(), keyInfo.ModTime()
	return k.cert, nil
}
