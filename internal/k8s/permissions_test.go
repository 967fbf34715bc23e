package k8s

import (
	"slices"
	"testing"
)

func TestUnusedGrants(t *testing.T) {
	perms := []Permission{
		{Resources: []string{"services", "nodes"}, Verbs: []string{"list", "watch"}},
		{Resources: []string{"services/status"}, Verbs: []string{"patch"}},
		{Namespaced: true, Group: "coordination.k8s.io", Resources: []string{"leases"}, Names: []string{"ironlb-controller"}, Verbs: []string{"get", "update"}},
		{Group: "authentication.k8s.io", Resources: []string{"tokenreviews"}, Verbs: []string{"create"}, Rare: "TestX"},
	}
	used := []Request{
		{Resource: "services", Verb: "watch"}, // a watch-list: counts as list too
		{Resource: "nodes", Verb: "list"},
		{Namespace: "default", Resource: "services/status", Verb: "patch"},
		{Namespace: "metallb-system", Group: "coordination.k8s.io", Resource: "leases", Name: "other", Verb: "get"},
		{Namespace: "metallb-system", Group: "coordination.k8s.io", Resource: "leases", Name: "ironlb-controller", Verb: "update"},
		{Resource: "services", Verb: "patch"}, // not granted: ignored here
	}
	got := UnusedGrants(perms, used)
	want := []UnusedGrant{{Grant: "/nodes watch"}, {Grant: "coordination.k8s.io/leases get [ironlb-controller]"},
		{Grant: "authentication.k8s.io/tokenreviews create", Rare: "TestX"}}
	if !slices.Equal(got, want) {
		t.Errorf("UnusedGrants = %q, want %q", got, want)
	}
	if got := UnusedGrants(perms, nil); len(got) != 8 {
		t.Errorf("with no request, %d unused grants, want 8: %q", len(got), got)
	}
}
