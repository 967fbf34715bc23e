package bgp

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// record is one gobgp log call.
type record struct {
	msg    string
	fields gobgplog.Fields
}

func TestGobgpLoggerRecordsFailureReasons(t *testing.T) {
	const key = "10.0.0.2"
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errTimeout{})}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	stateChange := func(old, new string) record {
		return record{"state changed", gobgplog.Fields{"Key": key, "old": old, "new": new, "reason": "invalid-msg"}}
	}
	tests := []struct {
		name        string
		password    string
		records     []record
		wantError   string
		wantNoError bool
	}{
		{
			name:      "connection refused",
			records:   []record{{"failed to connect", gobgplog.Fields{"Key": key, "Error": refused}}},
			wantError: "connect failed: dial tcp: connect: connection refused",
		},
		{
			name:      "timeout without password",
			records:   []record{{"failed to connect", gobgplog.Fields{"Key": key, "Error": timeout}}},
			wantError: "connect failed: dial tcp: connect: i/o timeout",
		},
		{
			name:      "timeout with password hints at MD5",
			password:  "secret",
			records:   []record{{"failed to connect", gobgplog.Fields{"Key": key, "Error": timeout}}},
			wantError: "connect failed: dial tcp: connect: i/o timeout (no answer: peer unreachable, or TCP-MD5 password mismatch)",
		},
		{
			name: "received notification survives the state change that follows",
			records: []record{
				{"received notification", gobgplog.Fields{"Key": key, "Code": uint8(6), "Subcode": uint8(2), "Communicated-Reason": "bye"}},
				{"Peer Down", gobgplog.Fields{"Key": key, "Reason": "notification-received code 6(cease) subcode 2(administrative shutdown)"}},
				stateChange("BGP_FSM_ESTABLISHED", "BGP_FSM_IDLE"),
			},
			wantError: `NOTIFICATION received: code 6(cease) subcode 2(administrative shutdown) "bye"`,
		},
		{
			name: "sent notification from a message error",
			records: []record{
				{"sent notification", gobgplog.Fields{"Key": key, "Data": bgp.NewMessageError(2, 2, nil, "as number mismatch").(*bgp.MessageError)}},
				stateChange("BGP_FSM_OPENSENT", "BGP_FSM_IDLE"),
			},
			wantError: "NOTIFICATION sent: code 2(open) subcode 2(bad peer as): as number mismatch",
		},
		{
			name:      "refused during the OPEN exchange",
			records:   []record{stateChange("BGP_FSM_OPENSENT", "BGP_FSM_IDLE")},
			wantError: "session closed during the OPEN exchange (invalid-msg): the peer may have refused it; check AS numbers, password and the peer's neighbour configuration",
		},
		{
			name:      "session dropped without notification",
			records:   []record{{"Peer Down", gobgplog.Fields{"Key": key, "Reason": "read-failed"}}},
			wantError: "session down: read-failed",
		},
		{
			name: "malformed message and the notification it caused",
			records: []record{
				{"Session will be reset due to malformed BGP update message", gobgplog.Fields{"Key": key, "Error": errors.New("bad attribute")}},
				{"sent notification", gobgplog.Fields{"Key": key, "Code": uint8(3), "Subcode": uint8(1)}},
			},
			wantError: "malformed message from the peer: bad attribute; NOTIFICATION sent: code 3(update) subcode 1(malformed attribute list)",
		},
		{
			name:        "unrelated records and other neighbours are ignored",
			records:     []record{{"sent update", gobgplog.Fields{"Key": key}}, {"failed to connect", gobgplog.Fields{"Key": "10.9.9.9", "Error": refused}}, {"Peer Down", gobgplog.Fields{"Key": 42}}},
			wantNoError: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			book := newStatusBook()
			p := validPeer("r", key)
			p.Password = tt.password
			book.track(p, time.Unix(0, 0))
			l := &gobgpLogger{log: slog.New(slog.DiscardHandler), book: book, now: func() time.Time { return time.Unix(100, 0) }}
			for _, r := range tt.records {
				l.Info(r.msg, r.fields)
			}
			st := book.snapshot()[0]
			if tt.wantNoError {
				if st.LastError != "" {
					t.Errorf("LastError = %q, want none", st.LastError)
				}
				return
			}
			if st.LastError != tt.wantError || !st.LastErrorTime.Equal(time.Unix(100, 0)) {
				t.Errorf("LastError = %q at %v, want %q", st.LastError, st.LastErrorTime, tt.wantError)
			}
		})
	}
}

