package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// buildYAML decodes documents and builds a Config from them.
func buildYAML(t *testing.T, docs string) (*Config, error) {
	t.Helper()
	var res Resources
	if _, err := DecodeYAML(strings.NewReader(docs), "test", &res); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return Build(res)
}

func TestValidExamplesBuild(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var res Resources
			skipped, err := DecodeYAML(f, file, &res)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if len(skipped) > 0 {
				t.Errorf("skipped objects %v: every object of the examples should be understood", skipped)
			}
			if _, err := Build(res); err != nil {
				t.Fatalf("valid example refused:\n%v", err)
			}
		})
	}
}

func TestSeedLayer2ExampleResolves(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/seed-003-layer2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := buildYAML(t, string(data))
	if err != nil {
		t.Fatal(err)
	}
	pool := cfg.Pools["first-pool"]
	if pool == nil || !pool.AutoAssign || pool.AvoidBuggyIPs {
		t.Fatalf("pool = %+v, want first-pool with autoAssign and without avoidBuggyIPs", pool)
	}
	wantRanges := []string{"192.168.200.0-192.168.200.255", "192.168.201.1-192.168.201.250"}
	if len(pool.Ranges) != len(wantRanges) {
		t.Fatalf("ranges = %v, want %v", pool.Ranges, wantRanges)
	}
	for i, r := range pool.Ranges {
		if r.String() != wantRanges[i] {
			t.Errorf("range %d = %s, want %s", i, r, wantRanges[i])
		}
	}
	if !pool.Contains(netip.MustParseAddr("192.168.201.250")) || pool.Contains(netip.MustParseAddr("192.168.201.251")) {
		t.Error("Contains disagrees with the range 192.168.201.1-192.168.201.250")
	}
	if len(cfg.L2Advertisements) != 1 || strings.Join(cfg.L2Advertisements[0].Pools, ",") != "first-pool" {
		t.Fatalf("L2 advertisements = %+v, want one announcing first-pool", cfg.L2Advertisements)
	}
}

func TestBGPExampleResolves(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/metallb-docs-bgp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := buildYAML(t, string(data))
	if err != nil {
		t.Fatal(err)
	}
	tuned := cfg.Peers["tuned"]
	if tuned.Password != "s3cr3t" {
		t.Errorf("password from Secret = %q, want s3cr3t", tuned.Password)
	}
	if tuned.HoldTime != 9*time.Second || tuned.KeepaliveTime != 3*time.Second || tuned.ConnectTime != 5*time.Second {
		t.Errorf("timers = %s/%s/%s, want 9s/3s/5s", tuned.HoldTime, tuned.KeepaliveTime, tuned.ConnectTime)
	}
	if !tuned.IsInternal() || tuned.Port != 180 || !tuned.GracefulRestart {
		t.Errorf("tuned = %+v, want iBGP on port 180 with graceful restart", tuned)
	}
	if !tuned.NodeSelectors.Matches(labels.Set{"rack": "frontend"}) || tuned.NodeSelectors.Matches(labels.Set{"rack": "frontend", "network-speed": "slow"}) {
		t.Error("node selector of tuned does not follow matchLabels + matchExpressions")
	}
	sample := cfg.Peers["sample"]
	if sample.HoldTime != DefaultHoldTime || sample.KeepaliveTime != DefaultHoldTime/3 || sample.Port != DefaultPeerPort || sample.IsInternal() {
		t.Errorf("sample = %+v, want eBGP with default timers and port", sample)
	}
	var local *BGPAdvertisement
	for _, adv := range cfg.BGPAdvertisements {
		if adv.Name == "local" {
			local = adv
		}
	}
	if local == nil {
		t.Fatal("BGPAdvertisement local missing")
	}
	var communities []string
	for _, c := range local.Communities {
		communities = append(communities, c.String())
	}
	if got := strings.Join(communities, " "); got != "65535:65282 65535:65282 large:64500:1:2" {
		t.Errorf("communities = %s, want the literal, the resolved alias and the large community", got)
	}
	if local.AggregationLength != 32 || local.AggregationLengthV6 != 128 || local.LocalPref != 100 {
		t.Errorf("local = %+v, want aggregation 32/128 and localPref 100", local)
	}
}

