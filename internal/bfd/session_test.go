package bfd

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

const ms = time.Millisecond

const (
	local  = 0x11 // our discriminator
	remote = 0x22 // the peer's
)

// fast is a BFDProfile of 100 ms × 3.
var fast = Config{DesiredMinTx: 100 * ms, RequiredMinRx: 100 * ms, DetectMult: 3}

// ours is a packet the session under test sends: state, the discriminator it
// knows, the intervals it advertises and "P", "F" or "" for the poll bits.
func ours(st State, diag Diag, your uint32, tx, rx time.Duration, bits string) Packet {
	return Packet{State: st, Diag: diag, DetectMult: 3, MyDiscriminator: local, YourDiscriminator: your,
		DesiredMinTx: tx, RequiredMinRx: rx, Poll: strings.Contains(bits, "P"), Final: strings.Contains(bits, "F")}
}

// theirs is a packet from the peer, which sends every tx and requires rx.
func theirs(st State, tx, rx time.Duration, bits string) Packet {
	your := uint32(local)
	if st == StateDown || st == StateAdminDown {
		your = 0
	}
	return Packet{State: st, DetectMult: 3, MyDiscriminator: remote, YourDiscriminator: your,
		DesiredMinTx: tx, RequiredMinRx: rx, Poll: strings.Contains(bits, "P"), Final: strings.Contains(bits, "F")}
}

// step is one input to a session and what it must answer.
type step struct {
	at    time.Duration // after t0
	recv  *Packet       // a packet received; nil: Tick
	cfg   *Config       // SetConfig instead
	admin *bool         // SetAdminDown instead
	send  []Packet
	// change is the new state, if the step changes it, with diag.
	change *State
	diag   Diag
	// deadline is when Tick is next due, after t0; -1: nothing pending.
	deadline time.Duration
}

func recv(p Packet) *Packet { return &p }
func to(s State) *State     { return &s }
func cfgp(c Config) *Config { return &c }
func boolp(b bool) *bool    { return &b }

// up brings a session with cfg to Up against a peer that sends every
// 300 ms and requires 300 ms, ending at 2 s with the Poll Sequence of the
// transition to Up finished.
func up(cfg Config) []step {
	return []step{
		{at: 0, send: []Packet{ours(StateDown, 0, 0, time.Second, cfg.RequiredMinRx, "")}, deadline: time.Second},
		{at: 500 * ms, recv: recv(theirs(StateDown, time.Second, 300*ms, "")), change: to(StateInit), deadline: time.Second},
		{at: time.Second, send: []Packet{ours(StateInit, 0, remote, time.Second, cfg.RequiredMinRx, "")}, deadline: 2 * time.Second},
		{at: 1500 * ms, recv: recv(theirs(StateUp, time.Second, 300*ms, "")), change: to(StateUp),
			send: []Packet{ours(StateUp, 0, remote, cfg.DesiredMinTx, cfg.RequiredMinRx, "P")}, deadline: 1800 * ms},
		{at: 1600 * ms, recv: recv(theirs(StateUp, 300*ms, 300*ms, "F")), deadline: 1800 * ms},
		{at: 1800 * ms, send: []Packet{ours(StateUp, 0, remote, cfg.DesiredMinTx, cfg.RequiredMinRx, "")}, deadline: 2100 * ms},
	}
}

