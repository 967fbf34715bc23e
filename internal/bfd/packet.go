package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// State is a session state (RFC 5880 §4.1, field Sta).
type State uint8

// The session states, with their wire values.
const (
	StateAdminDown State = 0
	StateDown      State = 1
	StateInit      State = 2
	StateUp        State = 3
)

// String names the state as RFC 5880 does.
func (s State) String() string {
	switch s {
	case StateAdminDown:
		return "AdminDown"
	case StateDown:
		return "Down"
	case StateInit:
		return "Init"
	case StateUp:
		return "Up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Diag is the reason for the last change of the local session state
// (RFC 5880 §4.1, field Diag).
type Diag uint8

// The diagnostic codes of RFC 5880 §4.1.
const (
	DiagNone                        Diag = 0
	DiagControlDetectionTimeExpired Diag = 1
	DiagEchoFunctionFailed          Diag = 2
	DiagNeighborSignaledSessionDown Diag = 3
	DiagForwardingPlaneReset        Diag = 4
	DiagPathDown                    Diag = 5
	DiagConcatenatedPathDown        Diag = 6
	DiagAdministrativelyDown        Diag = 7
	DiagReverseConcatenatedPathDown Diag = 8
)

var diagNames = [...]string{
	"none", "control detection time expired", "echo function failed",
	"neighbor signaled session down", "forwarding plane reset", "path down",
	"concatenated path down", "administratively down", "reverse concatenated path down",
}

// String names the diagnostic as RFC 5880 §4.1 does.
func (d Diag) String() string {
	if int(d) < len(diagNames) {
		return diagNames[d]
	}
	return fmt.Sprintf("diag %d", uint8(d))
}

// Version is the only BFD protocol version (RFC 5880 §4.1).
const Version = 1

// HeaderLen is the length of a control packet without authentication section.
const HeaderLen = 24

// Packet is a BFD control packet (RFC 5880 §4.1) without authentication
// section. Intervals travel in microseconds; a Packet holds them as durations.
type Packet struct {
	Diag  Diag
	State State
	// Poll and Final are the P and F bits of a Poll Sequence (§6.5).
	Poll, Final bool
	// ControlPlaneIndependent is the C bit.
	ControlPlaneIndependent bool
	// Demand is the D bit: the sender wants the receiver to stop periodic transmission.
	Demand bool
	// DetectMult is the sender's detection time multiplier; never 0.
	DetectMult uint8
	// MyDiscriminator is the sender's discriminator (never 0), YourDiscriminator
	// the receiver's as the sender knows it (0 when unknown).
	MyDiscriminator, YourDiscriminator uint32
	// DesiredMinTx, RequiredMinRx and RequiredMinEchoRx are the sender's
	// timing parameters (§6.8.1), multiples of a microsecond.
	DesiredMinTx, RequiredMinRx, RequiredMinEchoRx time.Duration
}

// Reasons [Decode] refuses a packet, each a reception rule of RFC 5880 §6.8.6.
// They are the drop reasons the shell counts.
var (
	ErrShort          = errors.New("shorter than a BFD control packet")
	ErrVersion        = errors.New("not BFD version 1")
	ErrLength         = errors.New("length field out of range")
	ErrAuthentication = errors.New("authentication section present (not supported)")
	ErrDetectMult     = errors.New("detect multiplier is zero")
	ErrMultipoint     = errors.New("multipoint bit set")
	ErrMyDiscr        = errors.New("my discriminator is zero")
	ErrYourDiscr      = errors.New("your discriminator is zero in state other than Down or AdminDown")
	ErrPollFinal      = errors.New("poll and final bits both set")
)

const (
	bitPoll       = 0x20
	bitFinal      = 0x10
	bitCPI        = 0x08
	bitAuth       = 0x04
	bitDemand     = 0x02
	bitMultipoint = 0x01
)

// Decode parses a control packet and applies the reception checks of
// RFC 5880 §6.8.6 that need no session; the ones that do are [Session.Receive]'s.
// Bytes beyond the Length field are ignored.
func Decode(b []byte) (Packet, error) {
	if len(b) < HeaderLen {
		return Packet{}, ErrShort
	}
	if b[0]>>5 != Version {
		return Packet{}, ErrVersion
	}
	flags := b[1]
	if flags&bitAuth != 0 {
		return Packet{}, ErrAuthentication
	}
	if n := int(b[3]); n < HeaderLen || n > len(b) {
		return Packet{}, ErrLength
	}
	p := Packet{
		Diag:                    Diag(b[0] & 0x1f),
		State:                   State(flags >> 6),
		Poll:                    flags&bitPoll != 0,
		Final:                   flags&bitFinal != 0,
		ControlPlaneIndependent: flags&bitCPI != 0,
		Demand:                  flags&bitDemand != 0,
		DetectMult:              b[2],
		MyDiscriminator:         binary.BigEndian.Uint32(b[4:]),
		YourDiscriminator:       binary.BigEndian.Uint32(b[8:]),
		DesiredMinTx:            micros(b[12:]),
		RequiredMinRx:           micros(b[16:]),
		RequiredMinEchoRx:       micros(b[20:]),
	}
	switch {
	case p.DetectMult == 0:
		return Packet{}, ErrDetectMult
	case flags&bitMultipoint != 0:
		return Packet{}, ErrMultipoint
	case p.MyDiscriminator == 0:
		return Packet{}, ErrMyDiscr
	case p.YourDiscriminator == 0 && p.State != StateDown && p.State != StateAdminDown:
		return Packet{}, ErrYourDiscr
	case p.Poll && p.Final:
		return Packet{}, ErrPollFinal
	}
	return p, nil
}

// Encode returns the packet's wire form. Intervals are rounded down to whole
// microseconds and saturate at the field's maximum (about 71 minutes).
func (p Packet) Encode() []byte {
	b := make([]byte, HeaderLen)
	b[0] = Version<<5 | byte(p.Diag)&0x1f
	flags := byte(p.State&3) << 6
	for _, f := range []struct {
		set bool
		bit byte
	}{{p.Poll, bitPoll}, {p.Final, bitFinal}, {p.ControlPlaneIndependent, bitCPI}, {p.Demand, bitDemand}} {
		if f.set {
			flags |= f.bit
		}
	}
	b[1] = flags
	b[2] = p.DetectMult
	b[3] = HeaderLen
	binary.BigEndian.PutUint32(b[4:], p.MyDiscriminator)
	binary.BigEndian.PutUint32(b[8:], p.YourDiscriminator)
	binary.BigEndian.PutUint32(b[12:], toMicros(p.DesiredMinTx))
	binary.BigEndian.PutUint32(b[16:], toMicros(p.RequiredMinRx))
	binary.BigEndian.PutUint32(b[20:], toMicros(p.RequiredMinEchoRx))
	return b
}

func micros(b []byte) time.Duration {
	return time.Duration(binary.BigEndian.Uint32(b)) * time.Microsecond
}

func toMicros(d time.Duration) uint32 {
	us := d / time.Microsecond
	switch {
	case us < 0:
		return 0
	case us > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(us)
}
