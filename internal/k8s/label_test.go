package k8s

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("worker-", 10) + "1.rack-12.datacenter-west.example.com" // 107 characters
	tests := []struct {
		name, in string
		same     bool // returned unchanged
	}{
		{"short node name", "node-1", true},
		{"63 characters", strings.Repeat("a", 63), true},
		{"empty", "", true},
		{"64 characters", strings.Repeat("a", 64), false},
		{"a long FQDN node name", long, false},
		{"253 characters", strings.Repeat("n.", 126) + "x", false},
		{"no usable character", strings.Repeat("/", 70), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LabelValue(tt.in)
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Fatalf("LabelValue(%q) = %q, not a label value: %v", tt.in, got, errs)
			}
			if (got == tt.in) != tt.same {
				t.Errorf("LabelValue(%q) = %q, unchanged: %v, want %v", tt.in, got, got == tt.in, tt.same)
			}
			if got != LabelValue(tt.in) {
				t.Errorf("LabelValue(%q) is not stable", tt.in)
			}
		})
	}
	if a, b := LabelValue(long+"a"), LabelValue(long+"b"); a == b {
		t.Errorf("two long names differing at the end share the label value %q", a)
	}
	if got := LabelValue(long); !strings.HasPrefix(got, long[:40]) {
		t.Errorf("LabelValue(%q) = %q, want the name's beginning kept for people reading it", long, got)
	}
}
