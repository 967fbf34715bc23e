package seamtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/internal/bgpspec"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/election"
	"github.com/ironlb/ironlb/internal/layer2"
)

// configurations is how many generated configurations the test tries.
const configurations = 600

// TestWhatConfigAcceptsTheShellsAccept generates configurations (BGPPeers
// with every timer, address, router ID and family combination MetalLB's
// users write, pools, BGP and L2 advertisements), and for each one that
// config.Build accepts, plans every kind of node (IPv4, IPv6-only, dual
// stack, racks) and hands the plan to one real BGP speaker (embedded GoBGP)
// and one layer 2 announcer. The BGP speaker must accept every peer and
// every route: a refusal there is a rule the configuration does not judge.
// Peers are on loopback, so the sessions never leave the machine.
func TestWhatConfigAcceptsTheShellsAccept(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	speaker, err := bgp.New(ctx, bgp.Config{RouterID: netip.MustParseAddr("10.255.0.1"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer speaker.Close(ctx) //nolint:errcheck // the test is over
	announcer := layer2.New(layer2.Config{Logger: log})

	accepted := 0
	for seed := range uint64(configurations + len(issueExamples)) {
		var docs string
		if seed < uint64(len(issueExamples)) {
			docs = issueExamples[seed]
		} else {
			docs = generate(rand.New(rand.NewPCG(seed, 7)))
		}
		var res config.Resources
		if _, err := config.DecodeYAML(strings.NewReader(docs), "generated", &res); err != nil {
			t.Fatalf("seed %d: generated YAML does not decode: %v\n%s", seed, err, docs)
		}
		cfg, err := config.Build(res)
		if err != nil && seed < uint64(len(issueExamples)) {
			t.Fatalf("example %d refused: %v\n%s", seed, err, docs)
		}
		if err != nil {
			continue
		}
		accepted++
		for _, node := range nodes() {
			snap := &announce.Snapshot{Config: cfg, Self: node.Name, Nodes: map[string]announce.Node{node.Name: node},
				Members: map[string]bool{node.Name: true}, Services: services(cfg)}
			plan := announce.Compute(snap, election.NewElector())
			where := fmt.Sprintf("seed %d, node %s (%v)", seed, node.Name, node.Addresses)
			if len(plan.BGP.Peers) > 0 {
				if err := speaker.SetRouterID(ctx, plan.BGP.RouterID); err != nil {
					t.Fatalf("%s: router ID %s refused: %v\n%s", where, plan.BGP.RouterID, err, docs)
				}
			}
			if err := speaker.SetPeers(ctx, plan.BGP.Peers); err != nil {
				t.Fatalf("%s: peers refused: %v\n%s", where, err, docs)
			}
			for peer := range plan.BGP.Routes {
				if !slices.ContainsFunc(plan.BGP.Peers, func(p bgpspec.Peer) bool { return p.Name == peer }) {
					t.Fatalf("%s: routes for %s, which is no session of the node", where, peer)
				}
			}
			if err := speaker.SetRoutes(ctx, plan.BGP.Routes); err != nil {
				t.Fatalf("%s: routes refused: %v\n%s", where, err, docs)
			}
			checkLayer2(t, where, announcer, plan.L2)
		}
	}
	if accepted < configurations/10 {
		t.Fatalf("only %d of %d generated configurations were accepted: the generator explores too little", accepted, configurations)
	}
	t.Logf("%d of %d generated configurations accepted and applied", accepted, configurations)
}

// checkLayer2 hands the layer 2 plan to the announcer: each address must be
// one ARP or NDP can answer for, and the announcer must own exactly them.
func checkLayer2(t *testing.T, where string, announcer *layer2.Announcer, plan []announce.L2Announcement) {
	t.Helper()
	anns := make([]layer2.Announcement, len(plan))
	for i, a := range plan {
		if !a.IP.IsValid() || a.IP.Is4In6() || a.IP.Zone() != "" || a.IP.IsMulticast() || a.IP.IsUnspecified() {
			t.Fatalf("%s: layer 2 plan has %s, which ARP/NDP cannot answer for", where, a.IP)
		}
		anns[i] = layer2.Announcement{IP: a.IP, Interfaces: a.Interfaces}
	}
	announcer.SetOwned(anns)
	if got := announcer.Owned(); len(got) != len(anns) {
		t.Fatalf("%s: announcer owns %v, want the %d planned addresses", where, got, len(anns))
	}
}

// issueExamples are BGPPeers the webhook accepted and the BGP layer used to
// refuse, freezing the node's BGP (issue 11).
var issueExamples = []string{
	peers(`{myASN: 64500, peerASN: 64501, peerAddress: 127.0.0.2, holdTime: 30s, keepaliveTime: 30s}`),
	peers(`{myASN: 64500, peerASN: 64501, peerAddress: 127.0.0.2, holdTime: 10s}`),
	peers(`{myASN: 64500, peerASN: 64501, peerAddress: 127.0.0.2, dualStackAddressFamily: true}`),
	peers(`{myASN: 64500, peerASN: 64501, peerAddress: 127.0.0.2, routerID: 10.0.0.1}`,
		`{myASN: 64500, peerASN: 64501, peerAddress: 127.0.0.3, routerID: 10.0.0.2}`),
	peers(`{myASN: 64500, peerASN: 64501, peerAddress: 127.0.0.2}`, `{myASN: 64500, peerASN: 64501, peerAddress: 127.0.0.2, peerPort: 1179}`),
}

// peers writes a pool advertised over BGP to the given BGPPeers.
func peers(specs ...string) string {
	docs := "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p0, namespace: metallb-system}\nspec: {addresses: [198.51.100.0/24, \"2001:db8::/120\"]}\n---\n" +
		"apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: adv, namespace: metallb-system}\n---\n"
	for i, spec := range specs {
		docs += fmt.Sprintf("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: peer%d, namespace: metallb-system}\nspec: %s\n---\n", i, spec)
	}
	return docs
}

// nodes are the kinds of node a plan is computed for.
func nodes() []announce.Node {
	v4, v6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("2001:db8:ff::1")
	return []announce.Node{
		{Name: "v4", Addresses: []netip.Addr{v4}, Labels: map[string]string{"rack": "a"}},
		{Name: "v6-only", Addresses: []netip.Addr{v6}, Labels: map[string]string{"rack": "b"}},
		{Name: "dual", Addresses: []netip.Addr{v4, v6}, Labels: map[string]string{"rack": "a"}},
		{Name: "no-address", Labels: map[string]string{}},
	}
}

// services gives each pool a Service at its first address, ready on every node.
func services(cfg *config.Config) []announce.Service {
	var out []announce.Service
	for name, pool := range cfg.Pools {
		out = append(out, announce.Service{Key: "default/" + name, IPs: []netip.Addr{pool.Ranges[0].From()},
			HasReadyEndpoint: true, EndpointNodes: map[string]bool{"v4": true, "v6-only": true, "dual": true, "no-address": true}})
	}
	return out
}

// pick returns one of choices.
func pick[T any](rng *rand.Rand, choices ...T) T { return choices[rng.IntN(len(choices))] }

// generate writes a configuration: one or two pools, up to four BGPPeers,
// up to three BGPAdvertisements and an L2Advertisement.
func generate(rng *rand.Rand) string {
	var b strings.Builder
	doc := func(apiVersion, kind, name, spec string) {
		fmt.Fprintf(&b, "apiVersion: %s\nkind: %s\nmetadata: {name: %s, namespace: metallb-system}\nspec: {%s}\n---\n", apiVersion, kind, name, spec)
	}
	pools := []string{"p0"}
	doc("metallb.io/v1beta1", "IPAddressPool", "p0", "addresses: ["+pick(rng, `198.51.100.0/24`, `203.0.113.0-203.0.113.5`, `"2001:db8::/120"`, `198.51.100.0/24, "2001:db8::/120"`)+"]")
	if rng.IntN(2) == 0 {
		pools = append(pools, "p1")
		doc("metallb.io/v1beta1", "IPAddressPool", "p1", "addresses: ["+pick(rng, `192.0.2.7/32`, `"2001:db8:1::10-2001:db8:1::13"`)+"]")
	}
	var peers []string
	for i := range 1 + rng.IntN(4) {
		name := fmt.Sprintf("peer%d", i)
		peers = append(peers, name)
		doc("metallb.io/v1beta2", "BGPPeer", name, peerSpec(rng))
	}
	for i := range rng.IntN(4) {
		fields := []string{"ipAddressPools: [" + pick(rng, pools...) + "]"}
		if l := pick(rng, "", "24", "31", "32"); l != "" {
			fields = append(fields, "aggregationLength: "+l)
		}
		if l := pick(rng, "", "120", "128"); l != "" {
			fields = append(fields, "aggregationLengthV6: "+l)
		}
		if lp := pick(rng, "", "100", "200"); lp != "" {
			fields = append(fields, "localPref: "+lp)
		}
		if c := pick(rng, "", `"65535:65282"`, `"large:1:2:3"`, `"65000:1", "65000:1"`); c != "" {
			fields = append(fields, "communities: ["+c+"]")
		}
		if rng.IntN(3) == 0 {
			fields = append(fields, "peers: ["+pick(rng, peers...)+"]")
		}
		if rng.IntN(4) == 0 {
			fields = append(fields, "nodeSelectors: [{matchLabels: {rack: a}}]")
		}
		doc("metallb.io/v1beta1", "BGPAdvertisement", fmt.Sprintf("adv%d", i), strings.Join(fields, ", "))
	}
	if rng.IntN(2) == 0 {
		doc("metallb.io/v1beta1", "L2Advertisement", "l2", "ipAddressPools: ["+pick(rng, pools...)+"]")
	}
	return b.String()
}

// peerSpec writes one BGPPeer's spec from the values users write.
func peerSpec(rng *rand.Rand) string {
	fields := []string{
		"myASN: " + pick(rng, "64500", "64501", "4200000000"),
		"peerASN: " + pick(rng, "64500", "64502", "4200000001"),
		"peerAddress: " + pick(rng, "127.0.0.2", "127.0.0.3", "127.0.0.4", `"::1"`),
	}
	optional := []struct{ field, values string }{
		{"peerPort", "1179|1180|179"},
		{"holdTime", "0s|1s|3s|3.5s|10s|90s|65535s|70000s"},
		{"keepaliveTime", "0s|1s|3s|3.333s|10s|30s|90s"},
		{"connectTime", "500ms|1s|5s|1.5s"},
		{"routerID", "10.0.0.1|10.0.0.2|\"fd00::1\""},
		{"sourceAddress", "127.0.0.1|\"::1\""},
		{"ebgpMultiHop", "true"},
		{"dualStackAddressFamily", "true"},
		{"disableMP", "true"},
		{"enableGracefulRestart", "true"},
		{"password", "s3cret|" + strings.Repeat("x", 80) + "|" + strings.Repeat("x", 81)},
		{"nodeSelectors", "[{matchLabels: {rack: a}}]|[{matchLabels: {rack: b}}]"},
	}
	for _, o := range optional {
		if rng.IntN(4) == 0 {
			fields = append(fields, o.field+": "+pick(rng, strings.Split(o.values, "|")...))
		}
	}
	return strings.Join(fields, ", ")
}
