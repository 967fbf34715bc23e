package logging

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"debug", slog.LevelDebug, false},
		{"INFO", slog.LevelInfo, false},
		{"", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{"warning", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"verbose", 0, true},
	} {
		got, err := ParseLevel(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestFlagsAndDefaults(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.AddFlags(fs)
	if o.Level != "info" || o.Format != FormatText {
		t.Fatalf("defaults = %+v, want info/text", o)
	}
	if err := fs.Parse([]string{"--log-level=debug", "--log-format=json"}); err != nil {
		t.Fatal(err)
	}
	if o.Level != "debug" || o.Format != FormatJSON {
		t.Fatalf("parsed = %+v", o)
	}
}

func TestJSONOutputUsesTheKeys(t *testing.T) {
	var buf bytes.Buffer
	logger, err := Options{Level: "info", Format: "json"}.New(&buf)
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("hidden")
	logger.Info("announcing", KeyService, "default/web", KeyIP, "192.0.2.10", KeyNode, "node-a")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1 (debug filtered out): %q", len(lines), buf.String())
	}
	var record map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &record); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"level": "INFO", "msg": "announcing", "service": "default/web", "ip": "192.0.2.10", "node": "node-a"}
	for k, v := range want {
		if record[k] != v {
			t.Errorf("record[%q] = %v, want %v", k, record[k], v)
		}
	}
}

func TestTextOutputAndLevelFilter(t *testing.T) {
	var buf bytes.Buffer
	logger, err := Options{Level: "warn", Format: "text"}.New(&buf)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("dropped")
	logger.Warn("session down", KeyPeer, "router-1")
	out := buf.String()
	if strings.Contains(out, "dropped") || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "peer=router-1") {
		t.Fatalf("text output = %q", out)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := (Options{Level: "loud"}).New(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad level: err = %v", err)
	}
	if _, err := (Options{Level: "info", Format: "xml"}).New(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("bad format: err = %v", err)
	}
}

func TestSetupRoutesKlogAndDefault(t *testing.T) {
	previous := slog.Default()
	defer func() {
		slog.SetDefault(previous)
		klog.ClearLogger()
	}()
	var buf bytes.Buffer
	if _, err := (Options{Level: "info", Format: "json"}).Setup(&buf); err != nil {
		t.Fatal(err)
	}
	slog.Info("from slog")
	klog.InfoS("from klog", "node", "node-b")
	klog.Flush()
	out := buf.String()
	if !strings.Contains(out, `"msg":"from slog"`) || !strings.Contains(out, `"msg":"from klog"`) || !strings.Contains(out, `"node":"node-b"`) {
		t.Fatalf("output = %q, want both lines as JSON", out)
	}
}
