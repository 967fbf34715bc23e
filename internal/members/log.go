package members

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// newLogLogger returns a standard logger for memberlist that forwards each
// line to logger at the level of its "[LEVEL]" prefix.
func newLogLogger(logger *slog.Logger) *log.Logger {
	return log.New(slogWriter{logger}, "", 0)
}

type slogWriter struct{ logger *slog.Logger }

var levelPrefixes = []struct {
	prefix string
	level  slog.Level
}{
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

// Write logs one memberlist line, e.g. "[WARN] memberlist: Was able to …".
func (w slogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, lp := range levelPrefixes {
		if rest, ok := bytes.CutPrefix(line, []byte(lp.prefix)); ok {
			line, level = bytes.TrimSpace(rest), lp.level
			break
		}
	}
	line, _ = bytes.CutPrefix(line, []byte("memberlist: "))
	w.logger.Log(context.Background(), level, string(line), "component", "memberlist")
	return len(p), nil
}