func TestGobgpLoggerReportsEachNewFailureOnce(t *testing.T) {
	const key = "10.0.0.2"
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	connectFailed := record{"failed to connect", gobgplog.Fields{"Key": key, "Error": refused}}
	var buf bytes.Buffer
	book := newStatusBook()
	book.track(validPeer("ns/router", key), time.Unix(0, 0))
	// The handler logs warnings only: failures must be reported whatever gobgp's
	// own records are dropped.
	l := &gobgpLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})), book: book, now: time.Now}
	steps := []struct {
		name      string
		records   []record
		wantLines int
	}{
		{"first failure", []record{connectFailed}, 1},
		{"the same failure at every retry", []record{connectFailed, connectFailed, connectFailed}, 0},
		{"a different failure", []record{{"received notification", gobgplog.Fields{"Key": key, "Code": uint8(6), "Subcode": uint8(2)}}}, 1},
		{"the two taking turns", []record{connectFailed, {"received notification", gobgplog.Fields{"Key": key, "Code": uint8(6), "Subcode": uint8(2)}}, connectFailed}, 0},
		{"established, then the same failure again", nil, 1},
	}
	for _, step := range steps {
		buf.Reset()
		if step.records == nil {
			book.setState(netip.MustParseAddr(key), SessionEstablished, time.Now())
			step.records = []record{connectFailed}
		}
		for _, r := range step.records {
			l.Debug(r.msg, r.fields)
		}
		lines := strings.Count(buf.String(), `msg="bgp session failure" peer=ns/router address=10.0.0.2 reason=`)
		if lines != step.wantLines || strings.Count(buf.String(), "\n") != lines {
			t.Errorf("%s: log %q, want %d failure lines", step.name, buf.String(), step.wantLines)
		}
	}
}

// errTimeout is a syscall-level timeout error.
type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

func TestGobgpLoggerForwardsToSlog(t *testing.T) {
	var buf bytes.Buffer
	book := newStatusBook()
	book.track(validPeer("ns/router", "10.0.0.2"), time.Now())
	l := &gobgpLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), book: book, now: time.Now}
	l.Debug("sent update", gobgplog.Fields{"Key": "10.0.0.2"})
	l.Info("Peer Up", gobgplog.Fields{"Key": "10.0.0.2", "Topic": "Peer"})
	l.Warn("received notification", gobgplog.Fields{"Key": "10.0.0.2"})
	l.Error("failed", gobgplog.Fields{})
	out := buf.String()
	for _, want := range []string{`level=INFO msg="gobgp: Peer Up" peer=ns/router Key=10.0.0.2 Topic=Peer`, `level=WARN msg="gobgp: received notification" peer=ns/router`, `level=ERROR msg="gobgp: failed"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "sent update") {
		t.Errorf("debug record written at info level: %q", out)
	}
	if l.GetLevel() != gobgplog.DebugLevel {
		t.Errorf("GetLevel() = %v, want debug (connect failures are logged at debug)", l.GetLevel())
	}
	defer func() {
		if recover() == nil {
			t.Error("Panic did not panic")
		}
	}()
	l.Panic("code logic bug", gobgplog.Fields{})
}

func TestSessionStateString(t *testing.T) {
	for state, want := range map[SessionState]string{SessionIdle: "idle", SessionActive: "active", SessionEstablished: "established", SessionState(42): "unknown", SessionState(-1): "unknown"} {
		if got := state.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(state), got, want)
		}
	}
}

func TestStatusBook(t *testing.T) {
	book := newStatusBook()
	a, b := validPeer("b-peer", "10.0.0.2"), validPeer("a-peer", "10.0.0.3")
	t0 := time.Unix(10, 0)
	book.track(a, t0)
	book.track(b, t0)
	if _, changed := book.setState(a.Address, SessionIdle, t0); changed {
		t.Error("setState to the same state reported a change")
	}
	st, changed := book.setState(a.Address, SessionEstablished, t0.Add(time.Second))
	if !changed || st.Name != "b-peer" || !st.StateSince.Equal(t0.Add(time.Second)) {
		t.Errorf("setState() = %+v, %v", st, changed)
	}
	if _, changed := book.setState(netip.MustParseAddr("10.9.9.9"), SessionActive, t0); changed {
		t.Error("setState of an unknown neighbour reported a change")
	}
	if !book.anyEstablished() {
		t.Error("anyEstablished() = false")
	}
	got := book.snapshot()
	if len(got) != 2 || got[0].Name != "a-peer" || got[1].Name != "b-peer" {
		t.Errorf("snapshot() = %+v, want sorted by name", got)
	}
	renamed := a
	renamed.Name = "c-peer"
	book.rename(renamed)
	if name, _ := book.name(a.Address); name != "c-peer" {
		t.Errorf("name after rename = %q", name)
	}
	book.forget(a.Address)
	if book.anyEstablished() || len(book.snapshot()) != 1 {
		t.Errorf("after forget: %+v", book.snapshot())
	}
}

func TestStatusBookBoundsReportedReasons(t *testing.T) {
	book := newStatusBook()
	p := validPeer("r", "10.0.0.2")
	book.track(p, time.Unix(0, 0))
	fail := func(reason string) bool {
		_, isNew := book.setError(p.Address, time.Unix(1, 0), func(sessionRecord) string { return reason })
		return isNew
	}
	for i := range maxReportedReasons {
		if !fail(fmt.Sprint("reason ", i)) {
			t.Fatalf("reason %d not reported as new", i)
		}
	}
	if fail("reason 0") {
		t.Error("reason 0 reported twice while the set had room")
	}
	if !fail("one reason too many") || !fail("reason 0") {
		t.Error("after the set filled up and started over, reasons were not reported again")
	}
}
