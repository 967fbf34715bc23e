// Package logging configures log/slog for the controller and the speakers:
// one structured logger for the whole process, text or JSON, at the level
// given by --log-level, with client-go's klog output routed through it.
//
// Every component logs the same things under the same keys (the Key*
// constants), so that one query finds every line about a service, an IP, a
// node or a BGP peer whichever component wrote it.
package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"k8s.io/klog/v2"
)

// The attribute keys every component uses.
const (
	// KeyService is a Service's identity, "namespace/name".
	KeyService = "service"
	// KeyIP is an address, as netip.Addr.String prints it.
	KeyIP = "ip"
	// KeyNode is a Kubernetes node name.
	KeyNode = "node"
	// KeyPeer is a BGPPeer's name.
	KeyPeer = "peer"
	// KeyPool is an IPAddressPool's name.
	KeyPool = "pool"
	// KeyError is the error that caused the line.
	KeyError = "err"
)

// The output formats.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Options are the logging flags.
type Options struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is text or json.
	Format string
}

// AddFlags registers --log-level and --log-format on fs, with defaults info
// and text.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.Format, "log-format", FormatText, "log format: text or json")
}

// ParseLevel reads a level name, case-insensitively.
func ParseLevel(name string) (slog.Level, error) {
	switch strings.ToLower(name) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level: unknown level %q (want debug, info, warn or error)", name)
}

// New returns a logger writing to w as the options say.
func (o Options) New(w io.Writer) (*slog.Logger, error) {
	level, err := ParseLevel(o.Level)
	if err != nil {
		return nil, err
	}
	handlerOptions := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(o.Format) {
	case FormatText, "":
		return slog.New(slog.NewTextHandler(w, handlerOptions)), nil
	case FormatJSON:
		return slog.New(slog.NewJSONHandler(w, handlerOptions)), nil
	}
	return nil, fmt.Errorf("--log-format: unknown format %q (want text or json)", o.Format)
}

// Setup builds the logger, makes it slog's default and sends klog's output
// (client-go's informers, leader election, event broadcaster) through it, so
// that the process writes one format only.
func (o Options) Setup(w io.Writer) (*slog.Logger, error) {
	logger, err := o.New(w)
	if err != nil {
		return nil, err
	}
	slog.SetDefault(logger)
	klog.SetSlogLogger(logger)
	return logger, nil
}
