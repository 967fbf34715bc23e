package members

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestReclaimTarget(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	addrB := netip.MustParseAddrPort("10.0.0.2:7946")
	addrC := netip.MustParseAddrPort("10.0.0.3:7946")
	departedC := func(told time.Time) map[string]departedMember {
		return map[string]departedMember{"c": {addr: addrC, since: now.Add(-time.Minute), told: told}}
	}
	aliveB := map[string]Member{"b": {Name: "b", Addr: addrB}}
	tests := []struct {
		name     string
		departed map[string]departedMember
		alive    map[string]Member
		from     netip.AddrPort
		want     string
		due      bool
	}{
		{"nobody departed", nil, aliveB, addrC, "", false},
		{"a live member's packet", departedC(time.Time{}), aliveB, addrB, "", false},
		{"a departed member's packet, never told", departedC(time.Time{}), aliveB, addrC, "c", true},
		{"told a moment ago", departedC(now.Add(-reclaimInterval / 2)), aliveB, addrC, "", false},
		{"told an interval ago", departedC(now.Add(-reclaimInterval)), aliveB, addrC, "c", true},
		{"same address, other port", departedC(time.Time{}), aliveB, netip.AddrPortFrom(addrC.Addr(), 7947), "", false},
		{"a live member took the departed one's address (renamed node)", departedC(time.Time{}),
			map[string]Member{"c2": {Name: "c2", Addr: addrC}}, addrC, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, due := reclaimTarget(tt.departed, tt.alive, tt.from, now)
			if got != tt.want || due != tt.due {
				t.Errorf("reclaimTarget = %q, %v; want %q, %v", got, due, tt.want, tt.due)
			}
		})
	}
}

func TestForgetOld(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	departed := map[string]departedMember{
		"recent": {since: now.Add(-time.Minute)},
		"edge":   {since: now.Add(-forgetDeparted)},
		"old":    {since: now.Add(-forgetDeparted - time.Second)},
	}
	forgetOld(departed, now)
	if _, ok := departed["old"]; ok || len(departed) != 2 {
		t.Errorf("after forgetOld: %v, want recent and edge only", departed)
	}
}

// TestPacketFromDepartedMemberIsTold: a packet from the address of a member
// that a holds departed makes a join that address (a push/pull over TCP).
func TestPacketFromDepartedMemberIsTold(t *testing.T) {
	a := start(t, "a", 51, clusterKey)
	// x plays the departed member: a TCP listener and a UDP socket on one
	// port, as memberlist listens.
	tcp, err := net.Listen("tcp", "127.0.0.52:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	x := netip.MustParseAddrPort(tcp.Addr().String())
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(x))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	a.mu.Lock()
	a.departed["x"] = departedMember{addr: x, since: time.Now()}
	a.mu.Unlock()

	if _, err := udp.WriteToUDPAddrPort([]byte("x is still running"), a.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	tcp.(*net.TCPListener).SetDeadline(time.Now().Add(converge))
	conn, err := tcp.Accept()
	if err != nil {
		t.Fatalf("a did not contact x after a packet from it: %v", err)
	}
	conn.Close()
}
