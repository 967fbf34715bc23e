package controller

import (
	"context"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

// TestBGPPeerV1beta1Applies: MetalLB's deprecated v1beta1 BGPPeer YAML applies
// unchanged through the webhook and the API server serves it as v1beta2 (the
// version ironlb reads) with every field, and as v1beta1 again.
func TestBGPPeerV1beta1Applies(t *testing.T) {
	l := setup(t)
	manifest := `
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: legacy-peer, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: 192.0.2.77
  holdTime: 90s
  keepaliveTime: 30s
  ebgpMultiHop: true
  nodeSelectors:
  - matchLabels: {rack: a}
    matchExpressions: [{key: zone, operator: In, values: [x]}]
`
	applyRetrying(t, l, manifest)
	t.Cleanup(func() { deleteRetrying(t, l, manifest) })

	if metallbClients == nil {
		getPool(t, "none") // connects the metallb.io clients
	}
	var peer v1beta2.BGPPeer
	err := metallbClients.MetalLBv1beta2.Get().Namespace(lab.IronLBNamespace).Resource("bgppeers").Name("legacy-peer").
		Do(t.Context()).Into(&peer)
	if err != nil {
		t.Fatal(err)
	}
	s := peer.Spec
	if s.MyASN != 64512 || s.PeerASN != 64513 || s.PeerAddress != "192.0.2.77" ||
		s.HoldTime == nil || s.HoldTime.Seconds() != 90 || s.KeepaliveTime == nil || s.KeepaliveTime.Seconds() != 30 ||
		!s.EBGPMultiHop || len(s.NodeSelectors) != 1 || s.NodeSelectors[0].MatchLabels["rack"] != "a" ||
		len(s.NodeSelectors[0].MatchExpressions) != 1 || s.NodeSelectors[0].MatchExpressions[0].Values[0] != "x" {
		t.Errorf("read as v1beta2: %+v", s)
	}
	for _, version := range []string{"v1beta2", "v1beta1"} {
		out, err := l.Kubectl(context.Background(), "", "get", "bgppeers."+version+".metallb.io", "-n", lab.IronLBNamespace, "legacy-peer", "-o", "yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"apiVersion: metallb.io/" + version, "peerAddress: 192.0.2.77", "holdTime: 90s", "rack: a"} {
			if !strings.Contains(out, want) {
				t.Errorf("read as %s, missing %q:\n%s", version, want, out)
			}
		}
	}
}
