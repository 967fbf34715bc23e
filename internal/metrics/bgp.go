package metrics

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
)

// BGP exports the state of a speaker's BGP sessions, as MetalLB's
// metallb_bgp_* families. Sessions are labelled peer="address:port", the
// peer's address and TCP port, as MetalLB labels them (see PeerLabel).
type BGP struct {
	sessionUp *prometheus.GaugeVec
	updates   *prometheus.CounterVec
	prefixes  *prometheus.GaugeVec
}

// NewBGP registers the BGP metrics on reg.
func NewBGP(reg prometheus.Registerer) *BGP {
	labels := []string{"peer"}
	b := &BGP{
		sessionUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespaceMetalLB, Subsystem: "bgp", Name: "session_up",
			Help: "BGP session state (1 is up, 0 is down)",
		}, labels),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespaceMetalLB, Subsystem: "bgp", Name: "updates_total",
			Help: "Number of BGP UPDATE messages sent",
		}, labels),
		prefixes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespaceMetalLB, Subsystem: "bgp", Name: "announced_prefixes_total",
			Help: "Number of prefixes currently being advertised on the BGP session",
		}, labels),
	}
	reg.MustRegister(b.sessionUp, b.updates, b.prefixes)
	return b
}

// PeerLabel returns the peer label of a session: "192.0.2.1:179" or
// "[2001:db8::1]:179".
func PeerLabel(addr netip.Addr, port uint16) string {
	return netip.AddrPortFrom(addr, port).String()
}

// SessionAdded starts exporting a configured session, down and with no
// prefixes.
func (b *BGP) SessionAdded(peer string) {
	b.sessionUp.WithLabelValues(peer).Set(0)
	b.prefixes.WithLabelValues(peer).Set(0)
	b.updates.WithLabelValues(peer).Add(0)
}

// SessionState records a session going up or down; a session that goes down
// advertises nothing.
func (b *BGP) SessionState(peer string, up bool) {
	if up {
		b.sessionUp.WithLabelValues(peer).Set(1)
		return
	}
	b.sessionUp.WithLabelValues(peer).Set(0)
	b.prefixes.WithLabelValues(peer).Set(0)
}

// UpdatesSent adds n BGP UPDATE messages sent to peer.
func (b *BGP) UpdatesSent(peer string, n uint64) { b.updates.WithLabelValues(peer).Add(float64(n)) }

// AnnouncedPrefixes records how many prefixes are advertised to peer.
func (b *BGP) AnnouncedPrefixes(peer string, n int) {
	b.prefixes.WithLabelValues(peer).Set(float64(n))
}

// SessionRemoved stops exporting a session that is no longer configured.
func (b *BGP) SessionRemoved(peer string) {
	b.sessionUp.DeleteLabelValues(peer)
	b.prefixes.DeleteLabelValues(peer)
	b.updates.DeleteLabelValues(peer)
}
