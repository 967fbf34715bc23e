package speaker

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ironlb/ironlb/internal/announce"
)

func TestServiceCacheTranslatesOnlyWhatChanged(t *testing.T) {
	// world is what the informer caches hold: key → address, "" for a
	// Service that is not announced.
	world := map[string]string{"default/a": "192.0.2.1", "default/b": "192.0.2.2", "default/c": ""}
	var translated []string
	translate := func(key string) (announce.Service, bool) {
		translated = append(translated, key)
		ip, ok := world[key]
		if !ok || ip == "" {
			return announce.Service{}, false
		}
		return announce.Service{Key: key, IPs: []netip.Addr{netip.MustParseAddr(ip)}}, true
	}
	keys := func(list []announce.Service) []string {
		var out []string
		for _, svc := range list {
			out = append(out, svc.Key+"="+svc.IPs[0].String())
		}
		return out
	}
	c := newServiceCache()
	steps := []struct {
		name           string
		change         func()
		invalidate     []string
		wantTranslated []string
		want           []string
		wantChanged    []string
	}{
		{"first refresh: every informer add", nil, []string{"default/a", "default/b", "default/c"},
			[]string{"default/a", "default/b", "default/c"}, []string{"default/a=192.0.2.1", "default/b=192.0.2.2"}, []string{"default/a", "default/b"}},
		{"nothing changed", nil, nil, nil, []string{"default/a=192.0.2.1", "default/b=192.0.2.2"}, nil},
		{"written without a change that matters", nil, []string{"default/a", "default/c"},
			[]string{"default/a", "default/c"}, []string{"default/a=192.0.2.1", "default/b=192.0.2.2"}, nil},
		{"one Service changes", func() { world["default/b"] = "192.0.2.9" }, []string{"default/b"},
			[]string{"default/b"}, []string{"default/a=192.0.2.1", "default/b=192.0.2.9"}, []string{"default/b"}},
		{"one gets an address, one is deleted", func() { world["default/c"] = "192.0.2.3"; delete(world, "default/a") },
			[]string{"default/c", "default/a", "default/c"},
			[]string{"default/a", "default/c"}, []string{"default/b=192.0.2.9", "default/c=192.0.2.3"}, []string{"default/a", "default/c"}},
	}
	for _, step := range steps {
		if step.change != nil {
			step.change()
		}
		c.invalidate(step.invalidate...)
		translated = nil
		changed := c.refresh(translate)
		got := keys(c.all())
		slices.Sort(translated)
		if !slices.Equal(translated, step.wantTranslated) || !slices.Equal(got, step.want) || !slices.Equal(changed, step.wantChanged) {
			t.Errorf("%s: translated %v, services %v, changed %v; want %v, %v, %v",
				step.name, translated, got, changed, step.wantTranslated, step.want, step.wantChanged)
		}
	}
}

func TestSameService(t *testing.T) {
	base := func() announce.Service {
		return announce.Service{Key: "ns/a", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, Labels: map[string]string{"app": "a"},
			EndpointNodes: map[string]bool{"node1": true}, HasReadyEndpoint: true}
	}
	changes := map[string]func(*announce.Service){
		"addresses":           func(s *announce.Service) { s.IPs = append(s.IPs, netip.MustParseAddr("fd00::1")) },
		"labels":              func(s *announce.Service) { s.Labels = map[string]string{"app": "b"} },
		"traffic policy":      func(s *announce.Service) { s.LocalTrafficPolicy = true },
		"endpoint nodes":      func(s *announce.Service) { s.EndpointNodes = map[string]bool{"node2": true} },
		"has ready endpoints": func(s *announce.Service) { s.HasReadyEndpoint = false },
		"allows a shared IP":  func(s *announce.Service) { s.AllowsSharedIP = true },
	}
	if n := reflect.TypeFor[announce.Service]().NumField(); n != len(changes)+1 { // + the key
		t.Fatalf("announce.Service has %d fields: teach sameService and this test the new ones", n)
	}
	if !sameService(base(), base()) {
		t.Error("equal translations differ")
	}
	other := base()
	other.Key = "ns/b"
	if sameService(base(), other) {
		t.Error("a change of key went unnoticed")
	}
	for name, change := range changes {
		changed := base()
		change(&changed)
		if sameService(base(), changed) {
			t.Errorf("a change of %s went unnoticed", name)
		}
	}
}

func TestServiceKeysOf(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-abc",
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}}
	orphan := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orphan"}}
	tests := []struct {
		name string
		obj  any
		want []string
	}{
		{"Service", svc, []string{"ns/web"}},
		{"EndpointSlice", slice, []string{"ns/web"}},
		{"EndpointSlice of no Service", orphan, nil},
		{"tombstone of a Service", cache.DeletedFinalStateUnknown{Key: "ns/web", Obj: svc}, []string{"ns/web"}},
		{"tombstone of an EndpointSlice", cache.DeletedFinalStateUnknown{Key: "ns/web-abc", Obj: slice}, []string{"ns/web"}},
	}
	for _, tt := range tests {
		if got := serviceKeysOf(tt.obj); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
