// Package cli is the command line both ironlb binaries share: a default action (run the daemon),
// subcommands listed one line each, `help`, `help SUBCOMMAND` and `--version`.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ironlb/ironlb/internal/version"
)

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string // one line, lower case, no period
	// Run runs the subcommand; it is given "-h" for `help NAME` and then prints its flags and
	// returns flag.ErrHelp.
	Run func(args []string, stdout, stderr io.Writer) error
}

// Program is a binary's command line.
type Program struct {
	Name     string
	Summary  string // what running it without a subcommand does
	Commands []Command
	// Default runs when the first argument is no subcommand (the daemon).
	Default func(args []string, stdout, stderr io.Writer) error
	// DefaultFlags are Default's flags, listed by help.
	DefaultFlags func() *flag.FlagSet
}

// Run dispatches args (without the program name). A request for help is no error.
func (p Program) Run(args []string, stdout, stderr io.Writer) error {
	err := p.dispatch(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func (p Program) dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return p.Default(args, stdout, stderr)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if args[0] == "help" && len(args) > 1 {
			return p.helpOn(args[1], stdout)
		}
		p.Usage(stdout)
		return nil
	case "version", "-version", "--version":
		_, err := fmt.Fprintln(stdout, version.Line(p.Name))
		return err
	}
	if cmd, ok := p.command(args[0]); ok {
		return cmd.Run(args[1:], stdout, stderr)
	}
	if !strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("unknown subcommand %q; `%s help` lists them", args[0], p.Name)
	}
	return p.Default(args, stdout, stderr)
}

func (p Program) command(name string) (Command, bool) {
	for _, c := range p.Commands {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

// helpOn prints one subcommand's summary and flags.
func (p Program) helpOn(name string, stdout io.Writer) error {
	switch name {
	case "help":
		fmt.Fprintf(stdout, "%s help [SUBCOMMAND]: %s\n", p.Name, helpSummary)
		return nil
	case "version":
		fmt.Fprintf(stdout, "%s version: %s\n", p.Name, versionSummary)
		return nil
	}
	cmd, ok := p.command(name)
	if !ok {
		return fmt.Errorf("unknown subcommand %q; `%s help` lists them", name, p.Name)
	}
	fmt.Fprintf(stdout, "%s %s: %s\n\n", p.Name, cmd.Name, cmd.Summary)
	return cmd.Run([]string{"-h"}, stdout, stdout)
}

const (
	helpSummary    = "print this help, or one subcommand's flags"
	versionSummary = "print the version and source revision (also --version)"
)

// Usage prints the synopsis, every subcommand with its one-line summary and the default action's flags.
func (p Program) Usage(w io.Writer) {
	lines := [][2]string{}
	for _, c := range p.Commands {
		lines = append(lines, [2]string{c.Name, c.Summary})
	}
	lines = append(lines, [2]string{"help [SUBCOMMAND]", helpSummary}, [2]string{"version", versionSummary})
	width := 0
	for _, l := range lines {
		width = max(width, len(l[0]))
	}
	fmt.Fprintf(w, "Usage:\n  %s [flags]             %s\n  %s SUBCOMMAND [flags]\n\nSubcommands:\n", p.Name, p.Summary, p.Name)
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
	fmt.Fprintf(w, "\nFlags of `%s`:\n", p.Name)
	fs := p.DefaultFlags()
	fs.SetOutput(w)
	fs.PrintDefaults()
}
