package speaker

import (
	"slices"
	"strings"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ironlb/ironlb/internal/announce"
)

// serviceCache keeps the plan's view of every announced Service and
// translates again only the Services whose object or EndpointSlices changed
// since the last refresh, so that a change costs one translation instead of
// one per Service.
type serviceCache struct {
	mu    sync.Mutex
	dirty map[string]bool // keys changed since the last refresh

	// Owned by the caller of refresh.
	services map[string]announce.Service
	list     []announce.Service // services sorted by key
}

func newServiceCache() *serviceCache {
	return &serviceCache{dirty: map[string]bool{}, services: map[string]announce.Service{}}
}

// invalidate marks Services (by "namespace/name") as changed.
func (c *serviceCache) invalidate(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, key := range keys {
		c.dirty[key] = true
	}
}

// refresh translates the changed Services again (translate reports false
// for a Service that is gone or not announced) and returns every Service,
// sorted by key. The returned slice is shared until the next refresh.
func (c *serviceCache) refresh(translate func(key string) (announce.Service, bool)) []announce.Service {
	c.mu.Lock()
	dirty := c.dirty
	c.dirty = map[string]bool{}
	c.mu.Unlock()
	if len(dirty) == 0 && c.list != nil {
		return c.list
	}
	for key := range dirty {
		if svc, ok := translate(key); ok {
			c.services[key] = svc
		} else {
			delete(c.services, key)
		}
	}
	c.list = make([]announce.Service, 0, len(c.services))
	for _, svc := range c.services {
		c.list = append(c.list, svc)
	}
	slices.SortFunc(c.list, func(a, b announce.Service) int { return strings.Compare(a.Key, b.Key) })
	return c.list
}

// serviceKeysOf returns the key of the Service an informer object (a
// Service, an EndpointSlice, or the tombstone of either) belongs to.
func serviceKeysOf(obj any) []string {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if slice, ok := obj.(*discoveryv1.EndpointSlice); ok {
		keys, _ := indexByService(slice)
		return keys
	}
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return nil
	}
	return []string{key}
}
