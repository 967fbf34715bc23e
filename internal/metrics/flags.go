package metrics

import (
	"flag"
	"net/http"
)

// Flags are the command-line flags of the metrics endpoints, the same for
// the controller and the speaker.
type Flags struct {
	// Addr is the plain HTTP endpoint, without authentication.
	Addr string
	// SecureAddr is the HTTPS endpoint whose /metrics needs a token
	// allowed to get it (ServerOptions.Authorize).
	SecureAddr string
	// CertFile and KeyFile are the secure endpoint's certificate; without
	// them it issues itself a self-signed one.
	CertFile, KeyFile string
}

// AddFlags registers the flags on fs. The defaults serve plain HTTP on
// :7472, as MetalLB's binaries do; the shipped manifests bind that to
// 127.0.0.1 and serve the secure endpoint on :9120 (docs/metrics.md).
func (f *Flags) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.Addr, "metrics-addr", ":7472", "address of the plain HTTP /metrics, /healthz and /readyz, without authentication (empty: none)")
	fs.StringVar(&f.SecureAddr, "secure-metrics-addr", "", "address of the HTTPS /metrics (a bearer token allowed to get /metrics is required), /healthz and /readyz (empty: none)")
	fs.StringVar(&f.CertFile, "metrics-tls-cert", "", "TLS certificate of the secure metrics endpoint, with --metrics-tls-key (default: self-signed at start)")
	fs.StringVar(&f.KeyFile, "metrics-tls-key", "", "TLS key of the secure metrics endpoint")
}

// Endpoints are the options of the plain and the secure endpoint, both
// serving base's registry and probes; authorize guards the secure one.
func (f *Flags) Endpoints(base ServerOptions, authorize func(http.Handler) http.Handler) []ServerOptions {
	plain, secure := base, base
	plain.Addr = f.Addr
	secure.Addr, secure.CertFile, secure.KeyFile, secure.Authorize = f.SecureAddr, f.CertFile, f.KeyFile, authorize
	return []ServerOptions{plain, secure}
}
