package main

import (
	"context"
	"errors"
	"flag"
	"os"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// demo is a placeholder filled in below.
func demo(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	nodes := flags.Int("nodes", 3, "number of nodes")
	if err := flags.Parse(args); err != nil {
		return err
	}
	_ = nodes
	_ = os.Stderr
	_ = lab.BIRD2
	return errors.New("demo: not written yet")
}
