// Command backend is the lab's backend image: an HTTP server answering
// every request with its node's name (--name, else $NODE_NAME, which the
// pod gets from the downward API).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ironlb/ironlb/e2etest/backend"
)

func main() {
	name := flag.String("name", os.Getenv("NODE_NAME"), "the name to answer with")
	listen := flag.String("listen", ":80", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := backend.Serve(ctx, *name, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}
