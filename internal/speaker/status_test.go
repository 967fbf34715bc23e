package speaker

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOthersObjects(t *testing.T) {
	object := func(name, node string) metav1.PartialObjectMetadata {
		labels := map[string]string{LabelServiceName: "web", LabelServiceNamespace: "default"}
		if node != "" {
			labels[LabelNode] = node
		}
		return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	tests := []struct {
		name  string
		items []metav1.PartialObjectMetadata
		want  []string
	}{
		{"none", nil, nil},
		{"only ours", []metav1.PartialObjectMetadata{object("l2-a", "node1")}, nil},
		{"a dead owner's", []metav1.PartialObjectMetadata{object("l2-a", "node1"), object("l2-b", "node2")}, []string{"l2-b"}},
		{"several others", []metav1.PartialObjectMetadata{object("l2-b", "node2"), object("l2-c", "node3")}, []string{"l2-b", "l2-c"}},
		{"no node label", []metav1.PartialObjectMetadata{object("l2-x", "")}, []string{"l2-x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := othersObjects(tt.items, "node1"); !slices.Equal(got, tt.want) {
				t.Errorf("othersObjects = %v, want %v", got, tt.want)
			}
		})
	}
}
