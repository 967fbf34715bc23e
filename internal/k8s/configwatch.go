package k8s

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/ironlb/ironlb/internal/config"
)

// ConfigUpdate is the outcome of one rebuild of the configuration: either a
// new valid Config, or the error that refused it (the previous Config then
// keeps serving).
type ConfigUpdate struct {
	Config *config.Config
	Err    error
	// Resources are the objects the configuration was built from, to name
	// (with their UIDs) the objects an error is about.
	Resources config.Resources
}

// ConfigWatcher watches the metallb.io objects and Secrets of one namespace
// and rebuilds the configuration whenever one of them changes.
type ConfigWatcher struct {
	namespace string
	// kinds has one informer per config.Kinds entry, in the same order.
	kinds   []cache.SharedIndexInformer
	secrets cache.SharedIndexInformer
	changed chan struct{}
}

// NewConfigWatcher prepares the informers; Run starts them.
func NewConfigWatcher(c *Clients, namespace string) *ConfigWatcher {
	secretFactory := informers.NewSharedInformerFactoryWithOptions(c.Kube, 0, informers.WithNamespace(namespace))
	w := &ConfigWatcher{
		namespace: namespace,
		secrets:   secretFactory.Core().V1().Secrets().Informer(),
		changed:   make(chan struct{}, 1),
	}
	for _, k := range config.Kinds {
		w.kinds = append(w.kinds, newInformer(c.ForVersion(k.Version), k.Resource, namespace, k.New()))
	}
	notify := onAnyChange(func() {
		select {
		case w.changed <- struct{}{}:
		default: // a rebuild is already pending; it will see this change
		}
	})
	for _, inf := range w.informers() {
		if _, err := inf.AddEventHandler(notify); err != nil {
			slog.Error("registering configuration handler", "err", err)
		}
	}
	return w
}

func (w *ConfigWatcher) informers() []cache.SharedIndexInformer {
	return append(slices.Clone(w.kinds), w.secrets)
}

// Run starts the informers and sends a ConfigUpdate on updates after the
// initial sync and after every later change (changes arriving together are
// folded into one rebuild). It returns when ctx is done.
func (w *ConfigWatcher) Run(ctx context.Context, updates chan<- ConfigUpdate) error {
	var synced []cache.InformerSynced
	for _, inf := range w.informers() {
		go inf.Run(ctx.Done())
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("configuration informers did not sync: %w", ctx.Err())
	}
	for {
		res := w.resources()
		cfg, err := config.Build(res)
		select {
		case updates <- ConfigUpdate{Config: cfg, Err: err, Resources: res}:
		case <-ctx.Done():
			return nil
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// resources collects the current objects from the informers' caches.
func (w *ConfigWatcher) resources() config.Resources {
	secrets := map[string]*corev1.Secret{}
	for _, s := range listAs[corev1.Secret](w.secrets) {
		secrets[s.Namespace+"/"+s.Name] = &s
	}
	res := config.Resources{Secrets: secrets}
	for i, k := range config.Kinds {
		items := w.kinds[i].GetStore().List()
		objs := make([]config.Object, 0, len(items))
		for _, item := range items {
			if obj, ok := item.(config.Object); ok {
				objs = append(objs, obj)
			}
		}
		if err := k.SetObjects(&res, objs); err != nil {
			slog.Error("reading the configuration cache", "kind", k.Name, "err", err)
		}
	}
	return res
}
