package members

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// newLogLogger returns a standard logger for memberlist that forwards each
// line to logger at the level of its "[LEVEL]" prefix. onAccused, if not
// nil, is called when memberlist refutes a message declaring this node
// suspect or dead: the only way memberlist tells a node that the others
// believed it gone. onDecryptFailure, if not nil, is called for each line
// reporting a message that no installed key decrypts.
func newLogLogger(logger *slog.Logger, onAccused, onDecryptFailure func()) *log.Logger {
	return log.New(&slogWriter{logger: logger, onAccused: onAccused, onDecryptFailure: onDecryptFailure, now: time.Now}, "", 0)
}

// decryptFailure is how memberlist reports a message (a packet, a stream,
// the answer to a join) that none of its keys decrypts.
const decryptFailure = "no installed keys could decrypt the message"

// isDecryptFailure reports whether a memberlist log line or error says that
// no installed key decrypted a message: the sender uses a key this member
// does not hold.
func isDecryptFailure(text string) bool {
	return strings.Contains(strings.ToLower(text), decryptFailure)
}

// Warnings and errors are rate-limited: a peer that keeps failing (a
// blocked port, a wrong key) makes memberlist write a line per probe. At
// most logBurst of them are written per logWindow; the count of those left
// out is written with the first line of the next window.
const (
	logBurst  = 10
	logWindow = 10 * time.Second
)

type slogWriter struct {
	logger           *slog.Logger
	onAccused        func()
	onDecryptFailure func()
	now              func() time.Time

	mu          sync.Mutex
	windowStart time.Time
	written     int // warnings and errors written in the window
	suppressed  int // left out since the last one written
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
func (w *slogWriter) Write(p []byte) (int, error) {
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
	if w.onDecryptFailure != nil && isDecryptFailure(string(line)) {
		w.onDecryptFailure()
	}
	if level < slog.LevelWarn {
		w.logger.Log(context.Background(), level, string(line), "component", "memberlist")
		return len(p), nil
	}
	write, suppressed := w.admit()
	if !write {
		return len(p), nil
	}
	attrs := []any{"component", "memberlist"}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	w.logger.Log(context.Background(), level, string(line), attrs...)
	return len(p), nil
}

// admit reports whether a warning or error may be written now and, if so,
// how many were left out before it.
func (w *slogWriter) admit() (write bool, suppressed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := w.now(); now.Sub(w.windowStart) >= logWindow {
		w.windowStart, w.written = now, 0
	}
	if w.written >= logBurst {
		w.suppressed++
		return false, 0
	}
	w.written++
	suppressed, w.suppressed = w.suppressed, 0
	return true, suppressed
}
