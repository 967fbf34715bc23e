package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironlb/ironlb/internal/ipam"
)

// Allocator exports the controller's per-pool address counts, as MetalLB's
// metallb_allocator_* gauges (labelled by pool).
type Allocator struct {
	total, totalIPv4, totalIPv6 *prometheus.GaugeVec
	inUse, inUseIPv4, inUseIPv6 *prometheus.GaugeVec

	mu    sync.Mutex
	pools map[string]bool // pools currently exported
}

// NewAllocator registers the allocator gauges on reg.
func NewAllocator(reg prometheus.Registerer) *Allocator {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespaceMetalLB, Subsystem: "allocator", Name: name, Help: help,
		}, []string{"pool"})
	}
	a := &Allocator{
		total:     gauge("addresses_total", "Number of usable IP addresses, per pool"),
		totalIPv4: gauge("ipv4_addresses_total", "Number of usable IPv4 addresses, per pool"),
		totalIPv6: gauge("ipv6_addresses_total", "Number of usable IPv6 addresses, per pool"),
		inUse:     gauge("addresses_in_use_total", "Number of IP addresses in use, per pool"),
		inUseIPv4: gauge("ipv4_addresses_in_use_total", "Number of IPv4 addresses in use, per pool"),
		inUseIPv6: gauge("ipv6_addresses_in_use_total", "Number of IPv6 addresses in use, per pool"),
		pools:     map[string]bool{},
	}
	reg.MustRegister(a.vecs()...)
	return a
}

func (a *Allocator) vecs() []prometheus.Collector {
	return []prometheus.Collector{a.total, a.totalIPv4, a.totalIPv6, a.inUse, a.inUseIPv4, a.inUseIPv6}
}

// Update exports stats, the counts of every configured pool (as returned by
// ipam.Allocator.Stats), and stops exporting pools that are no longer in it.
// A pool's total is its in-use plus available addresses; pools too large to
// count exactly (available saturated at math.MaxInt64) report at least that.
func (a *Allocator) Update(stats []ipam.PoolStats) {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := make(map[string]bool, len(stats))
	for _, s := range stats {
		seen[s.Pool] = true
		totalIPv4 := float64(s.AssignedIPv4) + float64(s.AvailableIPv4)
		totalIPv6 := float64(s.AssignedIPv6) + float64(s.AvailableIPv6)
		a.total.WithLabelValues(s.Pool).Set(totalIPv4 + totalIPv6)
		a.totalIPv4.WithLabelValues(s.Pool).Set(totalIPv4)
		a.totalIPv6.WithLabelValues(s.Pool).Set(totalIPv6)
		a.inUse.WithLabelValues(s.Pool).Set(float64(s.AssignedIPv4 + s.AssignedIPv6))
		a.inUseIPv4.WithLabelValues(s.Pool).Set(float64(s.AssignedIPv4))
		a.inUseIPv6.WithLabelValues(s.Pool).Set(float64(s.AssignedIPv6))
	}
	for pool := range a.pools {
		if !seen[pool] {
			for _, c := range a.vecs() {
				c.(*prometheus.GaugeVec).DeleteLabelValues(pool)
			}
		}
	}
	a.pools = seen
}
