package controller

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/metrics"
)

// poolStatusWriter keeps each IPAddressPool's status counts current, writing
// at most once per interval and only the pools whose counts changed.
type poolStatusWriter struct {
	clients   *k8s.Clients
	namespace string
	alloc     *ipam.Allocator
	metrics   *metrics.Allocator
	log       *slog.Logger
	dirty     chan struct{}
	written   map[string]ipam.PoolStats
}

const poolStatusInterval = time.Second

func newPoolStatusWriter(clients *k8s.Clients, namespace string, alloc *ipam.Allocator, m *metrics.Allocator, log *slog.Logger) *poolStatusWriter {
	return &poolStatusWriter{clients: clients, namespace: namespace, alloc: alloc, metrics: m, log: log,
		dirty: make(chan struct{}, 1), written: map[string]ipam.PoolStats{}}
}

func (w *poolStatusWriter) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

func (w *poolStatusWriter) run(ctx context.Context) {
	w.markDirty()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
		}
		all := w.alloc.Stats()
		w.metrics.Update(all)
		written := make(map[string]ipam.PoolStats, len(all)) // forgets deleted pools
		for _, stats := range all {
			if previous, ok := w.written[stats.Pool]; ok && previous == stats {
				written[stats.Pool] = stats
				continue
			}
			if err := w.write(ctx, stats); err != nil {
				w.log.Warn("writing pool status", "pool", stats.Pool, "err", err)
				continue
			}
			written[stats.Pool] = stats
		}
		w.written = written
		select { // coalesce bursts of changes
		case <-ctx.Done():
			return
		case <-time.After(poolStatusInterval):
		}
	}
}

func (w *poolStatusWriter) write(ctx context.Context, s ipam.PoolStats) error {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"assignedIPv4": s.AssignedIPv4, "assignedIPv6": s.AssignedIPv6,
		"availableIPv4": s.AvailableIPv4, "availableIPv6": s.AvailableIPv6,
	}})
	if err != nil {
		return err
	}
	return w.clients.MetalLBv1beta1.Patch(types.MergePatchType).
		Namespace(w.namespace).Resource("ipaddresspools").Name(s.Pool).SubResource("status").
		Body(patch).Do(ctx).Error()
}
