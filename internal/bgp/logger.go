package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// gobgpLogger routes gobgp's log to slog and feeds the failure reasons it reports
// (which gobgp's API does not expose) into the status book.
//
// It always claims debug level towards gobgp, because gobgp reports failed connection
// attempts only at debug level; records are forwarded to slog only if the slog handler
// is enabled for their level.
type gobgpLogger struct {
	log  *slog.Logger
	book *statusBook
	now  func() time.Time
}

var _ gobgplog.Logger = (*gobgpLogger)(nil)

func (l *gobgpLogger) Panic(msg string, fields gobgplog.Fields) {
	l.forward(slog.LevelError, msg, fields)
	panic("gobgp: " + msg)
}

func (l *gobgpLogger) Fatal(msg string, fields gobgplog.Fields) {
	l.forward(slog.LevelError, msg, fields)
	panic("gobgp: " + msg)
}

func (l *gobgpLogger) Error(msg string, fields gobgplog.Fields) {
	l.forward(slog.LevelError, msg, fields)
}

func (l *gobgpLogger) Warn(msg string, fields gobgplog.Fields) {
	l.observe(msg, fields)
	l.forward(slog.LevelWarn, msg, fields)
}

func (l *gobgpLogger) Info(msg string, fields gobgplog.Fields) {
	l.observe(msg, fields)
	l.forward(slog.LevelInfo, msg, fields)
}

func (l *gobgpLogger) Debug(msg string, fields gobgplog.Fields) {
	l.observe(msg, fields)
	l.forward(slog.LevelDebug, msg, fields)
}

// SetLevel is ignored: the slog handler decides what is written.
func (l *gobgpLogger) SetLevel(gobgplog.LogLevel) {}

// GetLevel returns debug so that gobgp reports connection failures.
func (l *gobgpLogger) GetLevel() gobgplog.LogLevel { return gobgplog.DebugLevel }

// forward writes one gobgp record to slog, naming the peer when the record is about one.
func (l *gobgpLogger) forward(level slog.Level, msg string, fields gobgplog.Fields) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(fields)+1)
	if addr, ok := neighborAddress(fields); ok {
		if name, known := l.book.name(addr); known {
			attrs = append(attrs, slog.String("peer", name))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		attrs = append(attrs, slog.Any(k, fields[k]))
	}
	l.log.LogAttrs(ctx, level, "gobgp: "+msg, attrs...)
}

// observe records session failure reasons carried by gobgp log records. gobgp logs a
// precise reason (a NOTIFICATION, a connect error) before the state change it causes,
// which it logs with a vaguer reason; the vaguer one is kept only when no precise one
// came first. Each reason not reported since the session was last established is
// logged as a warning, so that a session that keeps failing the same way (say, every
// connection attempt times out) says why once, at any log level.
func (l *gobgpLogger) observe(msg string, fields gobgplog.Fields) {
	addr, ok := neighborAddress(fields)
	if !ok {
		return
	}
	now := l.now()
	var (
		fresh failure
		isNew bool
	)
	switch msg {
	case "failed to connect":
		err, _ := fields["Error"].(error)
		fresh, isNew = l.book.setError(addr, now, func(r sessionRecord) string { return connectFailure(err, r.hasPassword) })
	case "received notification":
		reason := "NOTIFICATION received: " + notificationText(fields)
		fresh, isNew = l.book.setError(addr, now, func(sessionRecord) string { return reason })
	case "Session will be reset due to malformed BGP header",
		"Session will be reset due to malformed BGP message",
		"Session will be reset due to malformed BGP update message":
		reason := fmt.Sprintf("malformed message from the peer: %v", fields["Error"])
		fresh, isNew = l.book.setError(addr, now, func(sessionRecord) string { return reason })
	case "sent notification":
		reason := "NOTIFICATION sent: " + notificationText(fields)
		fresh, isNew = l.book.setError(addr, now, func(r sessionRecord) string {
			if r.specificError && strings.HasPrefix(r.lastError, "malformed message") {
				return r.lastError + "; " + reason
			}
			return reason
		})
	case "Peer Down":
		fresh, isNew = l.book.setVagueError(addr, now, fmt.Sprintf("session down: %v", fields["Reason"]))
	case "state changed":
		if old := fmt.Sprint(fields["old"]); fmt.Sprint(fields["new"]) == "BGP_FSM_IDLE" && (old == "BGP_FSM_OPENSENT" || old == "BGP_FSM_OPENCONFIRM") {
			fresh, isNew = l.book.setVagueError(addr, now, fmt.Sprintf("session closed during the OPEN exchange (%v): the peer may have refused it; check AS numbers, password and the peer's neighbour configuration", fields["reason"]))
		}
		l.book.stateChangeLogged(addr)
	}
	if isNew {
		l.log.Warn("bgp session failure", "peer", fresh.peer, "address", fresh.address, "reason", fresh.reason)
	}
}

// neighborAddress extracts the neighbour a gobgp record is about (its "Key" field).
func neighborAddress(fields gobgplog.Fields) (netip.Addr, bool) {
	key, ok := fields["Key"].(string)
	if !ok {
		return netip.Addr{}, false
	}
	addr, err := netip.ParseAddr(key)
	return addr, err == nil
}

// connectFailure explains a failed connection attempt.
func connectFailure(err error, hasPassword bool) string {
	if err == nil {
		return "connect failed"
	}
	var netErr net.Error
	if hasPassword && errors.As(err, &netErr) && netErr.Timeout() {
		return "connect failed: " + err.Error() + " (no answer: peer unreachable, or TCP-MD5 password mismatch)"
	}
	return "connect failed: " + err.Error()
}

// notificationText describes the NOTIFICATION in a gobgp record, e.g.
// "code 6(cease) subcode 2(administrative shutdown)".
func notificationText(fields gobgplog.Fields) string {
	code, _ := fields["Code"].(uint8)
	subcode, _ := fields["Subcode"].(uint8)
	detail := ""
	if e, ok := fields["Data"].(*bgp.MessageError); ok {
		code, subcode, detail = e.TypeCode, e.SubTypeCode, e.Message
	}
	text := bgp.NewNotificationErrorCode(code, subcode).String()
	if detail != "" {
		text += ": " + detail
	}
	if reason, ok := fields["Communicated-Reason"].(string); ok && reason != "" {
		text += fmt.Sprintf(" %q", reason)
	}
	return text
}
