package metrics

import (
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironlb/ironlb/internal/members"
)

// The protocol label values of metallb_speaker_announced and
// ironlb_announce_latency_seconds.
const (
	ProtocolLayer2 = "layer2"
	ProtocolBGP    = "bgp"
)

// Announcement is one address a speaker announces for one Service.
type Announcement struct {
	// Service is "namespace/name".
	Service string
	// Protocol is ProtocolLayer2 or ProtocolBGP.
	Protocol string
	IP       netip.Addr
}

// Speaker exports what one speaker announces (MetalLB's
// metallb_speaker_announced) and ironlb's own speaker metrics: layer 2
// ownership changes, failover duration, announce latency and the memberlist
// size this speaker sees.
type Speaker struct {
	announced        *announcedCollector
	ownershipChanges *prometheus.CounterVec
	failover         prometheus.Histogram
	announceLatency  *prometheus.HistogramVec
	members          prometheus.Gauge
	decryptFailures  prometheus.Counter
	keys             *prometheus.GaugeVec
}

// NewSpeaker registers the speaker metrics of node on reg.
func NewSpeaker(reg prometheus.Registerer, node string) *Speaker {
	s := &Speaker{
		announced: &announcedCollector{node: node, desc: prometheus.NewDesc(
			prometheus.BuildFQName(namespaceMetalLB, "speaker", "announced"),
			"Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.",
			[]string{"service", "protocol", "node", "ip"}, nil)},
		ownershipChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespaceIronLB, Subsystem: "layer2", Name: "ownership_changes_total",
			Help: "Times this node gained or lost the layer 2 ownership of an IP (change=gained|lost).",
		}, []string{"ip", "change"}),
		failover: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespaceIronLB, Subsystem: "layer2", Name: "failover_duration_seconds",
			Help:    "Time from the owner of an IP leaving the cluster (as memberlist reports it) to this node announcing the IP.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60},
		}),
		announceLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespaceIronLB, Name: "announce_latency_seconds",
			Help:    "Time from this speaker seeing a Service's address to announcing it.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"protocol"}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespaceIronLB, Subsystem: "memberlist", Name: "members",
			Help: "Speakers in the memberlist cluster as this speaker sees it, itself included.",
		}),
		decryptFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespaceIronLB, Subsystem: "memberlist", Name: "decrypt_failures_total",
			Help: "Memberlist messages this speaker received or was answered that none of its keys decrypts: a speaker with another memberlist key, or a stranger on the memberlist port.",
		}),
		keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespaceIronLB, Subsystem: "memberlist", Name: "key_info",
			Help: "1 for each memberlist key this speaker holds, by fingerprint (first 8 hex digits of the key's SHA-256): role=primary encrypts what it sends, role=accepted only decrypts.",
		}, []string{"fingerprint", "role"}),
	}
	reg.MustRegister(s.announced, s.ownershipChanges, s.failover, s.announceLatency, s.members, s.decryptFailures, s.keys)
	return s
}

// SetAnnounced replaces the set of announcements exported for this node
// with list, which it keeps: the caller must not change it afterwards.
func (s *Speaker) SetAnnounced(list []Announcement) {
	s.announced.set(list)
}

// announcedCollector exports metallb_speaker_announced, one series of
// value 1 per announcement, from the list last set. It builds the series
// when scraped instead of keeping a labelled gauge per address: with
// 10,000 Services that is 10,000 small structs held, against about 9 MB
// of series, and a new plan costs no series bookkeeping.
type announcedCollector struct {
	desc *prometheus.Desc
	node string

	mu   sync.Mutex
	list []Announcement
}

func (c *announcedCollector) set(list []Announcement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = list
}

// Describe implements prometheus.Collector.
func (c *announcedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A repeated announcement is
// exported once: the registry refuses a scrape with duplicate series.
func (c *announcedCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	list := c.list
	c.mu.Unlock()
	seen := make(map[Announcement]bool, len(list))
	for _, a := range list {
		if seen[a] {
			continue
		}
		seen[a] = true
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, a.Service, a.Protocol, c.node, a.IP.String())
	}
}

// OwnershipGained counts this node becoming the layer 2 owner of ip.
func (s *Speaker) OwnershipGained(ip netip.Addr) {
	s.ownershipChanges.WithLabelValues(ip.String(), "gained").Inc()
}

// OwnershipLost counts this node ceasing to be the layer 2 owner of ip.
func (s *Speaker) OwnershipLost(ip netip.Addr) {
	s.ownershipChanges.WithLabelValues(ip.String(), "lost").Inc()
}

// ObserveFailover records how long a failover took: from the previous
// owner's departure to this node's first announcement.
func (s *Speaker) ObserveFailover(d time.Duration) {
	s.failover.Observe(d.Seconds())
}

// ObserveAnnounceLatency records how long an announcement took to apply,
// for protocol ProtocolLayer2 or ProtocolBGP.
func (s *Speaker) ObserveAnnounceLatency(protocol string, d time.Duration) {
	s.announceLatency.WithLabelValues(protocol).Observe(d.Seconds())
}

// SetMembers records the number of memberlist members this speaker sees.
func (s *Speaker) SetMembers(n int) {
	s.members.Set(float64(n))
}

// MemberlistDecryptFailed counts a memberlist message no key of this
// speaker decrypts.
func (s *Speaker) MemberlistDecryptFailed() {
	s.decryptFailures.Inc()
}

// SetMemberlistKeys replaces the exported keys with keys.
func (s *Speaker) SetMemberlistKeys(keys members.Keys) {
	s.keys.Reset()
	for i, key := range keys.All() {
		role := "accepted"
		if i == 0 {
			role = "primary"
		}
		s.keys.WithLabelValues(members.Fingerprint(key), role).Set(1)
	}
}
