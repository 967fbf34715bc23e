package manifests

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/ironlb/ironlb/internal/k8s"
)

// grants expands permissions into one line per scope, group, resource, name
// and verb.
func grants(perms []k8s.Permission) []string {
	var out []string
	for _, p := range perms {
		rule := rbacv1.PolicyRule{APIGroups: []string{p.Group}, Resources: p.Resources, ResourceNames: p.Names, Verbs: p.Verbs}
		out = append(out, expand(p.Namespaced, rule)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func expand(namespaced bool, r rbacv1.PolicyRule) []string {
	scope := "cluster"
	if namespaced {
		scope = "metallb-system"
	}
	names := r.ResourceNames
	if len(names) == 0 {
		names = []string{"*"}
	}
	var out []string
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			for _, n := range names {
				for _, v := range r.Verbs {
					out = append(out, fmt.Sprintf("%s %s/%s %s %s", scope, g, res, n, v))
				}
			}
		}
	}
	return out
}

// The manifests grant each component exactly the permissions its code
// declares in internal/k8s/permissions.go: nothing unused is granted.
func TestRBACIsWhatTheCodeDeclares(t *testing.T) {
	granted := map[string][]string{}
	for _, obj := range decodeAll(t) {
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			for _, r := range o.Rules {
				granted[o.Name] = append(granted[o.Name], expand(false, r)...)
			}
		case *rbacv1.Role:
			if o.Namespace != "metallb-system" {
				t.Errorf("Role %s/%s outside metallb-system", o.Namespace, o.Name)
			}
			for _, r := range o.Rules {
				granted[o.Name] = append(granted[o.Name], expand(true, r)...)
			}
		}
	}
	for _, c := range []struct {
		name     string
		roles    []string
		declared []k8s.Permission
	}{
		{"controller", []string{"metallb-system:controller", "controller"}, k8s.ControllerPermissions},
		{"speaker", []string{"metallb-system:speaker", "speaker"}, k8s.SpeakerPermissions},
	} {
		var got []string
		for _, role := range c.roles {
			got = append(got, granted[role]...)
		}
		slices.Sort(got)
		want := grants(c.declared)
		if !slices.Equal(got, want) {
			t.Errorf("%s: granted but not declared:\n  %s\ndeclared but not granted:\n  %s", c.name,
				strings.Join(minus(got, want), "\n  "), strings.Join(minus(want, got), "\n  "))
		}
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
