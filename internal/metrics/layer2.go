package metrics

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
)

// Layer2 counts the ARP/NDP traffic of a speaker's layer 2 responders, as
// MetalLB's metallb_layer2_* counters (labelled by ip). Its methods are the
// counter hooks the responders call.
type Layer2 struct {
	requests   *prometheus.CounterVec
	responses  *prometheus.CounterVec
	gratuitous *prometheus.CounterVec
}

// NewLayer2 registers the layer 2 counters on reg.
func NewLayer2(reg prometheus.Registerer) *Layer2 {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespaceMetalLB, Subsystem: "layer2", Name: name, Help: help,
		}, []string{"ip"})
	}
	l := &Layer2{
		requests:   counter("requests_received", "Number of layer2 requests received for owned IPs"),
		responses:  counter("responses_sent", "Number of layer2 responses sent for owned IPs in response to requests"),
		gratuitous: counter("gratuitous_sent", "Number of gratuitous layer2 packets sent for owned IPs as a result of failovers"),
	}
	reg.MustRegister(l.requests, l.responses, l.gratuitous)
	return l
}

// RequestReceived counts an ARP request or NDP neighbor solicitation for ip,
// an address this node owns.
func (l *Layer2) RequestReceived(ip netip.Addr) { l.requests.WithLabelValues(ip.String()).Inc() }

// ResponseSent counts an ARP reply or neighbor advertisement sent for ip.
func (l *Layer2) ResponseSent(ip netip.Addr) { l.responses.WithLabelValues(ip.String()).Inc() }

// GratuitousSent counts a gratuitous ARP or unsolicited neighbor
// advertisement sent for ip.
func (l *Layer2) GratuitousSent(ip netip.Addr) { l.gratuitous.WithLabelValues(ip.String()).Inc() }
