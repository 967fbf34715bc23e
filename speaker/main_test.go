package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/version"
)

// TestHelpAndVersion: the speaker answers help and --version without starting.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}} {
		var stdout bytes.Buffer
		if err := run(args, &stdout, nil); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"\n  help [SUBCOMMAND] ", "\n  version ", "-node-name string", "-memberlist-port int"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, stdout.String())
			}
		}
	}
	var stdout bytes.Buffer
	if err := run([]string{"--version"}, &stdout, nil); err != nil {
		t.Fatal(err)
	}
	if want := "speaker " + version.Version + ", revision "; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("--version = %q, want it to start with %q", stdout.String(), want)
	}
}

func TestServeRefusesBadArguments(t *testing.T) {
	t.Setenv("METALLB_NODE_NAME", "")
	t.Setenv("NODE_NAME", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--node-name (or METALLB_NODE_NAME) is required"},
		{[]string{"announce"}, `unknown subcommand "announce"`},
		{[]string{"--node-name", "n1", "extra"}, `unexpected argument "extra"`},
		{[]string{"--node-name", "n1", "--memberlist-bind-addr", "nope"}, "--memberlist-bind-addr"},
	} {
		var stderr bytes.Buffer
		err := run(tc.args, nil, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}
