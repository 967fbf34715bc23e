package k8s

import (
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
