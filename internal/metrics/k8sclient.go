package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// K8sClient exports how the process keeps up with the API server and
// whether it runs on a valid configuration: MetalLB's metallb_k8s_client_*
// families. Both the controller and the speakers export it.
type K8sClient struct {
	updates      prometheus.Counter
	updateErrors prometheus.Counter
	loaded       prometheus.Gauge
	stale        prometheus.Gauge
	// everLoaded mirrors loaded, which a Gauge cannot be read back from.
	everLoaded atomic.Bool
}

// NewK8sClient registers the client metrics on reg.
func NewK8sClient(reg prometheus.Registerer) *K8sClient {
	k := &K8sClient{
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespaceMetalLB, Subsystem: "k8s_client", Name: "updates_total",
			Help: "Number of k8s object updates that have been processed.",
		}),
		updateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespaceMetalLB, Subsystem: "k8s_client", Name: "update_errors_total",
			Help: "Number of k8s object updates that failed for some reason.",
		}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespaceMetalLB, Subsystem: "k8s_client", Name: "config_loaded_bool",
			Help: "1 if the MetalLB configuration was successfully loaded at least once.",
		}),
		stale: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespaceMetalLB, Subsystem: "k8s_client", Name: "config_stale_bool",
			Help: "1 if running on a stale configuration, because the latest config failed to load.",
		}),
	}
	reg.MustRegister(k.updates, k.updateErrors, k.loaded, k.stale)
	return k
}

// UpdateProcessed counts one processed object update (a reconcile of a
// Service, a configuration rebuild…); err is its outcome.
func (k *K8sClient) UpdateProcessed(err error) {
	k.updates.Inc()
	if err != nil {
		k.updateErrors.Inc()
	}
}

// ConfigRestored records that a valid configuration saved by an earlier run
// serves (loaded, not yet stale), so that a refusal marks it stale.
func (k *K8sClient) ConfigRestored() {
	k.everLoaded.Store(true)
	k.loaded.Set(1)
}

// ConfigBuilt records the outcome of building the configuration, which
// counts as one processed update: nil marks it loaded and current; an error
// marks the process as running on a stale configuration, its last good one,
// but only if it ever loaded one: a process that never loaded a
// configuration serves none, which config_loaded_bool = 0 already says.
func (k *K8sClient) ConfigBuilt(err error) {
	k.updates.Inc()
	if err == nil {
		k.everLoaded.Store(true)
		k.loaded.Set(1)
		k.stale.Set(0)
		return
	}
	if k.everLoaded.Load() {
		k.stale.Set(1)
	}
}
