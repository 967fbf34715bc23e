package k8s

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestTrimForCache(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Name: "web",
		Annotations: map[string]string{
			"metallb.io/address-pool": "bgp",
			lastAppliedAnnotation:     `{"apiVersion":"v1","kind":"Service"}`,
		},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
	}}
	obj, err := TrimForCache(svc)
	if err != nil || obj != svc {
		t.Fatalf("TrimForCache() = %v, %v; want the same object", obj, err)
	}
	if svc.ManagedFields != nil || !maps.Equal(svc.Annotations, map[string]string{"metallb.io/address-pool": "bgp"}) {
		t.Errorf("trimmed Service: managed fields %v, annotations %v", svc.ManagedFields, svc.Annotations)
	}
	plain := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Annotations: map[string]string{"a": "b"}}}
	if _, err := TrimForCache(plain); err != nil || !maps.Equal(plain.Annotations, map[string]string{"a": "b"}) {
		t.Errorf("a Node without either: %v, %v", plain.Annotations, err)
	}
	tombstone := cache.DeletedFinalStateUnknown{Key: "default/web", Obj: svc}
	if obj, err := TrimForCache(tombstone); err != nil || obj != any(tombstone) {
		t.Errorf("tombstone: %v, %v; want it unchanged", obj, err)
	}
}
