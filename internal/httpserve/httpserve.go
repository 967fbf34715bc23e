// Package httpserve runs an HTTP(S) server for as long as a context lives
// and shuts it down gracefully when the context ends. The metrics endpoint
// and the admission webhook both use it.
package httpserve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout bounds how long in-flight requests may take to finish once
// the context is done.
const ShutdownTimeout = 5 * time.Second

// Timeouts Run sets on a server that leaves them zero, so that a slow or
// idle client never holds a connection (and its goroutine and buffers) for
// long: the request headers must arrive within ReadHeaderTimeout, the whole
// request within ReadTimeout, the response must be written within
// WriteTimeout, and a kept-alive connection is closed after IdleTimeout
// without a request. Admission requests and metrics scrapes take
// milliseconds; the API server gives a webhook at most 30 s.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 90 * time.Second
)

// Run serves srv on ln until ctx is done, then shuts the server down. The
// server speaks TLS when srv.TLSConfig is set (its certificates come from
// TLSConfig, e.g. GetCertificate). Timeouts srv leaves zero are set to the
// values above. Run returns nil after a shutdown caused by ctx, or the
// error that stopped the server.
func Run(ctx context.Context, srv *http.Server, ln net.Listener) error {
	setDefault(&srv.ReadHeaderTimeout, ReadHeaderTimeout)
	setDefault(&srv.ReadTimeout, ReadTimeout)
	setDefault(&srv.WriteTimeout, WriteTimeout)
	setDefault(&srv.IdleTimeout, IdleTimeout)
	served := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if served := <-served; !errors.Is(served, http.ErrServerClosed) && err == nil {
		err = served
	}
	return err
}

// ListenAndRun listens on addr (host:port, e.g. ":7472") and calls Run.
func ListenAndRun(ctx context.Context, srv *http.Server, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return Run(ctx, srv, ln)
}

func setDefault(d *time.Duration, value time.Duration) {
	if *d == 0 {
		*d = value
	}
}

// LimitConcurrency serves at most n requests of h at once; a request beyond
// that is answered at once with 429 Too Many Requests and a Retry-After of
// one second, so a burst never queues without bound.
func LimitConcurrency(h http.Handler, n int) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many concurrent requests", http.StatusTooManyRequests)
		}
	})
}
