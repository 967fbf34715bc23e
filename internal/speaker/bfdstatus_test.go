package speaker

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgp"
)

func TestBFDReport(t *testing.T) {
	session := func(name, addr string, st bfd.Status) bgp.BFDStatus {
		return bgp.BFDStatus{Name: name, Address: netip.MustParseAddr(addr), PeerStatus: bfd.PeerStatus{Status: st}}
	}
	for _, tc := range []struct {
		name      string
		sessions  []bgp.BFDStatus
		wantLines []string
		wantNotUp int
	}{
		{"no session", nil, nil, 0},
		{"Up: the negotiated intervals", []bgp.BFDStatus{
			session("router-v4", "172.30.0.254", bfd.Status{State: bfd.StateUp, TxInterval: 200 * time.Millisecond, DetectionTime: 1200 * time.Millisecond}),
		}, []string{"router-v4 172.30.0.254: Up, transmit 200ms, detection 1.2s"}, 0},
		{"Down after a failure: why", []bgp.BFDStatus{
			session("a", "10.0.0.1", bfd.Status{State: bfd.StateUp, TxInterval: 100 * time.Millisecond, DetectionTime: 300 * time.Millisecond}),
			session("b", "10.0.0.2", bfd.Status{State: bfd.StateDown, Diag: bfd.DiagControlDetectionTimeExpired}),
			session("c", "10.0.0.3", bfd.Status{State: bfd.StateDown}),
		}, []string{
			"a 10.0.0.1: Up, transmit 100ms, detection 300ms",
			"b 10.0.0.2: Down (control detection time expired)",
			"c 10.0.0.3: Down",
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := bfdReport(tc.sessions)
			if !slices.Equal(got.Lines, tc.wantLines) || got.NotUp != tc.wantNotUp {
				t.Errorf("bfdReport() = %q, %d not Up; want %q, %d", got.Lines, got.NotUp, tc.wantLines, tc.wantNotUp)
			}
		})
	}
}
