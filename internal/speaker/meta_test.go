package speaker

import (
	"fmt"
	"maps"
	"net/netip"
	"testing"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/config/configtest"
	"github.com/ironlb/ironlb/internal/election"
	"github.com/ironlb/ironlb/internal/layer2"
)

func TestInterfacesMetaRoundTrip(t *testing.T) {
	links := []layer2.Link{
		{Name: "eth0", Up: true, Running: true, Ethernet: true, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("172.30.0.11/24"), netip.MustParsePrefix("fd00:30::11/64")}},
		{Name: "lo", Up: true, Running: true, Loopback: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		{Name: "kube-ipvs0", Up: true, Running: true, Ethernet: true, NoARP: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("172.30.0.200/32")}},
	}
	meta, err := encodeInterfaces(links, 512)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeInterfaces(meta)
	if len(got) != 1 || got[0].Name != "eth0" || len(got[0].Prefixes) != 2 {
		t.Fatalf("decoded %+v, want only the usable eth0 with its two subnets", got)
	}
	if !got[0].Prefixes[0].Contains(netip.MustParseAddr("172.30.0.200")) && !got[0].Prefixes[1].Contains(netip.MustParseAddr("172.30.0.200")) {
		t.Errorf("eth0's subnets %v do not contain the pool address", got[0].Prefixes)
	}
	if _, err := encodeInterfaces(links, 10); err == nil {
		t.Error("interfaces that do not fit must be refused")
	}
	if decodeInterfaces(nil) != nil || decodeInterfaces([]byte{0xff, 1, 2}) != nil {
		t.Error("missing or malformed metadata must decode as unknown (nil)")
	}
	none, err := encodeInterfaces(nil, 512)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeInterfaces(none); got == nil || len(got) != 0 {
		t.Errorf("a node without usable interfaces must decode as known and empty, got %#v", got)
	}
}

// TestDepartedNodeKeepsItsInterfaces: when the speaker of a node on another
// subnet dies, the node keeps the interfaces it last gossiped, and not one
// address of the other subnet moves (read as unknown, it reached every
// address and took over some).
func TestDepartedNodeKeepsItsInterfaces(t *testing.T) {
	cfg := mustConfig(t, `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
`)
	gossip := func(subnet string) []byte {
		links := []layer2.Link{{Name: "eth0", Up: true, Running: true, Ethernet: true, Prefixes: []netip.Prefix{netip.MustParsePrefix(subnet)}}}
		meta, err := encodeInterfaces(links, 512)
		if err != nil {
			t.Fatal(err)
		}
		return meta
	}
	names := []string{"a", "b", "c", "far"}
	live := map[string][]byte{"a": gossip("10.0.0.1/24"), "b": gossip("10.0.0.2/24"), "c": gossip("10.0.0.3/24"), "far": gossip("10.9.0.1/24")}
	var services []announce.Service
	for i := range 100 {
		ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		services = append(services, announce.Service{Key: fmt.Sprintf("default/s%d", i), IPs: []netip.Addr{ip}, HasReadyEndpoint: true})
	}
	owners := func(interfaces map[string][]announce.Interface) map[string]string {
		snap := &announce.Snapshot{Config: cfg, Nodes: map[string]announce.Node{}, Members: map[string]bool{}, Services: services}
		for _, name := range names {
			snap.Nodes[name] = announce.Node{Name: name, Interfaces: interfaces[name]}
			if _, ok := live[name]; ok {
				snap.Members[name] = true
			}
		}
		out := map[string]string{}
		elector := election.NewElector()
		for _, name := range names {
			snap.Self = name
			for _, a := range announce.Compute(snap, elector).L2 {
				out[a.Service] = name
			}
		}
		return out
	}

	memory := interfaceMemory{}
	before := owners(memory.interfacesOf(names, live))
	delete(live, "far")
	after := owners(memory.interfacesOf(names, live))
	if !maps.Equal(before, after) {
		t.Errorf("far's speaker died and addresses of a subnet it never had moved")
	}

	unknown := owners(map[string][]announce.Interface{"a": decodeInterfaces(gossip("10.0.0.1/24")),
		"b": decodeInterfaces(gossip("10.0.0.2/24")), "c": decodeInterfaces(gossip("10.0.0.3/24"))})
	moved := 0
	for svc, owner := range before {
		if unknown[svc] != owner {
			moved++
		}
	}
	if moved == 0 {
		t.Error("reading far as unknown moved nothing: the test no longer shows the defect it guards against")
	}

	// A node that is gone is forgotten.
	memory.interfacesOf([]string{"a", "b", "c"}, live)
	if _, kept := memory["far"]; kept {
		t.Error("the interfaces of a deleted node are kept")
	}
}

func mustConfig(t testing.TB, docs string) *config.Config {
	return configtest.Build(t, docs)
}