func TestSession(t *testing.T) {
	passive := fast
	passive.Passive = true
	slower, shorter := fast, fast
	slower.DesiredMinTx = 400 * ms
	shorter.RequiredMinRx = 50 * ms
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"§6.8.3 §6.8.7 an active session sends Down at once, at most once a second until Up", fast, []step{
			{at: 0, send: []Packet{ours(StateDown, 0, 0, time.Second, 100*ms, "")}, deadline: time.Second},
			{at: 999 * ms, deadline: time.Second},
			{at: time.Second, send: []Packet{ours(StateDown, 0, 0, time.Second, 100*ms, "")}, deadline: 2 * time.Second},
		}},
		{"§6.8.7 a passive session sends nothing until the peer has, then at once", passive, []step{
			{at: 0, deadline: -1},
			{at: 5 * time.Second, deadline: -1},
			{at: 6 * time.Second, recv: recv(theirs(StateDown, time.Second, 300*ms, "")), change: to(StateInit),
				send: []Packet{ours(StateInit, 0, remote, time.Second, 100*ms, "")}, deadline: 7 * time.Second},
		}},
		{"§6.8.6 Down + Init → Up", fast, []step{
			{at: 0, send: []Packet{ours(StateDown, 0, 0, time.Second, 100*ms, "")}, deadline: time.Second},
			{at: 10 * ms, recv: recv(theirs(StateInit, time.Second, 300*ms, "")), change: to(StateUp), deadline: 300 * ms},
			{at: 300 * ms, send: []Packet{ours(StateUp, 0, remote, 100*ms, 100*ms, "P")}, deadline: 600 * ms},
		}},
		{"§6.8.6 Down + Up stays Down", fast, []step{
			{at: 0, send: []Packet{ours(StateDown, 0, 0, time.Second, 100*ms, "")}, deadline: time.Second},
			{at: 10 * ms, recv: recv(theirs(StateUp, time.Second, 300*ms, "")), deadline: time.Second},
		}},
		{"§6.8.6 three-way handshake Down → Init → Up; §6.5 Poll Sequence on going Up", fast, up(fast)},
		{"§6.8.2 the transmit interval is the larger of our DesiredMinTx and the peer's RequiredMinRx", fast, append(up(fast),
			step{at: 2100 * ms, send: []Packet{ours(StateUp, 0, remote, 100*ms, 100*ms, "")}, deadline: 2400 * ms})},
		{"§6.8.2 the peer lowers its RequiredMinRx: we send faster from the last packet", fast, append(up(fast),
			step{at: 1850 * ms, recv: recv(theirs(StateUp, 300*ms, 50*ms, "")), deadline: 1900 * ms},
			step{at: 1900 * ms, send: []Packet{ours(StateUp, 0, remote, 100*ms, 100*ms, "")}, deadline: 2000 * ms})},
		{"§6.8.4 detection time = peer's DetectMult × max(our RequiredMinRx, peer's DesiredMinTx): 3 × 300 ms", fast, append(up(fast),
			step{at: 2100 * ms, send: []Packet{ours(StateUp, 0, remote, 100*ms, 100*ms, "")}, deadline: 2400 * ms},
			step{at: 2400 * ms, send: []Packet{ours(StateUp, 0, remote, 100*ms, 100*ms, "")}, deadline: 2500 * ms},
			step{at: 2500 * ms, change: to(StateDown), diag: DiagControlDetectionTimeExpired, deadline: 3400 * ms},
			step{at: 3400 * ms, send: []Packet{ours(StateDown, DiagControlDetectionTimeExpired, 0, time.Second, 100*ms, "")}, deadline: 4400 * ms})},
		{"§6.8.6 Up + Down → Down, diag 3", fast, append(up(fast),
			step{at: 1900 * ms, recv: recv(theirs(StateDown, time.Second, 300*ms, "")), change: to(StateDown), diag: DiagNeighborSignaledSessionDown, deadline: 2800 * ms},
			step{at: 2800 * ms, send: []Packet{ours(StateDown, DiagNeighborSignaledSessionDown, remote, time.Second, 100*ms, "P")}, deadline: 3800 * ms})},
		{"§6.8.6 Up + AdminDown → Down, diag 3", fast, append(up(fast),
			step{at: 1900 * ms, recv: recv(theirs(StateAdminDown, time.Second, 300*ms, "")), change: to(StateDown), diag: DiagNeighborSignaledSessionDown, deadline: 2800 * ms},
			step{at: 2800 * ms, send: []Packet{ours(StateDown, DiagNeighborSignaledSessionDown, remote, time.Second, 100*ms, "P")}, deadline: 3800 * ms})},
		{"§6.8.6 Up + Init stays Up", fast, append(up(fast),
			step{at: 1900 * ms, recv: recv(theirs(StateInit, 300*ms, 300*ms, "")), deadline: 2100 * ms})},
		{"§6.8.6 Down + AdminDown stays Down", fast, []step{
			{at: 0, send: []Packet{ours(StateDown, 0, 0, time.Second, 100*ms, "")}, deadline: time.Second},
			{at: 10 * ms, recv: recv(theirs(StateAdminDown, time.Second, 300*ms, "")), deadline: time.Second},
		}},
		{"§6.8.7 a Poll is answered at once with Final and without Poll, outside the schedule", fast, append(up(fast),
			step{at: 1900 * ms, recv: recv(theirs(StateUp, 300*ms, 300*ms, "P")),
				send: []Packet{ours(StateUp, 0, remote, 100*ms, 100*ms, "F")}, deadline: 2100 * ms})},
		{"§6.8.3 a slower DesiredMinTx waits for the end of its Poll Sequence", fast, append(up(Config{DesiredMinTx: 100 * ms, RequiredMinRx: 100 * ms, DetectMult: 3}),
			step{at: 1900 * ms, cfg: cfgp(Config{DesiredMinTx: 500 * ms, RequiredMinRx: 100 * ms, DetectMult: 3}), deadline: 2100 * ms},
			step{at: 2100 * ms, send: []Packet{ours(StateUp, 0, remote, 500*ms, 100*ms, "P")}, deadline: 2400 * ms},
			step{at: 2200 * ms, recv: recv(theirs(StateUp, 300*ms, 300*ms, "F")), deadline: 2600 * ms},
			step{at: 2600 * ms, send: []Packet{ours(StateUp, 0, remote, 500*ms, 100*ms, "")}, deadline: 3100 * ms})},
		{"§6.8.3 a reduced RequiredMinRx keeps the old detection time until the Final", fast, append(up(fast),
			step{at: 1900 * ms, cfg: cfgp(Config{DesiredMinTx: 100 * ms, RequiredMinRx: 50 * ms, DetectMult: 3}), deadline: 2100 * ms},
			step{at: 1950 * ms, recv: recv(theirs(StateUp, 10*ms, 300*ms, "")), deadline: 2100 * ms},
			step{at: 2100 * ms, send: []Packet{ours(StateUp, 0, remote, 100*ms, 50*ms, "P")}, deadline: 2250 * ms},
			step{at: 2110 * ms, recv: recv(theirs(StateUp, 10*ms, 300*ms, "F")), deadline: 2260 * ms})},
		{"§6.5 a Final before any Poll carried the change does not end the poll", fast, append(up(fast),
			step{at: 1900 * ms, cfg: cfgp(slower), deadline: 2100 * ms},
			step{at: 1950 * ms, recv: recv(theirs(StateUp, 300*ms, 300*ms, "F")), deadline: 2100 * ms},
			step{at: 2100 * ms, send: []Packet{ours(StateUp, 0, remote, 400*ms, 100*ms, "P")}, deadline: 2400 * ms})},
		{"§6.8.1 §6.8.7 a passive session forgets a silent peer and stops sending", passive, []step{
			{at: 0, deadline: -1},
			{at: 10 * ms, recv: recv(theirs(StateDown, time.Second, 300*ms, "")), change: to(StateInit),
				send: []Packet{ours(StateInit, 0, remote, time.Second, 100*ms, "")}, deadline: 1010 * ms},
			{at: 1010 * ms, send: []Packet{ours(StateInit, 0, remote, time.Second, 100*ms, "")}, deadline: 2010 * ms},
			{at: 2010 * ms, send: []Packet{ours(StateInit, 0, remote, time.Second, 100*ms, "")}, deadline: 3010 * ms},
			{at: 3010 * ms, change: to(StateDown), diag: DiagControlDetectionTimeExpired, deadline: -1},
		}},
		{"§6.8.7 a peer requiring RequiredMinRx 0 gets no periodic packets", fast, []step{
			{at: 0, send: []Packet{ours(StateDown, 0, 0, time.Second, 100*ms, "")}, deadline: time.Second},
			{at: 10 * ms, recv: recv(theirs(StateDown, time.Second, 0, "")), change: to(StateInit), deadline: 3010 * ms},
		}},
		{"§6.8.7 Demand: periodic packets stop when both are Up and the peer sets D", fast, append(up(fast),
			step{at: 1900 * ms, recv: recv(Packet{State: StateUp, Demand: true, DetectMult: 3, MyDiscriminator: remote,
				YourDiscriminator: local, DesiredMinTx: 300 * ms, RequiredMinRx: 300 * ms}), deadline: 2800 * ms})},
		{"§6.8.16 AdminDown: told to the peer with diag 7, received packets discarded, back to Down", fast, append(up(fast),
			step{at: 1900 * ms, admin: boolp(true), change: to(StateAdminDown), diag: DiagAdministrativelyDown, deadline: 2800 * ms},
			step{at: 2000 * ms, recv: recv(theirs(StateDown, time.Second, 300*ms, "")), deadline: 2800 * ms},
			step{at: 2800 * ms, send: []Packet{ours(StateAdminDown, DiagAdministrativelyDown, remote, time.Second, 100*ms, "")}, deadline: 3800 * ms},
			step{at: 2900 * ms, admin: boolp(false), change: to(StateDown), deadline: 3800 * ms})},
		{"§6.8.6 §6.8.3 a changed profile outside Up applies at once, without Poll", fast, []step{
			{at: 0, send: []Packet{ours(StateDown, 0, 0, time.Second, 100*ms, "")}, deadline: time.Second},
			{at: 10 * ms, cfg: cfgp(shorter), deadline: time.Second},
			{at: time.Second, send: []Packet{ours(StateDown, 0, 0, time.Second, 50*ms, "")}, deadline: 2 * time.Second},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.cfg, tc.steps) })
	}
}

