package speaker

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/bfd"
	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/internal/bgpspec"
	"github.com/ironlb/ironlb/internal/layer2"
	"github.com/ironlb/ironlb/internal/metrics"
)

// Metrics are the collectors a speaker feeds.
type Metrics struct {
	Speaker *metrics.Speaker
	Layer2  *metrics.Layer2
	BGP     *metrics.BGP
	BFD     *metrics.BFD
	Client  *metrics.K8sClient
}

// layer2Counters adapts the metrics to layer2.Counters (MetalLB labels the
// layer 2 counters by IP only).
type layer2Counters struct{ m *metrics.Layer2 }

func (c layer2Counters) RequestReceived(_ layer2.Protocol, _ string, ip netip.Addr) {
	c.m.RequestReceived(ip)
}
func (c layer2Counters) ResponseSent(_ layer2.Protocol, _ string, ip netip.Addr) {
	c.m.ResponseSent(ip)
}
func (c layer2Counters) GratuitousSent(_ layer2.Protocol, _ string, ip netip.Addr) {
	c.m.GratuitousSent(ip)
}

// announcedList is metallb_speaker_announced's view of a plan.
func announcedList(plan announce.Plan) []metrics.Announcement {
	var out []metrics.Announcement
	for _, a := range plan.L2 {
		out = append(out, metrics.Announcement{Service: a.Service, Protocol: metrics.ProtocolLayer2, IP: a.IP})
	}
	for key, svc := range plan.BGP.Services {
		for _, ip := range svc.IPs {
			out = append(out, metrics.Announcement{Service: key, Protocol: metrics.ProtocolBGP, IP: ip})
		}
	}
	return out
}

// recordTakeovers counts the addresses gained and lost between two plans and
// observes, for the gained ones, the time since the change that caused them.
func (m *Metrics) recordTakeovers(before, after []announce.L2Announcement, since time.Time, membersLeft bool) {
	had := map[netip.Addr]bool{}
	for _, a := range before {
		had[a.IP] = true
	}
	has := map[netip.Addr]bool{}
	for _, a := range after {
		has[a.IP] = true
		if had[a.IP] {
			continue
		}
		m.Speaker.OwnershipGained(a.IP)
		if membersLeft {
			m.Speaker.ObserveFailover(time.Since(since))
		} else {
			m.Speaker.ObserveAnnounceLatency(metrics.ProtocolLayer2, time.Since(since))
		}
	}
	for ip := range had {
		if !has[ip] {
			m.Speaker.OwnershipLost(ip)
		}
	}
}

// recordBGPAnnouncements observes, for every address the BGP plan after
// advertises and before did not, the time since the change that caused it.
func (m *Metrics) recordBGPAnnouncements(before, after announce.BGPPlan, since time.Time) {
	for range newBGPAddresses(before, after) {
		m.Speaker.ObserveAnnounceLatency(metrics.ProtocolBGP, time.Since(since))
	}
}

// newBGPAddresses returns the addresses after advertises that before did not
// (an address kept while its peers change is not new).
func newBGPAddresses(before, after announce.BGPPlan) []netip.Addr {
	had := map[netip.Addr]bool{}
	for _, svc := range before.Services {
		for _, ip := range svc.IPs {
			had[ip] = true
		}
	}
	var out []netip.Addr
	for _, svc := range after.Services {
		for _, ip := range svc.IPs {
			if !had[ip] {
				had[ip] = true
				out = append(out, ip)
			}
		}
	}
	return out
}

// bgpSessions keeps the metallb_bgp_* families in line with the sessions.
type bgpSessions struct {
	mu      sync.Mutex
	m       *metrics.BGP
	labels  map[string]string // peer name → "address:port"
	updates map[string]uint64 // UPDATEs sent, as last read
}

func newBGPSessions(m *metrics.BGP) *bgpSessions {
	return &bgpSessions{m: m, labels: map[string]string{}, updates: map[string]uint64{}}
}

// setPeers exports the configured sessions and stops exporting removed ones.
func (b *bgpSessions) setPeers(peers []bgpspec.Peer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	current := map[string]string{}
	for _, p := range peers {
		port := p.Port
		if port == 0 {
			port = bgp.DefaultPort
		}
		current[p.Name] = peerLabel(p, port)
	}
	for name, label := range b.labels {
		if current[name] != label {
			b.m.SessionRemoved(label)
			delete(b.updates, name)
		}
	}
	for name, label := range current {
		if b.labels[name] != label {
			b.m.SessionAdded(label)
		}
	}
	b.labels = current
}

// peerLabel is the peer label of a session's metrics: the address and
// port (metrics.PeerLabel), or for an unnumbered session, whose router's
// address is only found on the node, the interface and port ("eth1:179").
func peerLabel(p bgpspec.Peer, port uint16) string {
	if p.Unnumbered() {
		return fmt.Sprintf("%s:%d", p.Interface, port)
	}
	return metrics.PeerLabel(p.Address, port)
}

// observe exports one status snapshot.
func (b *bgpSessions) observe(statuses ...bgp.PeerStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, st := range statuses {
		label, ok := b.labels[st.Name]
		if !ok {
			continue
		}
		b.m.SessionState(label, st.Established())
		if st.Established() {
			b.m.AnnouncedPrefixes(label, st.AdvertisedPrefixes)
		}
		if st.UpdatesSent > b.updates[st.Name] {
			b.m.UpdatesSent(label, st.UpdatesSent-b.updates[st.Name])
		}
		b.updates[st.Name] = st.UpdatesSent
	}
}

// bfdSnapshot is metallb_bfd_*'s view of the BFD sessions, by peer address.
func bfdSnapshot(sessions []bgp.BFDStatus) map[string]metrics.BFDSession {
	out := make(map[string]metrics.BFDSession, len(sessions))
	for _, st := range sessions {
		out[st.Address.String()] = metrics.BFDSession{
			Up:        st.State == bfd.StateUp,
			ControlIn: st.ControlIn, ControlOut: st.ControlOut,
			UpEvents: st.UpEvents, DownEvents: st.DownEvents,
		}
	}
	return out
}
