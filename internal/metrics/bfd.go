package metrics

import (
	"maps"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// BFDSession is what the metrics show of one BFD session.
type BFDSession struct {
	Up                    bool
	ControlIn, ControlOut uint64
	UpEvents, DownEvents  uint64
}

// BFD exports a speaker's BFD sessions as the metallb_bfd_* families of
// MetalLB's FRR mode, labelled peer="address" (the BGP peer's address, as
// FRR names BFD peers). The counters are the sessions' own, read at each
// scrape from the last snapshot; they start again from 0 when a session is
// re-created. There is no echo function: the echo counters stay 0.
type BFD struct {
	mu       sync.Mutex
	sessions map[string]BFDSession
}

func bfdDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespaceMetalLB, "bfd", name), help, []string{"peer"}, nil)
}

var (
	bfdSessionUp         = bfdDesc("session_up", "BFD session state (1 is up, 0 is down)")
	bfdControlIn         = bfdDesc("control_packet_input", "Number of received BFD control packets")
	bfdControlOut        = bfdDesc("control_packet_output", "Number of sent BFD control packets")
	bfdEchoIn            = bfdDesc("echo_packet_input", "Number of received BFD echo packets")
	bfdEchoOut           = bfdDesc("echo_packet_output", "Number of sent BFD echo packets")
	bfdSessionUpEvents   = bfdDesc("session_up_events", "Number of BFD session up events")
	bfdSessionDownEvents = bfdDesc("session_down_events", "Number of BFD session down events")
)

// NewBFD registers the BFD metrics on reg.
func NewBFD(reg prometheus.Registerer) *BFD {
	b := &BFD{sessions: map[string]BFDSession{}}
	reg.MustRegister(b)
	return b
}

// Set replaces the exported sessions by peer; sessions not in it are no
// longer exported.
func (b *BFD) Set(sessions map[string]BFDSession) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sessions = maps.Clone(sessions)
}

// SessionState records a known session going up or down, between two Sets.
func (b *BFD) SessionState(peer string, up bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.sessions[peer]; ok {
		s.Up = up
		b.sessions[peer] = s
	}
}

// Describe implements prometheus.Collector.
func (b *BFD) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bfdSessionUp, bfdControlIn, bfdControlOut, bfdEchoIn, bfdEchoOut, bfdSessionUpEvents, bfdSessionDownEvents} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (b *BFD) Collect(ch chan<- prometheus.Metric) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for peer, s := range b.sessions {
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(bfdSessionUp, prometheus.GaugeValue, up, peer)
		for _, c := range []struct {
			desc  *prometheus.Desc
			value uint64
		}{
			{bfdControlIn, s.ControlIn}, {bfdControlOut, s.ControlOut}, {bfdEchoIn, 0}, {bfdEchoOut, 0},
			{bfdSessionUpEvents, s.UpEvents}, {bfdSessionDownEvents, s.DownEvents},
		} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.value), peer)
		}
	}
}
