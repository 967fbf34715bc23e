package bfd

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// freePort returns a UDP port free on the loopback addresses used below.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.LocalAddr().(*net.UDPAddr).Port
}

type change struct {
	peer netip.Addr
	st   Status
}

// shell starts a Conn listening on addr:port that reports state changes on the returned channel.
func shell(t *testing.T, addr netip.Addr, port int) (*Conn, <-chan change, context.CancelFunc) {
	t.Helper()
	changes := make(chan change, 16)
	c, err := Listen(Options{ListenAddrs: []netip.Addr{addr}, Port: port, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		OnChange: func(peer netip.Addr, _ State, st Status) { changes <- change{peer, st} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, changes, cancel
}

// await waits for the next state change to want.
func await(t *testing.T, changes <-chan change, peer netip.Addr, want State, diag Diag) Status {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ch := <-changes:
			if ch.peer == peer && ch.st.State == want {
				if ch.st.Diag != diag {
					t.Fatalf("%s went %s with diag %q, want %q", peer, want, ch.st.Diag, diag)
				}
				return ch.st
			}
		case <-timeout:
			t.Fatalf("%s never went %s", peer, want)
		}
	}
}

var (
	addrA = netip.MustParseAddr("127.0.0.1")
	addrB = netip.MustParseAddr("127.0.0.2")
)

var loopbackFast = Config{DesiredMinTx: 20 * time.Millisecond, RequiredMinRx: 30 * time.Millisecond, DetectMult: 3}

// Two shells on loopback bring a session Up (RFC 5880 §6.8.6 over RFC 5881
// sockets: port, TTL 255 accepted by MinTTL 255) with the negotiated
// intervals of §6.8.2 and §6.8.4, and one of them going silent takes the
// other Down on detection time expiry.
func TestConnSessionUpThenSilence(t *testing.T) {
	port := freePort(t)
	a, changesA, _ := shell(t, addrA, port)
	b, changesB, stopB := shell(t, addrB, port)
	ctx := context.Background()
	slowerB := loopbackFast
	slowerB.DesiredMinTx = 40 * time.Millisecond
	if err := a.Set(ctx, addrB, SessionSpec{Config: loopbackFast, Source: addrA, MinTTL: 255}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, addrA, SessionSpec{Config: slowerB, Source: addrB, MinTTL: 255}); err != nil {
		t.Fatal(err)
	}
	await(t, changesA, addrB, StateUp, DiagNone)
	await(t, changesB, addrA, StateUp, DiagNone)

	// After the Poll Sequences of going Up, A sends every max(20, 30) ms and
	// detects in 3 × max(30, 40) ms.
	deadline := time.Now().Add(20 * time.Second)
	for {
		all, err := a.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st := all[addrB]
		if st.TxInterval == 30*time.Millisecond && st.DetectionTime == 120*time.Millisecond && st.ControlIn > 0 && st.ControlOut > 0 && st.UpEvents == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's session never negotiated 30 ms / 120 ms: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}

	stopB()
	await(t, changesA, addrB, StateDown, DiagControlDetectionTimeExpired)
	all, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := all[addrB].DownEvents; got != 1 {
		t.Fatalf("DownEvents = %d, want 1", got)
	}
}

// Removing a session tells the peer AdminDown: it goes Down with diag 3
// (RFC 5880 §6.8.16, §6.8.6) at once, not after its detection time.
func TestConnRemoveTellsPeer(t *testing.T) {
	port := freePort(t)
	a, changesA, _ := shell(t, addrA, port)
	b, _, _ := shell(t, addrB, port)
	ctx := context.Background()
	if err := a.Set(ctx, addrB, SessionSpec{Config: loopbackFast, Source: addrA, MinTTL: 255}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, addrA, SessionSpec{Config: loopbackFast, Source: addrB, MinTTL: 255}); err != nil {
		t.Fatal(err)
	}
	await(t, changesA, addrB, StateUp, DiagNone)
	if err := b.Remove(ctx, addrA); err != nil {
		t.Fatal(err)
	}
	await(t, changesA, addrB, StateDown, DiagNeighborSignaledSessionDown)
}

// RFC 5881 §4, §5: packets leave from a port in 49152–65535, to the control
// port, with TTL 255; the peer's packets with a lower TTL than the session's
// minimum are dropped, and packets of unknown peers too.
func TestConnSocketRules(t *testing.T) {
	port := freePort(t)
	peerAddr := netip.MustParseAddr("127.0.0.3")
	peer, err := net.ListenPacket("udp4", netip.AddrPortFrom(peerAddr, uint16(port)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	pc := ipv4.NewPacketConn(peer)
	if err := pc.SetControlMessage(ipv4.FlagTTL, true); err != nil {
		t.Fatal(err)
	}
	a, _, _ := shell(t, addrA, port)
	ctx := context.Background()
	if err := a.Set(ctx, peerAddr, SessionSpec{Config: loopbackFast, Source: addrA, MinTTL: 255}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, cm, src, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	from := src.(*net.UDPAddr)
	if from.Port < 49152 || from.Port > 65535 || cm.TTL != 255 {
		t.Fatalf("packet from port %d with TTL %d, want 49152–65535 and 255", from.Port, cm.TTL)
	}
	got, err := Decode(buf[:n])
	if err != nil || got.State != StateDown || got.DesiredMinTx != SlowTxInterval {
		t.Fatalf("first packet %+v, %v; want Down advertising 1 s", got, err)
	}

	// The peer answers with TTL 64 (more than one hop away): dropped.
	reply := Packet{State: StateDown, DetectMult: 3, MyDiscriminator: 9, DesiredMinTx: time.Second, RequiredMinRx: time.Second}
	to := &net.UDPAddr{IP: addrA.AsSlice(), Port: port}
	if _, err := pc.WriteTo(reply.Encode(), &ipv4.ControlMessage{TTL: 64}, to); err != nil {
		// Some kernels refuse a TTL in the control message: set it on the socket.
		if err := pc.SetTTL(64); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteTo(reply.Encode(), to); err != nil {
			t.Fatal(err)
		}
	}
	// A stranger on the same host: no session.
	stranger, err := net.ListenPacket("udp4", "127.0.0.4:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if _, err := stranger.WriteTo(reply.Encode(), to); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		dropped, err := a.Dropped(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if dropped["TTL below minimum"] == 1 && dropped["no session"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dropped = %v, want one TTL below minimum and one no session", dropped)
		}
		time.Sleep(10 * time.Millisecond)
	}
	all, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := all[peerAddr]; st.State != StateDown || st.ControlIn != 0 {
		t.Fatalf("session after dropped packets: %+v, want Down with nothing received", st)
	}
}

// IPv6: a session to ::1 talks to itself through the shell's own listener
// (hop limit 255 read from IPV6_RECVHOPLIMIT) and comes Up.
func TestConnIPv6Loopback(t *testing.T) {
	loop6 := netip.IPv6Loopback()
	l, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	a, changes, _ := shell(t, loop6, port)
	if err := a.Set(context.Background(), loop6, SessionSpec{Config: loopbackFast, MinTTL: 255}); err != nil {
		t.Fatal(err)
	}
	await(t, changes, loop6, StateUp, DiagNone)
}
