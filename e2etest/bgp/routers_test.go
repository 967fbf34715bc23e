package bgp

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// seedFilteredBIRD1 is the lab's BIRD 1.6 configuration with an import filter
// like seed 000's: each session accepts only host routes of the lab's BGP
// pool and rejects everything else.
func seedFilteredBIRD1(nodes int) lab.RouterConfig {
	config := lab.DefaultRouterConfig(lab.BIRD1, nodes)
	filter := func(set string) string {
		return fmt.Sprintf("import filter { if ( net ~ [ %s ] ) then accept; reject; };", set)
	}
	config.Config = strings.Replace(config.Config, "import all;",
		filter(lab.BGPPoolIPv4.String()+"{32,32}"), 1)
	config.Config6 = strings.Replace(config.Config6, "import all;",
		filter(lab.BGPPoolIPv6.String()+"{128,128}"), 1)
	return config
}

// routerConfigs are the routers every scenario of TestRouters runs against.
func routerConfigs(nodes int) []lab.RouterConfig {
	return []lab.RouterConfig{
		lab.DefaultRouterConfig(lab.BIRD2, nodes),
		seedFilteredBIRD1(nodes),
		lab.DefaultRouterConfig(lab.FRR, nodes),
	}
}

// communitiesYAML is a Community object with one alias.
var communitiesYAML = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: lab-communities
  namespace: %s
spec:
  communities:
  - name: lab-alias
    value: "64500:200"
`, lab.IronLBNamespace)

// TestRouters runs the scenarios that involve the router against each
// router kind in turn (grouped by router, so that each runs up once).
func TestRouters(t *testing.T) {
	l := lab.Shared(t)
	for _, config := range routerConfigs(l.NodeCount()) {
		t.Run(string(config.Kind), func(t *testing.T) {
			t.Run("Traffic", func(t *testing.T) { testTraffic(t, config) })
			t.Run("Selectors", func(t *testing.T) { testSelectors(t, config) })
			t.Run("HitlessChanges", func(t *testing.T) { testHitlessChanges(t, config) })
			t.Run("MD5PasswordSecret", func(t *testing.T) { testMD5PasswordSecret(t, config) })
		})
	}
}

// testTraffic: a dual-stack Service gets an IPv4 /32 and an IPv6 /128 in the
// router's kernel table with every node as an equal next hop
// (externalTrafficPolicy Cluster), ext reaches it through the router, the
// routes carry the advertisements' communities (standard, large, alias) and,
// over iBGP, localPref; with externalTrafficPolicy Local only the nodes with
// a ready endpoint advertise, following the endpoints as they move, and the
// ServiceBGPStatus objects say so.
func testTraffic(t *testing.T, config lab.RouterConfig) {
	l := setUp(t, config)
	ctx := t.Context()
	kind := config.Kind
	// A localPref other than the base advertisement's needs serviceSelectors:
	// without, MetalLB's rule (and so ironlb's) refuses two localPrefs for
	// the same routes.
	applyTemporarily(t, documents(communitiesYAML, advertYAML("with-attributes", basePool,
		"  communities: [lab-alias, \"64500:100\", \"large:64500:1:2\"]",
		"  localPref: 150",
		"  serviceSelectors: [{matchLabels: {attributes: \"yes\"}}]",
	)))

	name := "web-" + string(kind)
	svc := newService(name, basePool)
	svc.Labels = map[string]string{"attributes": "yes"}
	ips := createService(t, svc, 1, 2, 3)
	for _, ip := range ips {
		waitRoute(t, hostPrefix(ip), 1, 2, 3)
		curlFromExt(t, ip, 1, 2, 3)
	}
	t.Logf("%s: %v routed via all three nodes; ext reaches both", kind, ips)

	text := attributeTexts(kind)
	wantAttrs := []string{text.community(64500, 100), text.community(64500, 200), text.largeCommunity(64500, 1, 2)}
	if kind == lab.BIRD1 {
		wantAttrs = append(wantAttrs, text.localPref(150)) // localPref travels over iBGP only
	}
	for _, ip := range ips {
		lab.Eventually(t, routeTimeout, "attributes of "+ip.String()+" at the router", func() error {
			details, err := routeDetails(ctx, l.Router(), hostPrefix(ip))
			if err != nil {
				return err
			}
			for _, want := range wantAttrs {
				if !strings.Contains(details, want) {
					return fmt.Errorf("no %q in:\n%s", want, details)
				}
			}
			return nil
		})
	}
	allPeers := []string{peerV4, peerV6}
	waitServiceBGPStatuses(t, name, map[string][]string{"node1": allPeers, "node2": allPeers, "node3": allPeers})

	// externalTrafficPolicy Local: only nodes with a ready endpoint attract
	// traffic, and the route follows the endpoints.
	svc, err := l.KubeClient().CoreV1().Services(serviceDomain).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	if svc, err = l.KubeClient().CoreV1().Services(serviceDomain).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetEndpoints(ctx, svc, 2); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		waitRoute(t, hostPrefix(ip), 2)
		curlFromExt(t, ip, 2)
	}
	waitServiceBGPStatuses(t, name, map[string][]string{"node2": allPeers})
	if err := l.SetEndpoints(ctx, svc, 1, 3); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		waitRoute(t, hostPrefix(ip), 1, 3)
		curlFromExt(t, ip, 1, 3)
	}
	waitServiceBGPStatuses(t, name, map[string][]string{"node1": allPeers, "node3": allPeers})
	t.Logf("%s: Local traffic policy follows the endpoints (node2, then a two-path route via node1 and node3)", kind)
}
