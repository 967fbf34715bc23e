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

// Run serves srv on ln until ctx is done, then shuts the server down. The
// server speaks TLS when srv.TLSConfig is set (its certificates come from
// TLSConfig, e.g. GetCertificate). Run returns nil after a shutdown caused
// by ctx, or the error that stopped the server.
func Run(ctx context.Context, srv *http.Server, ln net.Listener) error {
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = 10 * time.Second
	}
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
