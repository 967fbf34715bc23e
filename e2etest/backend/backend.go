// Package backend is the lab's stand-in for a Service's pods: an HTTP
// server that answers every request with a name (its node's), so a reply
// tells which node the traffic reached. It is kept apart from package lab so
// that the backend image holds a small binary.
package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve answers every HTTP request on addr with name and a newline, until
// ctx ends. The lab runs it per node namespace (`lab backend`) without
// pods, and as the backend image's entrypoint with pods.
func Serve(ctx context.Context, name, addr string) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	server := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintln(w, name)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		server.Shutdown(shutdown)
	}()
	if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
