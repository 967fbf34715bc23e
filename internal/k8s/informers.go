package k8s

import (
	"maps"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// newInformer returns an informer over one resource of a REST client, in one
// namespace ("" for all), decoding into objects like example.
func newInformer(client rest.Interface, resource, namespace string, example runtime.Object) cache.SharedIndexInformer {
	lw := cache.NewListWatchFromClient(client, resource, namespace, fields.Everything())
	return cache.NewSharedIndexInformer(lw, example, 0, cache.Indexers{})
}

// listAs returns the objects of an informer's store as values of type T.
func listAs[T any](informer cache.SharedIndexInformer) []T {
	items := informer.GetStore().List()
	out := make([]T, 0, len(items))
	for _, item := range items {
		if obj, ok := item.(*T); ok {
			out = append(out, *obj)
		}
	}
	return out
}

// onAnyChange returns handlers that call notify on every add, update and
// delete.
func onAnyChange(notify func()) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
}

// lastAppliedAnnotation is where kubectl apply keeps a copy of the object.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// TrimForCache is an informer transform that drops what a watcher of
// Services, EndpointSlices or Nodes never reads but would keep in memory
// for every object: managed fields and kubectl's last-applied copy.
func TrimForCache(obj any) (any, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil // a tombstone: its object was trimmed when it was added
	}
	m.SetManagedFields(nil)
	if annotations := m.GetAnnotations(); annotations[lastAppliedAnnotation] != "" {
		trimmed := maps.Clone(annotations)
		delete(trimmed, lastAppliedAnnotation)
		m.SetAnnotations(trimmed)
	}
	return obj, nil
}
