package bfd

import "time"

// Config is what one session is asked for: a BFDProfile's timers and role.
type Config struct {
	// DesiredMinTx is bfd.DesiredMinTxInterval once the session is Up; below
	// Up the session advertises at least [SlowTxInterval] (RFC 5880 §6.8.3).
	DesiredMinTx time.Duration
	// RequiredMinRx is bfd.RequiredMinRxInterval: how often the peer may send.
	RequiredMinRx time.Duration
	// DetectMult is bfd.DetectMult, at least 1.
	DetectMult uint8
	// Passive takes the Passive role (§6.1): send nothing until the peer has.
	Passive bool
}

// SlowTxInterval is the least DesiredMinTxInterval advertised while the
// session is not Up (RFC 5880 §6.8.3).
const SlowTxInterval = time.Second

// initialRemoteMinRx is bfd.RemoteMinRxInterval before the peer has spoken (§6.8.1).
const initialRemoteMinRx = time.Microsecond

// Output is what one call of a [Session] asks its shell to do.
type Output struct {
	// Send are the packets to transmit now, in order.
	Send []Packet
	// Changed reports that the session state changed; State and Diag are
	// then the new state and the reason for it (else zero).
	Changed bool
	State   State
	Diag    Diag
}

// Session is the state machine of one BFD session in asynchronous mode
// (RFC 5880 §6.8). It does no I/O and reads no clock: every method takes the
// current instant, and [Session.Deadline] says when [Session.Tick] is next due.
// A state change reaches the peer with the next scheduled packet: no packet
// is sent faster than the negotiated interval allows, except the Final that
// answers a Poll (§6.8.7). It is not safe for concurrent use.
type Session struct {
	cfg    Config
	random func() float64

	state      State
	diag       Diag
	localDiscr uint32

	// What the peer last said (§6.8.1 bfd.Remote*).
	remoteDiscr      uint32
	remoteState      State
	remoteDemand     bool
	remoteMinRx      time.Duration
	remoteMinTx      time.Duration
	remoteDetectMult uint8

	// sentTx and sentRx are the intervals advertised in our packets. While a
	// Poll Sequence runs (§6.5), oldTx and oldRx are the ones in force before
	// it and pollSent reports that a packet with P carried the current ones.
	sentTx, sentRx time.Duration
	oldTx, oldRx   time.Duration
	polling        bool
	pollSent       bool

	lastTx, nextTx time.Time
	scheduledFor   time.Duration
	detectAt       time.Time
}

// NewSession returns a session in state Down with the local discriminator
// discr (non-zero, unique on the system). random returns numbers in [0, 1)
// and draws the transmission jitter (§6.8.7). Unless cfg is passive, the
// first packet is due at now.
func NewSession(discr uint32, cfg Config, random func() float64, now time.Time) *Session {
	s := &Session{
		cfg: cfg, random: random, state: StateDown, localDiscr: discr,
		remoteState: StateDown, remoteMinRx: initialRemoteMinRx,
		sentTx: max(cfg.DesiredMinTx, SlowTxInterval), sentRx: cfg.RequiredMinRx,
	}
	if s.periodic() {
		s.nextTx, s.scheduledFor = now, s.TxInterval()
	}
	return s
}

