package speaker

import (
	"maps"
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
	list     []announce.Service // services sorted by key, nil when stale
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
// for a Service that is gone or not announced) and returns, sorted, the keys
// whose translation changed: added, changed or gone. A Service written
// without a change that matters to the plan (an annotation, its first
// EndpointSlice before it has an address) changes nothing.
func (c *serviceCache) refresh(translate func(key string) (announce.Service, bool)) []string {
	c.mu.Lock()
	dirty := c.dirty
	c.dirty = map[string]bool{}
	c.mu.Unlock()
	var changed []string
	for key := range dirty {
		before, had := c.services[key]
		svc, has := translate(key)
		switch {
		case has && (!had || !sameService(before, svc)):
			c.services[key] = svc
			changed = append(changed, key)
		case !has && had:
			delete(c.services, key)
			changed = append(changed, key)
		}
	}
	if len(changed) > 0 {
		c.list = nil
	}
	slices.Sort(changed)
	return changed
}

// get returns the translation of one Service, false when it is not
// announced.
func (c *serviceCache) get(key string) (announce.Service, bool) {
	svc, ok := c.services[key]
	return svc, ok
}

// all returns every Service, sorted by key; the slice is shared until a
// refresh changes something.
func (c *serviceCache) all() []announce.Service {
	if c.list != nil {
		return c.list
	}
	c.list = make([]announce.Service, 0, len(c.services))
	for _, svc := range c.services {
		c.list = append(c.list, svc)
	}
	slices.SortFunc(c.list, func(a, b announce.Service) int { return strings.Compare(a.Key, b.Key) })
	return c.list
}

// sameService reports whether two translations of a Service are equal.
func sameService(a, b announce.Service) bool {
	return a.Key == b.Key && slices.Equal(a.IPs, b.IPs) && maps.Equal(a.Labels, b.Labels) &&
		a.LocalTrafficPolicy == b.LocalTrafficPolicy && maps.Equal(a.EndpointNodes, b.EndpointNodes) &&
		a.HasReadyEndpoint == b.HasReadyEndpoint && a.AllowsSharedIP == b.AllowsSharedIP
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
