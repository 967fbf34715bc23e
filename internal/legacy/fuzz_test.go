package legacy

import (
	"bytes"
	"os"
	"testing"

	"github.com/ironlb/ironlb/internal/config"
)

// FuzzConvert feeds arbitrary text to the legacy ConfigMap converter: it
// never panics, and whatever it converts renders as YAML that decodes back
// into the same number of objects.
func FuzzConvert(f *testing.F) {
	for _, file := range []string{"testdata/seed-001-kind-layer2.yaml", "testdata/metallb-0.12-bgp.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("address-pools:\n- name: a\n  protocol: layer2\n  addresses: [10.0.0.0/24, 10.1.0.1-10.1.0.9]\n"))
	f.Add([]byte("peers:\n- peer-address: 10.0.0.1\n  peer-asn: 64500\n  my-asn: 64501\n  hold-time: 3s\n  node-selectors: [{match-expressions: [{key: k, operator: in, values: [v]}]}]\n"))
	f.Add([]byte("bgp-communities: {x: 65535:65282}\naddress-pools: [{name: b, protocol: bgp, addresses: [fd00::/64], bgp-advertisements: [{communities: [x], aggregation-length: 32}]}]\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		res, err := Convert(input, "metallb-system")
		if err != nil {
			return
		}
		out, err := MarshalYAML(res)
		if err != nil {
			t.Fatalf("converted objects do not render: %v", err)
		}
		var decoded config.Resources
		skipped, err := config.DecodeYAML(bytes.NewReader(out), "converted", &decoded)
		if err != nil || len(skipped) > 0 {
			t.Fatalf("rendered YAML does not decode (skipped %v): %v\n%s", skipped, err, out)
		}
		if count(decoded) != count(res) {
			t.Fatalf("%d objects converted, %d decoded back:\n%s", count(res), count(decoded), out)
		}
	})
}

func count(r config.Resources) int {
	return len(r.Pools) + len(r.L2Advertisements) + len(r.BGPAdvertisements) + len(r.Peers) +
		len(r.Communities) + len(r.BFDProfiles)
}