// Receive applies a control packet addressed to this session (RFC 5880
// §6.8.6, after the checks of [Decode]) and transmits what is due.
func (s *Session) Receive(p Packet, now time.Time) Output {
	var out Output
	s.remoteDiscr = p.MyDiscriminator
	s.remoteState = p.State
	s.remoteDemand = p.Demand
	s.remoteMinRx = p.RequiredMinRx
	s.remoteMinTx = p.DesiredMinTx
	s.remoteDetectMult = p.DetectMult
	if p.Final && s.polling && s.pollSent {
		s.polling = false
	}
	if s.state == StateAdminDown {
		s.transmit(now, &out)
		return out
	}
	s.detectAt = now.Add(s.DetectionTime())
	switch {
	case p.State == StateAdminDown:
		if s.state != StateDown {
			s.transition(StateDown, DiagNeighborSignaledSessionDown, &out)
		}
	case s.state == StateDown && p.State == StateDown:
		s.transition(StateInit, DiagNone, &out)
	case s.state == StateDown && p.State == StateInit,
		s.state == StateInit && (p.State == StateInit || p.State == StateUp):
		s.transition(StateUp, DiagNone, &out)
	case s.state == StateUp && p.State == StateDown:
		s.transition(StateDown, DiagNeighborSignaledSessionDown, &out)
	}
	if p.Poll {
		final := s.packet()
		final.Poll, final.Final = false, true
		out.Send = append(out.Send, final)
	}
	s.transmit(now, &out)
	return out
}

// Tick handles the expiry of the detection time and sends the periodic
// packet when due. Call it at [Session.Deadline] (calling it earlier is harmless).
func (s *Session) Tick(now time.Time) Output {
	var out Output
	if !s.detectAt.IsZero() && !now.Before(s.detectAt) {
		s.detectAt = time.Time{}
		if s.state == StateInit || s.state == StateUp {
			s.transition(StateDown, DiagControlDetectionTimeExpired, &out)
		}
		// §6.8.1: the peer is forgotten once a detection time passes in silence.
		s.remoteDiscr, s.remoteState, s.remoteDemand = 0, StateDown, false
		s.remoteMinRx = initialRemoteMinRx
		s.polling = false
	}
	s.transmit(now, &out)
	return out
}

// SetConfig changes the session's timers and role. A change of the
// advertised intervals starts a Poll Sequence (§6.8.3); while Up, a slower
// transmission and a shorter detection time wait for its end.
func (s *Session) SetConfig(cfg Config, now time.Time) Output {
	s.cfg = cfg
	s.advertise()
	var out Output
	s.transmit(now, &out)
	return out
}

// SetAdminDown takes the session to AdminDown (§6.8.16), telling the peer
// with diagnostic 7, or back to Down.
func (s *Session) SetAdminDown(down bool, now time.Time) Output {
	var out Output
	switch {
	case down && s.state != StateAdminDown:
		s.detectAt = time.Time{}
		s.transition(StateAdminDown, DiagAdministrativelyDown, &out)
	case !down && s.state == StateAdminDown:
		s.transition(StateDown, DiagNone, &out)
	}
	s.transmit(now, &out)
	return out
}

// Deadline is the instant [Session.Tick] is next due; zero when nothing is pending.
func (s *Session) Deadline() time.Time {
	switch {
	case s.nextTx.IsZero():
		return s.detectAt
	case s.detectAt.IsZero() || s.nextTx.Before(s.detectAt):
		return s.nextTx
	}
	return s.detectAt
}

// Status is a session's state as shown in metrics and status.
type Status struct {
	State, RemoteState        State
	Diag                      Diag
	LocalDiscr, RemoteDiscr   uint32
	TxInterval, DetectionTime time.Duration
}

// Status reports the session's state and negotiated intervals.
func (s *Session) Status() Status {
	return Status{
		State: s.state, RemoteState: s.remoteState, Diag: s.diag,
		LocalDiscr: s.localDiscr, RemoteDiscr: s.remoteDiscr,
		TxInterval: s.TxInterval(), DetectionTime: s.DetectionTime(),
	}
}

// TxInterval is the negotiated transmission interval before jitter (§6.8.2,
// §6.8.7): the larger of our DesiredMinTxInterval and the peer's
// RequiredMinRxInterval. While a Poll Sequence runs, the slower of the old
// and new DesiredMinTx is not yet in force (§6.8.3).
func (s *Session) TxInterval() time.Duration {
	tx := s.sentTx
	if s.polling {
		tx = min(tx, s.oldTx)
	}
	return max(tx, s.remoteMinRx)
}

