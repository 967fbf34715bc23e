// Package metrics defines every Prometheus metric ironlb exports and serves
// them over HTTP with /healthz and /readyz.
//
// The metallb_* families keep MetalLB's names, label names and types, so that
// existing dashboards and alerts keep working; the ironlb_* families are
// ironlb's own. docs/metrics.md lists them all.
//
// Each group of metrics (Allocator, K8sClient, Speaker, Layer2, BGP) has a
// constructor that registers it on a prometheus.Registerer, and small typed
// methods that the packages doing the work call. Those packages never import
// Prometheus: the mains hand them these groups through narrow interfaces.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// namespaceMetalLB prefixes the families inherited from MetalLB;
// namespaceIronLB prefixes ironlb's own.
const (
	namespaceMetalLB = "metallb"
	namespaceIronLB  = "ironlb"
)

// NewRegistry returns a registry with the Go runtime and process collectors,
// ready for the groups of this package.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
