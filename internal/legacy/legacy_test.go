package legacy

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/config"
)

// roundTrip converts a legacy file, renders the objects as YAML, decodes them
// again as a user's `kubectl apply -f` would and builds the configuration.
func roundTrip(t *testing.T, file string) (*config.Config, string) {
	t.Helper()
	input, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(input, "default-ns")
	if err != nil {
		t.Fatalf("converting: %v", err)
	}
	out, err := MarshalYAML(res)
	if err != nil {
		t.Fatal(err)
	}
	var decoded config.Resources
	skipped, err := config.DecodeYAML(bytes.NewReader(out), "converted", &decoded)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("converted YAML does not decode (skipped %v): %v\n%s", skipped, err, out)
	}
	cfg, err := config.Build(decoded)
	if err != nil {
		return nil, string(out) + "\nerrors:\n" + err.Error()
	}
	return cfg, string(out)
}

func TestSeedKindLayer2ConfigMap(t *testing.T) {
	cfg, out := roundTrip(t, "testdata/seed-001-kind-layer2.yaml")
	if cfg == nil {
		t.Fatalf("converted config refused:\n%s", out)
	}
	pool := cfg.Pools["default"]
	if pool == nil || len(pool.Ranges) != 1 || pool.Ranges[0].String() != "172.19.255.1-172.19.255.250" || !pool.AutoAssign {
		t.Fatalf("pool default = %+v\n%s", pool, out)
	}
	if len(cfg.L2Advertisements) != 1 || cfg.L2Advertisements[0].Pools[0] != "default" {
		t.Fatalf("L2 advertisements = %+v\n%s", cfg.L2Advertisements, out)
	}
	if !strings.Contains(out, "namespace: metallb-system") || strings.Contains(out, "status") || strings.Contains(out, "creationTimestamp") {
		t.Errorf("output should keep the ConfigMap's namespace and carry no status:\n%s", out)
	}
}

func TestMetalLB012BGPConfigMap(t *testing.T) {
	input, err := os.ReadFile("testdata/metallb-0.12-bgp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(input, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Build(res)
	if err != nil {
		t.Fatalf("converted config refused: %v", err)
	}
	if got := len(cfg.Peers); got != 2 {
		t.Fatalf("peers = %d, want 2", got)
	}
	first := cfg.Peers["peer1"]
	if first.Password != "yourPassword" || first.HoldTime.String() != "2m0s" || first.KeepaliveTime.String() != "40s" || first.RouterID.String() != "10.0.0.10" {
		t.Errorf("peer1 = %+v", first)
	}
	if !first.NodeSelectors.Matches(map[string]string{"rack": "frontend"}) || first.NodeSelectors.Matches(map[string]string{"rack": "frontend", "network-speed": "slow"}) {
		t.Error("peer1 node selectors do not follow match-labels + match-expressions")
	}
	second := cfg.Peers["peer2"]
	if second.Port != 1179 || !second.EBGPMultiHop || second.SourceAddress.String() != "10.0.0.11" {
		t.Errorf("peer2 = %+v", second)
	}
	if cfg.Pools["expensive"].AutoAssign || !cfg.Pools["default"].AvoidBuggyIPs {
		t.Error("auto-assign / avoid-buggy-ips were not carried over")
	}
	var names []string
	for _, adv := range cfg.BGPAdvertisements {
		names = append(names, adv.Name)
		if adv.Name == "bgpadv-1-default" {
			if adv.LocalPref != 100 || len(adv.Communities) != 1 || adv.Communities[0].String() != "65535:65282" {
				t.Errorf("bgpadv-1-default = %+v, want localPref 100 and the no-advertise community", adv)
			}
		}
		if adv.Name == "bgpadv-2-default" && adv.AggregationLength != 24 {
			t.Errorf("bgpadv-2-default aggregation = %d, want 24", adv.AggregationLength)
		}
	}
	if got := strings.Join(names, ","); got != "bgpadv-1-default,bgpadv-1-expensive,bgpadv-2-default" {
		t.Errorf("BGP advertisements = %s", got)
	}
	if len(cfg.L2Advertisements) != 1 || cfg.L2Advertisements[0].Pools[0] != "v6" {
		t.Errorf("L2 advertisements = %+v, want one for pool v6", cfg.L2Advertisements)
	}
	if p := cfg.BFDProfiles["full1"]; p == nil || p.ReceiveInterval.Milliseconds() != 179 || p.MinimumTTL != 254 {
		t.Errorf("BFD profile full1 = %+v", p)
	}
}

func TestConvertErrors(t *testing.T) {
	cases := map[string]string{
		"unknown protocol":  "address-pools:\n- name: a\n  protocol: ospf\n  addresses: [10.0.0.0/24]\n",
		"unknown field":     "address-pools:\n- name: a\n  protocol: layer2\n  adresses: [10.0.0.0/24]\n",
		"pool without name": "address-pools:\n- protocol: layer2\n  addresses: [10.0.0.0/24]\n",
		"bad hold time":     "peers:\n- peer-address: 10.0.0.1\n  peer-asn: 1\n  my-asn: 2\n  hold-time: soon\n",
		"no config key":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata: {other: x}\n",
	}
	want := map[string]string{
		"unknown protocol":  `address-pools[0] (a): protocol "ospf": want layer2 or bgp`,
		"unknown field":     `unknown field "adresses"`,
		"pool without name": `address-pools[0]: name is required`,
		"bad hold time":     `peers[0].hold-time: time: invalid duration "soon"`,
		"no config key":     `ConfigMap /config has no "config" key`,
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Convert([]byte(input), "metallb-system")
			if err == nil || !strings.Contains(err.Error(), want[name]) {
				t.Fatalf("err = %v, want it to contain %q", err, want[name])
			}
		})
	}
}