func TestBigPoolsAreNotEnumerated(t *testing.T) {
	// A /8 of IPv4 and a /16 of IPv6 (2^112 addresses) build like any pool.
	cfg, err := buildYAML(t, `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: huge, namespace: metallb-system}
spec:
  addresses: [10.0.0.0/8, "fd00::/16", "fe00::1-fe00::ffff:ffff:ffff:ffff"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(cfg.Pools["huge"].Ranges); got != 3 {
		t.Fatalf("ranges = %d, want 3", got)
	}
}

// pool returns an IPAddressPool document.
func pool(name string, addresses ...string) string {
	return "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: " + name +
		", namespace: metallb-system}\nspec:\n  addresses: [\"" + strings.Join(addresses, "\", \"") + "\"]\n---\n"
}

func TestRejections(t *testing.T) {
	peer := func(name, spec string) string {
		return "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: " + name +
			", namespace: metallb-system}\nspec: " + spec + "\n---\n"
	}
	bgpAdv := func(name, spec string) string {
		return "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: " + name +
			", namespace: metallb-system}\nspec: " + spec + "\n---\n"
	}
	l2Adv := func(name, spec string) string {
		return "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: " + name +
			", namespace: metallb-system}\nspec: " + spec + "\n---\n"
	}
	cases := []struct {
		name string
		docs string
		// want holds every error expected, each as a prefix of its text.
		want []string
	}{
		{"malformed CIDR", pool("p", "10.0.0.0/33"),
			[]string{`IPAddressPool metallb-system/p: spec.addresses[0]: invalid CIDR "10.0.0.0/33"`}},
		{"not an address", pool("p", "ten-dot-zero"),
			[]string{`IPAddressPool metallb-system/p: spec.addresses[0]: invalid range "ten-dot-zero": start: "ten" is not an IP address`}},
		{"range mixing families", pool("p", "10.0.0.1-fd00::1"),
			[]string{`IPAddressPool metallb-system/p: spec.addresses[0]: invalid range "10.0.0.1-fd00::1": start and end are of different IP families`}},
		{"range start after end", pool("p", "10.0.0.9-10.0.0.1"),
			[]string{`IPAddressPool metallb-system/p: spec.addresses[0]: invalid range "10.0.0.9-10.0.0.1": start is after end`}},
		{"no addresses", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: []}\n",
			[]string{`IPAddressPool metallb-system/p: spec.addresses: at least one CIDR or range is required`}},
		{"overlapping pools", pool("a", "10.0.0.0/24") + pool("b", "10.0.0.200-10.0.1.10"),
			[]string{`IPAddressPool metallb-system/b: spec.addresses[0]: 10.0.0.200-10.0.1.10 overlaps 10.0.0.0-10.0.0.255 of IPAddressPool a (spec.addresses[0])`}},
		{"overlap inside one pool", pool("a", "fd00::/120", "fd00::10-fd00::20"),
			[]string{`IPAddressPool metallb-system/a: spec.addresses[1]: fd00::10-fd00::20 overlaps fd00::-fd00::ff of IPAddressPool a (spec.addresses[0])`}},
		{"duplicate pool name", pool("a", "10.0.0.0/24") + pool("a", "10.0.1.0/24"),
			[]string{`IPAddressPool metallb-system/a: metadata.name: another IPAddressPool has the same name`}},
		{"negative priority", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [10.0.0.0/24], serviceAllocation: {priority: -1}}\n",
			[]string{`IPAddressPool metallb-system/p: spec.serviceAllocation.priority: must not be negative, got -1`}},
		{"bad namespace selector", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [10.0.0.0/24], serviceAllocation: {namespaceSelectors: [{matchExpressions: [{key: a, operator: Sometimes}]}]}}\n",
			[]string{`IPAddressPool metallb-system/p: spec.serviceAllocation.namespaceSelectors[0]: invalid label selector`}},
		{"L2 advertisement names unknown pool", pool("a", "10.0.0.0/24") + l2Adv("l2", "{ipAddressPools: [a, nope]}"),
			[]string{`L2Advertisement metallb-system/l2: spec.ipAddressPools[1]: unknown IPAddressPool "nope"`}},
		{"bad interface name", pool("a", "10.0.0.0/24") + l2Adv("l2", "{interfaces: [eth0, \"a/b\", waytoolonginterfacename]}"),
			[]string{
				`L2Advertisement metallb-system/l2: spec.interfaces[1]: interface name "a/b" contains`,
				`L2Advertisement metallb-system/l2: spec.interfaces[2]: interface name "waytoolonginterfacename" is longer than 15 characters`,
			}},
		{"preferred node weight", pool("a", "10.0.0.0/24") + l2Adv("l2", "{preferredNodeSelectors: [{weight: 101, preference: {matchLabels: {a: b}}}]}"),
			[]string{`L2Advertisement metallb-system/l2: spec.preferredNodeSelectors[0].weight: must be between 1 and 100, got 101`}},
		{"BGP advertisement names unknown pool", bgpAdv("adv", "{ipAddressPools: [ghost]}"),
			[]string{`BGPAdvertisement metallb-system/adv: spec.ipAddressPools[0]: unknown IPAddressPool "ghost"`}},
		{"aggregation shorter than pool prefix", pool("a", "10.0.0.0/24") + bgpAdv("adv", "{aggregationLength: 16}"),
			[]string{`BGPAdvertisement metallb-system/adv: spec.aggregationLength: 16 is shorter than /24, the shortest prefix of 10.0.0.0-10.0.0.255 in IPAddressPool a`}},
		{"aggregation of a range", pool("a", "10.0.0.1-10.0.0.4") + bgpAdv("adv", "{aggregationLength: 30}"),
			[]string{`BGPAdvertisement metallb-system/adv: spec.aggregationLength: 30 is shorter than /31`}},
		{"IPv6 aggregation", pool("a", "fd00::/64") + bgpAdv("adv", "{aggregationLengthV6: 48}"),
			[]string{`BGPAdvertisement metallb-system/adv: spec.aggregationLengthV6: 48 is shorter than /64`}},
		{"aggregation out of bounds", pool("a", "10.0.0.0/24") + bgpAdv("adv", "{aggregationLength: 33}"),
			[]string{`BGPAdvertisement metallb-system/adv: spec.aggregationLength: must be between 0 and 32, got 33`}},
		{"unknown community alias", bgpAdv("adv", "{communities: [NO_EXPORT_PLEASE]}"),
			[]string{`BGPAdvertisement metallb-system/adv: spec.communities[0]: unknown Community alias "NO_EXPORT_PLEASE"`}},
		{"invalid community literal", bgpAdv("adv", "{communities: [\"65536:1\", \"large:1:2\"]}"),
			[]string{
				`BGPAdvertisement metallb-system/adv: spec.communities[0]: invalid community "65536:1": "65536" is not a 16-bit number`,
				`BGPAdvertisement metallb-system/adv: spec.communities[1]: invalid large community "large:1:2"`,
			}},
		{"invalid community alias value", "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c, namespace: metallb-system}\nspec: {communities: [{name: x, value: \"1:2:3\"}, {name: \"\", value: \"1:2\"}]}\n",
			[]string{
				`Community metallb-system/c: spec.communities[0].value: invalid community "1:2:3"`,
				`Community metallb-system/c: spec.communities[1].name: alias name is required`,
			}},
		{"BGP advertisement names unknown peer", bgpAdv("adv", "{peers: [router-9]}"),
			[]string{`BGPAdvertisement metallb-system/adv: spec.peers[0]: unknown BGPPeer "router-9"`}},
		{"invalid ASNs", peer("p", "{myASN: 0, peerASN: 23456, peerAddress: 10.0.0.1}"),
			[]string{
				`BGPPeer metallb-system/p: spec.myASN: an AS number between 1 and 4294967295 is required`,
				`BGPPeer metallb-system/p: spec.peerASN: AS 23456 is AS_TRANS`,
			}},
		{"peer ASN missing", peer("p", "{myASN: 64500, peerAddress: 10.0.0.1}"),
			[]string{`BGPPeer metallb-system/p: spec.peerASN: an AS number between 1 and 4294967295 is required`}},
		{"peerASN with dynamicASN", peer("p", "{myASN: 64500, peerASN: 64501, dynamicASN: internal, peerAddress: 10.0.0.1}"),
			[]string{`BGPPeer metallb-system/p: spec.dynamicASN: peerASN and dynamicASN are mutually exclusive`}},
		{"peer address malformed", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.256}"),
			[]string{`BGPPeer metallb-system/p: spec.peerAddress: "10.0.0.256" is not an IP address`}},
		{"source address of other family", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, sourceAddress: \"fd00::1\"}"),
			[]string{`BGPPeer metallb-system/p: spec.sourceAddress: fd00::1 and peerAddress 10.0.0.1 are of different IP families`}},
		{"router ID not IPv4", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, routerID: \"fd00::1\"}"),
			[]string{`BGPPeer metallb-system/p: spec.routerID: "fd00::1" is not an IPv4 address`}},
		{"keepalive longer than hold", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, holdTime: 9s, keepaliveTime: 10s}"),
			[]string{`BGPPeer metallb-system/p: spec.keepaliveTime: 10s is longer than holdTime 9s`}},
		{"hold time too short", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, holdTime: 2s}"),
			[]string{`BGPPeer metallb-system/p: spec.holdTime: must be 0 or between 3s and 65535s, got 2s`}},
		{"connect time too short", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, connectTime: 10ms}"),
			[]string{`BGPPeer metallb-system/p: spec.connectTime: must be between 1s and 65535s, got 10ms`}},
		{"duplicate peers", peer("a", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1}") + peer("b", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1}"),
			[]string{`BGPPeer metallb-system/b: spec.peerAddress: BGPPeer a already peers with 10.0.0.1 port 179 from the same nodes: one session per node and endpoint; give each BGPPeer its own nodeSelectors`}},
		{"duplicate peers, one on every node", peer("a", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1}") +
			peer("b", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, nodeSelectors: [{matchLabels: {rack: b}}]}"),
			[]string{`BGPPeer metallb-system/b: spec.peerAddress: BGPPeer a already peers with 10.0.0.1 port 179 from the same nodes`}},
		{"duplicate peers, same selectors in another order", peer("a", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, nodeSelectors: [{matchLabels: {rack: a, zone: z}}, {matchLabels: {rack: b}}]}") +
			peer("b", "{myASN: 64500, peerASN: 64502, peerAddress: 10.0.0.1, nodeSelectors: [{matchLabels: {rack: b}}, {matchLabels: {zone: z, rack: a}}]}"),
			[]string{`BGPPeer metallb-system/b: spec.peerAddress: BGPPeer a already peers with 10.0.0.1 port 179 from the same nodes: one session per node and endpoint; give each BGPPeer its own nodeSelectors`}},
		{"password and secret", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, password: x, passwordSecret: {name: s}}"),
			[]string{`BGPPeer metallb-system/p: spec.passwordSecret: password and passwordSecret are mutually exclusive`}},
		{"password secret missing", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, passwordSecret: {name: s}}"),
			[]string{`BGPPeer metallb-system/p: spec.passwordSecret: Secret metallb-system/s not found`}},
		{"password secret in another namespace", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, passwordSecret: {name: s, namespace: other}}") +
			"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: other}\ntype: kubernetes.io/basic-auth\nstringData: {password: x}\n",
			[]string{`BGPPeer metallb-system/p: spec.passwordSecret.namespace: Secret other/s is in another namespace: it must be in the BGPPeer's namespace metallb-system, the only one whose Secrets the speakers read`}},
		{"password secret with an empty password", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, passwordSecret: {name: s}}") +
			"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: metallb-system}\ntype: kubernetes.io/basic-auth\nstringData: {password: \"\"}\n",
			[]string{`BGPPeer metallb-system/p: spec.passwordSecret: Secret metallb-system/s has an empty "password": TCP-MD5 would be silently off; remove passwordSecret to peer without a password`}},
		{"password secret of wrong type", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, passwordSecret: {name: s}}") +
			"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: metallb-system}\nstringData: {password: x}\n",
			[]string{`BGPPeer metallb-system/p: spec.passwordSecret: Secret metallb-system/s has type "", want kubernetes.io/basic-auth`}},
		{"unknown BFD profile", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, bfdProfile: fast}"),
			[]string{`BGPPeer metallb-system/p: spec.bfdProfile: unknown BFDProfile "fast"`}},
		{"multi-hop BFD", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, ebgpMultiHop: true, bfdProfile: fast}") +
			"apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast, namespace: metallb-system}\n",
			[]string{`BGPPeer metallb-system/p: spec.bfdProfile: multi-hop BFD (RFC 5883) is not supported: the speaker's BFD is single hop only (RFC 5881, TTL 255 required); remove bfdProfile or ebgpMultiHop`}},
		{"BFD echo function", "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: e, namespace: metallb-system}\nspec: {echoMode: true, echoInterval: 50}\n",
			[]string{`BFDProfile metallb-system/e: spec.echoMode: the BFD echo function is not supported: remove echoMode`}},
		{"VRF not supported", peer("p", "{myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, vrf: red}"),
			[]string{`BGPPeer metallb-system/p: spec.vrf: VRFs are not supported: the speaker opens every session in the node's default VRF`}},
		{"neither peerAddress nor interface", peer("p", "{myASN: 64500, peerASN: 64501}"),
			[]string{`BGPPeer metallb-system/p: spec.peerAddress: peerAddress or interface is required`}},
		{"interface with peerAddress", peer("p", "{myASN: 64500, peerASN: 64501, interface: eth0, peerAddress: 10.0.0.1}"),
			[]string{`BGPPeer metallb-system/p: spec.interface: peerAddress and interface are mutually exclusive`}},
		{"interface not a name", peer("p", "{myASN: 64500, peerASN: 64501, interface: \"eth0/1\"}"),
			[]string{`BGPPeer metallb-system/p: spec.interface: interface name "eth0/1" contains '/'`}},
		{"unnumbered with sourceAddress", peer("p", "{myASN: 64500, peerASN: 64501, interface: eth0, sourceAddress: \"fd00::1\"}"),
			[]string{`BGPPeer metallb-system/p: spec.sourceAddress: an unnumbered session (interface eth0) is dialled from that interface's IPv6 link-local address: remove sourceAddress`}},
		{"unnumbered with BFD", peer("p", "{myASN: 64500, peerASN: 64501, interface: eth0, bfdProfile: fast}") +
			"apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast, namespace: metallb-system}\n",
			[]string{`BGPPeer metallb-system/p: spec.bfdProfile: BFD on unnumbered sessions (spec.interface) is not supported yet`}},
		{"two unnumbered peers on one interface", peer("a", "{myASN: 64500, peerASN: 64501, interface: eth1}") + peer("b", "{myASN: 64500, peerASN: 64502, interface: eth1}"),
			[]string{`BGPPeer metallb-system/b: spec.interface: BGPPeer a already peers with interface eth1 port 179 from the same nodes`}},
		{"BFD profile bounds", "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: b, namespace: metallb-system}\nspec: {receiveInterval: 5, detectMultiplier: 1, minimumTtl: 255, echoInterval: 5}\n",
			[]string{
				`BFDProfile metallb-system/b: spec.detectMultiplier: must be between 2 and 255, got 1`,
				`BFDProfile metallb-system/b: spec.echoInterval: must be between 10 and 60000, got 5`,
				`BFDProfile metallb-system/b: spec.minimumTtl: must be between 1 and 254, got 255`,
				`BFDProfile metallb-system/b: spec.receiveInterval: must be between 10 and 60000, got 5`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := buildYAML(t, tc.docs)
			if err == nil {
				t.Fatalf("accepted, want errors %q; config %+v", tc.want, cfg)
			}
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("error is %T, want config.Errors", err)
			}
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(errs[i].Error(), want) {
					t.Errorf("error %d =\n  %s\nwant prefix\n  %s", i, errs[i], want)
				}
			}
		})
	}
}

