package members

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"
)

func dialError(errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
}

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want dialOutcome
	}{
		{"connected", nil, dialAnswered},
		{"refused: nobody listens", dialError(syscall.ECONNREFUSED), dialRefused},
		{"refused, wrapped", fmt.Errorf("probing b: %w", dialError(syscall.ECONNREFUSED)), dialRefused},
		{"timeout: SYN dropped", dialError(syscall.ETIMEDOUT), dialSilent},
		{"dial deadline", context.DeadlineExceeded, dialSilent},
		{"host unreachable", dialError(syscall.EHOSTUNREACH), dialSilent},
		{"network unreachable", dialError(syscall.ENETUNREACH), dialSilent},
		{"reset", dialError(syscall.ECONNRESET), dialSilent},
		{"canceled (member removed)", context.Canceled, dialSilent},
		{"anything else", errors.New("too many open files"), dialSilent},
	}
	for _, tt := range tests {
		if got := outcomeOf(tt.err); got != tt.want {
			t.Errorf("%s: outcomeOf(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestOutcomeOfRealRefusal dials a loopback port nobody listens on.
func TestOutcomeOfRealRefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = net.Dial("tcp", addr)
	if got := outcomeOf(err); got != dialRefused {
		t.Errorf("dial at a closed port: %v → %v, want refused", err, got)
	}
}

func TestEndOutcome(t *testing.T) {
	A, R, S := dialAnswered, dialRefused, dialSilent
	tests := []struct {
		outcomes []dialOutcome
		want     dialOutcome
	}{
		{[]dialOutcome{R}, R},
		{[]dialOutcome{A, R}, R}, // the listener closed after the streams
		{[]dialOutcome{S, R}, R}, // the first SYN met the closing listener
		{[]dialOutcome{A, A, A}, A},
		{[]dialOutcome{S, A, S}, A},
		{[]dialOutcome{S, S, S}, S}, // frozen or partitioned
		{nil, S},
	}
	for _, tt := range tests {
		if got := endOutcome(tt.outcomes); got != tt.want {
			t.Errorf("endOutcome(%v) = %v, want %v", tt.outcomes, got, tt.want)
		}
	}
}

func TestGoneAfter(t *testing.T) {
	tests := []struct {
		wasGone bool
		outcome dialOutcome
		want    bool
	}{
		{false, dialRefused, true},   // the process exited
		{false, dialSilent, false},   // frozen or partitioned: memberlist decides
		{false, dialAnswered, false}, // the stream ended, the process runs
		{true, dialRefused, true},    // still exited
		{true, dialSilent, true},     // no answer is no news
		{true, dialAnswered, false},  // it listens again
	}
	for _, tt := range tests {
		if got := goneAfter(tt.wasGone, tt.outcome); got != tt.want {
			t.Errorf("goneAfter(%v, %v) = %v, want %v", tt.wasGone, tt.outcome, got, tt.want)
		}
	}
}

// TestHeldStreamMarker: no stream memberlist v0.5 opens starts with the
// marker: its message types (pingMsg 0 … errMsg 13) and hasLabelMsg (244).
func TestHeldStreamMarker(t *testing.T) {
	for first := range 14 {
		if isHeldStream(byte(first)) {
			t.Errorf("memberlist message type %d taken for a held stream", first)
		}
	}
	if isHeldStream(244) {
		t.Error("memberlist's label header taken for a held stream")
	}
	if !isHeldStream(heldStreamMarker) {
		t.Error("the marker is not a held stream")
	}
}

func TestHoldsStream(t *testing.T) {
	if !holdsStream("node-a", "node-b") || holdsStream("node-b", "node-a") {
		t.Error("of node-a and node-b, node-a (the smaller name) must dial and only it")
	}
}

func TestAcceptedPeer(t *testing.T) {
	peers := map[string]netip.AddrPort{
		"a":  addr("10.0.0.1:7946"),
		"b":  addr("10.0.0.2:7946"),
		"d":  addr("10.0.0.4:7946"), // dialed by c, never dials it
		"b2": addr("10.0.0.9:7946"),
		"b3": addr("10.0.0.9:7947"), // shares b2's address
		"a6": addr("[fd00::1]:7946"),
	}
	tests := []struct {
		name     string
		from     string
		want     string
		accepted bool
	}{
		{"a member that dials c", "10.0.0.1", "a", true},
		{"another one", "10.0.0.2", "b", true},
		{"IPv6", "fd00::1", "a6", true},
		{"IPv4 in IPv6 form", "::ffff:10.0.0.1", "a", true},
		{"a member c dials itself", "10.0.0.4", "", false},
		{"not a member's address", "10.0.0.99", "", false},
		{"an address two members share", "10.0.0.9", "", false},
	}
	for _, tt := range tests {
		got, ok := acceptedPeer("c", peers, netip.MustParseAddr(tt.from))
		if got != tt.want || ok != tt.accepted {
			t.Errorf("%s: acceptedPeer(%s) = %q, %v; want %q, %v", tt.name, tt.from, got, ok, tt.want, tt.accepted)
		}
	}
}

func TestLiveSet(t *testing.T) {
	alive := map[string]Member{
		"c": {Name: "c", Addr: addr("10.0.0.3:7946")},
		"a": {Name: "a", Addr: addr("10.0.0.1:7946")},
		"b": {Name: "b", Addr: addr("10.0.0.2:7946")},
	}
	tests := []struct {
		name string
		gone map[string]bool
		want []string
	}{
		{"none gone: memberlist's alive, sorted", nil, []string{"a", "b", "c"}},
		{"an exited member is not live", map[string]bool{"b": true}, []string{"a", "c"}},
		{"a verdict on a member memberlist dropped changes nothing", map[string]bool{"z": true}, []string{"a", "b", "c"}},
		{"all others gone", map[string]bool{"b": true, "c": true}, []string{"a"}},
	}
	for _, tt := range tests {
		if got := names(liveSet(alive, tt.gone)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: liveSet = %v, want %v", tt.name, got, tt.want)
		}
	}
}
