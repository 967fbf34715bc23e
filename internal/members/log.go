package members

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"slices"
)

// newLogLogger returns a standard logger for memberlist that forwards each
// line to logger at the level of its "[LEVEL]" prefix. onAccused, if not
// nil, is called when memberlist refutes a message declaring this node
// suspect or dead: the only way memberlist tells a node that the others
// believed it gone.
func newLogLogger(logger *slog.Logger, onAccused func()) *log.Logger {
	return log.New(slogWriter{logger: logger, onAccused: onAccused}, "", 0)
}

type slogWriter struct {
	logger    *slog.Logger
	onAccused func()
}

// refutations start the lines memberlist writes when it refutes an
// accusation against this node.
var refutations = [][]byte{[]byte("Refuting a suspect message"), []byte("Refuting a dead message")}

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
	if w.onAccused != nil && slices.ContainsFunc(refutations, func(r []byte) bool { return bytes.HasPrefix(line, r) }) {
		w.onAccused()
	}
	w.logger.Log(context.Background(), level, string(line), "component", "memberlist")
	return len(p), nil
}