// An unnumbered peer names its interface and no address; it may be eBGP
// multi-hop (harmless on a link) as MetalLB allows.
func TestUnnumberedPeer(t *testing.T) {
	cfg, err := buildYAML(t, `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, interface: eth1, ebgpMultiHop: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Peers["tor"]
	if p == nil || p.Interface != "eth1" || p.Address.IsValid() || p.Neighbor() != "interface eth1" {
		t.Errorf("peer %+v, want interface eth1 and no address", p)
	}
}

func TestPeersOfOneEndpointOnDifferentNodes(t *testing.T) {
	cfg, err := buildYAML(t, `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 10.0.0.1, sourceAddress: 10.0.1.1, nodeSelectors: [{matchLabels: {rack: a}}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-b, namespace: metallb-system}
spec: {myASN: 64513, peerASN: 64500, peerAddress: 10.0.0.1, sourceAddress: 10.0.2.1, nodeSelectors: [{matchLabels: {rack: b}}]}
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Peers) != 2 || cfg.Peers["rack-b"].MyASN != 64513 {
		t.Errorf("peers %+v, want both racks' sessions to 10.0.0.1", cfg.Peers)
	}
}

// dynamicASN internal makes the router's AS ours; external leaves it 0, for
// the speaker to take from the router's OPEN (any AS but ours): neither is
// iBGP-checked against ebgpMultiHop until the session says which it is.
func TestDynamicASN(t *testing.T) {
	for _, tc := range []struct {
		spec         string
		wantPeerASN  uint32
		wantInternal bool
	}{
		{"{myASN: 64512, dynamicASN: internal, peerAddress: 10.0.0.1}", 64512, true},
		{"{myASN: 64512, dynamicASN: external, peerAddress: 10.0.0.1}", 0, false},
		{"{myASN: 64512, dynamicASN: external, ebgpMultiHop: true, peerAddress: 10.0.0.1}", 0, false},
		{"{myASN: 64512, peerASN: 64500, peerAddress: 10.0.0.1}", 64500, false},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			cfg, err := buildYAML(t, "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p, namespace: metallb-system}\nspec: "+tc.spec+"\n")
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.Peers["p"]
			if p.PeerASN != tc.wantPeerASN || p.IsInternal() != tc.wantInternal {
				t.Errorf("PeerASN %d, IsInternal %v; want %d, %v", p.PeerASN, p.IsInternal(), tc.wantPeerASN, tc.wantInternal)
			}
		})
	}
}

