package uninstall

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestLeftovers(t *testing.T) {
	named := []string{"secrets/memberlist", "secrets/webhook-server-cert", "leases.coordination.k8s.io/ironlb-controller"}
	tests := []struct {
		name  string
		found map[schema.GroupVersionResource][]string
		want  []string
	}{
		{"nothing found: the named state only", nil, named},
		{"every object of the state kinds, sorted", map[schema.GroupVersionResource][]string{
			ConfigurationStates: {"speaker-node2", "controller", "speaker-node1"},
			ServiceL2Statuses:   {"l2-web-x"},
			ServiceBGPStatuses:  {"bgp-web-b", "bgp-web-a"},
		}, append(slices.Clone(named),
			"configurationstates.metallb.io/controller", "configurationstates.metallb.io/speaker-node1", "configurationstates.metallb.io/speaker-node2",
			"servicel2statuses.metallb.io/l2-web-x",
			"servicebgpstatuses.metallb.io/bgp-web-a", "servicebgpstatuses.metallb.io/bgp-web-b")},
		{"the user's objects are never leftovers", map[schema.GroupVersionResource][]string{
			Secrets: {"bgp-password", "my-memberlist-key"},
			{Group: "metallb.io", Version: "v1beta1", Resource: "ipaddresspools"}: {"default"},
		}, named},
		{"a name listed twice is deleted once", map[schema.GroupVersionResource][]string{
			ServiceL2Statuses: {"l2-a", "l2-a"},
		}, append(slices.Clone(named), "servicel2statuses.metallb.io/l2-a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, o := range Leftovers(tt.found) {
				got = append(got, o.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Leftovers = %q, want %q", got, tt.want)
			}
		})
	}
}
