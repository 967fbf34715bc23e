package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/ironlb/ironlb/internal/httpserve"
)

// DefaultAddr is where the controller serves the webhook; the webhook
// Service maps port 443 to it.
const DefaultAddr = ":9443"

// MaxConcurrentReviews bounds the admission reviews served at once (each
// lists the configuration); the API server sends one per object written,
// so more than a few at once is a flood, answered with 429.
const MaxConcurrentReviews = 16

// Serve serves h at Path over HTTPS on addr, with the certificate
// getCertificate returns (CertRotator.GetCertificate), until ctx is done.
func Serve(ctx context.Context, addr string, h http.Handler, getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	return ServeListener(ctx, ln, h, getCertificate)
}

// ServeListener is Serve on a listener the caller opened.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) error {
	mux := http.NewServeMux()
	mux.Handle(Path, httpserve.LimitConcurrency(h, MaxConcurrentReviews))
	srv := &http.Server{
		Handler:   mux,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCertificate},
	}
	return httpserve.Run(ctx, srv, ln)
}
