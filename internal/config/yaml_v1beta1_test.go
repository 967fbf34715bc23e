package config

import (
	"strings"
	"testing"
)

// TestDecodeYAMLV1beta1BGPPeer: MetalLB's deprecated v1beta1 BGPPeer YAML is
// read as the v1beta2 object the API server serves for it.
func TestDecodeYAMLV1beta1BGPPeer(t *testing.T) {
	var res Resources
	skipped, err := DecodeYAML(strings.NewReader(`
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: 192.0.2.1
  holdTime: 90s
  nodeSelectors:
  - matchExpressions: [{key: rack, operator: In, values: [a]}]
`), "test", &res)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("skipped %v, err %v", skipped, err)
	}
	if len(res.Peers) != 1 {
		t.Fatalf("peers %+v, want one", res.Peers)
	}
	p := res.Peers[0]
	if p.APIVersion != "metallb.io/v1beta2" || p.Spec.PeerASN != 64513 || p.Spec.PeerAddress != "192.0.2.1" ||
		p.Spec.HoldTime == nil || p.Spec.HoldTime.Seconds() != 90 || len(p.Spec.NodeSelectors) != 1 ||
		p.Spec.NodeSelectors[0].MatchExpressions[0].Key != "rack" {
		t.Errorf("peer %+v", p)
	}
	if _, err := DecodeYAML(strings.NewReader("apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: x}\nspec: {vrf: red}\n"), "test", &res); err == nil {
		t.Error("a v1beta2-only field in a v1beta1 BGPPeer was accepted")
	}
}