func TestDecodeRejectsUnknownFields(t *testing.T) {
	var res Resources
	_, err := DecodeYAML(strings.NewReader(pool("p", "10.0.0.0/24")+
		"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: typo}\nspec: {adresses: [10.0.1.0/24]}\n"), "pools.yaml", &res)
	if err == nil || !strings.Contains(err.Error(), `pools.yaml: document 2: IPAddressPool typo`) || !strings.Contains(err.Error(), "adresses") {
		t.Fatalf("err = %v, want the document, object and unknown field named", err)
	}
}

func TestDecodeListsAndSkipsOtherKinds(t *testing.T) {
	var res Resources
	skipped, err := DecodeYAML(strings.NewReader(`
apiVersion: v1
kind: List
items:
- apiVersion: metallb.io/v1beta1
  kind: IPAddressPool
  metadata: {name: p}
  spec: {addresses: [10.0.0.0/24]}
- apiVersion: v1
  kind: Service
  metadata: {name: web}
`), "list.yaml", &res)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pools) != 1 || res.Pools[0].Name != "p" {
		t.Errorf("pools = %+v, want p from the List", res.Pools)
	}
	if len(skipped) != 1 || skipped[0] != "Service web (v1)" {
		t.Errorf("skipped = %v, want the Service", skipped)
	}
}
