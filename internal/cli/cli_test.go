package cli

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/version"
)

// testProgram records which action ran with which arguments.
func testProgram(ran *string) Program {
	defaultFlags := func() *flag.FlagSet {
		fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
		fs.String("node", "", "this node")
		return fs
	}
	return Program{
		Name:    "daemon",
		Summary: "run the daemon",
		Commands: []Command{{Name: "check", Summary: "check a file", Run: func(args []string, _, stderr io.Writer) error {
			fs := flag.NewFlagSet("check", flag.ContinueOnError)
			fs.SetOutput(stderr)
			fs.String("f", "", "the file")
			if err := fs.Parse(args); err != nil {
				return err
			}
			*ran = "check " + strings.Join(args, " ")
			return nil
		}}},
		Default: func(args []string, _, stderr io.Writer) error {
			fs := defaultFlags()
			fs.SetOutput(stderr)
			if err := fs.Parse(args); err != nil {
				return err
			}
			*ran = "default " + strings.Join(args, " ")
			return nil
		},
		DefaultFlags: defaultFlags,
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		ran     string   // the action that ran, "" for none
		out     []string // in stdout
		wantErr string
	}{
		{args: nil, ran: "default "},
		{args: []string{"--node", "a"}, ran: "default --node a"},
		{args: []string{"check", "-f", "x"}, ran: "check -f x"},
		{args: []string{"help"}, out: []string{"Usage:", "daemon SUBCOMMAND", "  check              check a file\n", "help [SUBCOMMAND]", "version", "-node string"}},
		{args: []string{"--help"}, out: []string{"  check              check a file\n", "-node string"}},
		{args: []string{"-h"}, out: []string{"  check              check a file\n"}},
		{args: []string{"help", "check"}, out: []string{"daemon check: check a file", "-f string"}},
		{args: []string{"help", "version"}, out: []string{"daemon version: print the version"}},
		{args: []string{"help", "nope"}, wantErr: `unknown subcommand "nope"`},
		{args: []string{"--version"}, out: []string{"daemon " + version.Version + ", revision "}},
		{args: []string{"version"}, out: []string{"daemon " + version.Version}},
		{args: []string{"nope"}, wantErr: `unknown subcommand "nope"; ` + "`daemon help` lists them"},
		{args: []string{"--node", "a", "-h"}}, // the daemon's own flag help is no error
		{args: []string{"--bogus"}, wantErr: "flag provided but not defined: -bogus"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var ran string
			var stdout, stderr bytes.Buffer
			err := testProgram(&ran).Run(tc.args, &stdout, &stderr)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if ran != tc.ran {
				t.Errorf("ran %q, want %q", ran, tc.ran)
			}
			for _, want := range tc.out {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func TestHelpFlagIsNoErrorButOtherErrorsAre(t *testing.T) {
	p := Program{Name: "x", Default: func([]string, io.Writer, io.Writer) error { return errors.New("boom") }}
	if err := p.Run([]string{"-v"}, io.Discard, io.Discard); err == nil || err.Error() != "boom" {
		t.Errorf("err = %v, want boom", err)
	}
	p.Default = func([]string, io.Writer, io.Writer) error { return flag.ErrHelp }
	if err := p.Run([]string{"-v"}, io.Discard, io.Discard); err != nil {
		t.Errorf("flag.ErrHelp came back as %v", err)
	}
}