func run(t *testing.T, cfg Config, steps []step) {
	t.Helper()
	var s *Session
	for i, st := range steps {
		now := t0.Add(st.at)
		var out Output
		switch {
		case s == nil:
			s = NewSession(local, cfg, func() float64 { return 0 }, now)
			out = s.Tick(now)
		case st.recv != nil:
			out = s.Receive(*st.recv, now)
		case st.cfg != nil:
			out = s.SetConfig(*st.cfg, now)
		case st.admin != nil:
			out = s.SetAdminDown(*st.admin, now)
		default:
			out = s.Tick(now)
		}
		want := Output{Send: st.send}
		if st.change != nil {
			want.Changed, want.State, want.Diag = true, *st.change, st.diag
		}
		if !reflect.DeepEqual(out, want) && (len(out.Send) > 0 || len(want.Send) > 0 || out.Changed || want.Changed) {
			t.Fatalf("step %d at %v: got\n%+v\nwant\n%+v", i, st.at, out, want)
		}
		var deadline time.Duration = -1
		if d := s.Deadline(); !d.IsZero() {
			deadline = d.Sub(t0)
		}
		if deadline != st.deadline {
			t.Fatalf("step %d at %v: deadline %v, want %v", i, st.at, deadline, st.deadline)
		}
	}
}