// DetectionTime is the silence after which the session goes Down (§6.8.4):
// the peer's DetectMult times the larger of our RequiredMinRxInterval and the
// peer's DesiredMinTxInterval. While a Poll Sequence runs, a reduced
// RequiredMinRx is not yet in force (§6.8.3).
func (s *Session) DetectionTime() time.Duration {
	rx := s.sentRx
	if s.polling {
		rx = max(rx, s.oldRx)
	}
	return time.Duration(s.remoteDetectMult) * max(rx, s.remoteMinTx)
}

// transition changes the local state, recording why.
func (s *Session) transition(to State, diag Diag, out *Output) {
	s.state, s.diag = to, diag
	out.Changed, out.State, out.Diag = true, to, diag
	s.advertise()
}

// advertise sets the intervals our packets carry from the configuration and
// the state, starting a Poll Sequence when they change and the peer is known
// (§6.8.3; not in AdminDown, where its answer is discarded). Outside Up the new intervals are in force at once; in Up the old
// ones stay in force, where they are safer, until the poll ends.
func (s *Session) advertise() {
	tx, rx := s.cfg.DesiredMinTx, s.cfg.RequiredMinRx
	if s.state != StateUp {
		tx = max(tx, SlowTxInterval)
	}
	if tx == s.sentTx && rx == s.sentRx {
		return
	}
	switch {
	case s.state != StateUp:
		s.oldTx, s.oldRx = tx, rx
	case !s.polling:
		s.oldTx, s.oldRx = s.sentTx, s.sentRx
	}
	s.sentTx, s.sentRx = tx, rx
	s.polling = s.remoteDiscr != 0 && s.state != StateAdminDown
	s.pollSent = false
}

// periodic reports whether periodic transmission is allowed (§6.8.7).
func (s *Session) periodic() bool {
	switch {
	case s.cfg.Passive && s.remoteDiscr == 0:
		return false
	case s.remoteMinRx == 0:
		return false
	case s.remoteDemand && s.state == StateUp && s.remoteState == StateUp:
		return false
	}
	return true
}

// transmit sends the periodic packet when due and schedules the next one,
// rescheduling when the negotiated interval changed.
func (s *Session) transmit(now time.Time, out *Output) {
	if !s.periodic() {
		s.nextTx = time.Time{}
		return
	}
	interval := s.TxInterval()
	if s.nextTx.IsZero() || interval != s.scheduledFor {
		s.scheduledFor = interval
		s.nextTx = now
		if !s.lastTx.IsZero() {
			s.nextTx = s.lastTx.Add(s.jitter(interval))
		}
	}
	if now.Before(s.nextTx) {
		return
	}
	p := s.packet()
	p.Poll = s.polling
	s.pollSent = s.pollSent || s.polling
	out.Send = append(out.Send, p)
	s.lastTx, s.nextTx = now, now.Add(s.jitter(interval))
}

// jitter shortens an interval by a random 0–25 %, or 10–25 % when
// DetectMult is 1 (§6.8.7).
func (s *Session) jitter(interval time.Duration) time.Duration {
	factor := 1 - 0.25*s.random()
	if s.cfg.DetectMult == 1 {
		factor = 0.9 - 0.15*s.random()
	}
	return time.Duration(float64(interval) * factor)
}

// packet is the control packet describing the session now.
func (s *Session) packet() Packet {
	return Packet{
		Diag: s.diag, State: s.state, DetectMult: s.cfg.DetectMult,
		MyDiscriminator: s.localDiscr, YourDiscriminator: s.remoteDiscr,
		DesiredMinTx: s.sentTx, RequiredMinRx: s.sentRx,
	}
}

// PathFailed reports whether a session that left state from for st has
// detected a failure of the path: it was Up and is no longer, and the peer did
// not take it down on purpose (AdminDown, which RFC 5882 §3.2 says must not
// be taken for a failure). Clients such as BGP reset their session on it.
func PathFailed(from State, st Status) bool {
	return from == StateUp && st.State != StateUp && st.RemoteState != StateAdminDown && st.State != StateAdminDown
}
