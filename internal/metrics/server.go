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
}

// Handler serves /metrics from g, /healthz (200 when healthy returns nil,
// 503 with its error otherwise) and /readyz (the same with ready); a nil
// function means always.
func Handler(g prometheus.Gatherer, ready, healthy func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
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
	srv := &http.Server{Handler: Handler(opts.Gatherer, opts.Ready, opts.Healthy)}
	if opts.CertFile != "" || opts.KeyFile != "" {
		if opts.CertFile == "" || opts.KeyFile == "" {
			ln.Close()
			return fmt.Errorf("metrics endpoint: TLS needs both a certificate and a key file")
		}
		keys := &keyPairFiles{certFile: opts.CertFile, keyFile: opts.KeyFile}
		if _, err := keys.GetCertificate(nil); err != nil {
			ln.Close()
			return fmt.Errorf("metrics endpoint: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: keys.GetCertificate}
	}
	return httpserve.Run(ctx, srv, ln)
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