// §6.8.7: each interval is shortened by 0–25 %, or by 10–25 % when DetectMult is 1.
func TestJitter(t *testing.T) {
	for _, tc := range []struct {
		mult     uint8
		random   float64
		min, max time.Duration
	}{
		{3, 0, 1000 * ms, 1000 * ms},
		{3, 0.999999, 750 * ms, 751 * ms},
		{1, 0, 900 * ms, 900 * ms},
		{1, 0.999999, 750 * ms, 751 * ms},
	} {
		s := NewSession(local, Config{DetectMult: tc.mult}, func() float64 { return tc.random }, t0)
		if got := s.jitter(time.Second); got < tc.min || got > tc.max {
			t.Errorf("DetectMult %d, random %v: jitter(1s) = %v, want in [%v, %v]", tc.mult, tc.random, got, tc.min, tc.max)
		}
	}
}

// §6.8.2 §6.8.4: the negotiated intervals BIRD shows for a 100 ms × 3 profile
// against its own 300 ms × 5.
func TestStatus(t *testing.T) {
	s := NewSession(local, fast, func() float64 { return 0 }, t0)
	p := theirs(StateInit, 300*ms, 200*ms, "")
	p.DetectMult = 5
	s.Receive(p, t0)
	got := s.Status()
	want := Status{State: StateUp, RemoteState: StateInit, LocalDiscr: local, RemoteDiscr: remote,
		TxInterval: 200 * ms, DetectionTime: 1500 * ms}
	if got != want {
		t.Fatalf("Status = %+v, want %+v", got, want)
	}
}

// RFC 5882 §3.2: only a session that was Up and failed (not one the peer or
// we took AdminDown) is a path failure.
func TestPathFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		from State
		st   Status
		want bool
	}{
		{"detection time expired in Up", StateUp, Status{State: StateDown, RemoteState: StateDown, Diag: DiagControlDetectionTimeExpired}, true},
		{"peer signalled Down in Up", StateUp, Status{State: StateDown, RemoteState: StateDown, Diag: DiagNeighborSignaledSessionDown}, true},
		{"peer went AdminDown", StateUp, Status{State: StateDown, RemoteState: StateAdminDown, Diag: DiagNeighborSignaledSessionDown}, false},
		{"we went AdminDown", StateUp, Status{State: StateAdminDown, Diag: DiagAdministrativelyDown}, false},
		{"never came Up", StateInit, Status{State: StateDown, Diag: DiagControlDetectionTimeExpired}, false},
		{"came Up", StateInit, Status{State: StateUp}, false},
	} {
		if got := PathFailed(tc.from, tc.st); got != tc.want {
			t.Errorf("%s: PathFailed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
