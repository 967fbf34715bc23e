package bgp

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/configstate"
	"github.com/ironlb/ironlb/internal/speaker"
)

// configStateResource is the ConfigurationState resource.
var configStateResource = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "configurationstates"}

// TestOneBadPeerBlocksNoOther: a BGPPeer the configuration accepts but no
// node can serve (a second session to the router's address, on another
// port: the embedded BGP server keeps one neighbour per address) is left
// out on every node and reported in each speaker's ConfigurationState and
// in a Warning Event on the BGPPeer; the good peers keep working: a new
// Service is advertised and a deleted Service's route is withdrawn.
func TestOneBadPeerBlocksNoOther(t *testing.T) {
	l := setUp(t, lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(t).NodeCount()))
	restoreBase(t, lab.BIRD2)
	ctx := t.Context()
	before := createService(t, newService("before-bad-peer", basePool, corev1.IPv4Protocol), 1, 2, 3)[0]
	waitRoute(t, hostPrefix(before), 1, 2, 3)

	const bad = "router-v4-other-port"
	applyTemporarily(t, peerYAML(lab.BIRD2, bad, lab.RouterIPv4, "  peerPort: 1179"))
	for i := 1; i <= l.NodeCount(); i++ {
		name := configstate.SpeakerName(lab.NodeName(i))
		lab.Eventually(t, routeTimeout, name+" reports the peer left out", func() error {
			obj, err := l.Dynamic().Resource(configStateResource).Namespace(lab.IronLBNamespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			var state v1beta1.ConfigurationState
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &state); err != nil {
				return err
			}
			c := meta.FindStatusCondition(state.Status.Conditions, configstate.ConditionBGPPeers)
			if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "BGPPeer "+bad+": ") ||
				!strings.Contains(c.Message, "one session per address") {
				return fmt.Errorf("condition %+v", c)
			}
			if state.Status.Result != v1beta1.ConfigurationValid {
				return fmt.Errorf("result %q: the configuration itself is valid", state.Status.Result)
			}
			return nil
		})
	}
	lab.Eventually(t, routeTimeout, "a Warning Event on the BGPPeer", func() error {
		selector := fields.Set{"involvedObject.kind": "BGPPeer", "involvedObject.name": bad, "reason": speaker.ReasonBGPPeerNotApplied}
		events, err := l.KubeClient().CoreV1().Events(lab.IronLBNamespace).List(ctx, metav1.ListOptions{FieldSelector: selector.AsSelector().String()})
		if err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning && e.InvolvedObject.UID != "" && strings.Contains(e.Message, "one session per address") {
				return nil
			}
		}
		return fmt.Errorf("events %+v", events.Items)
	})

	// The good peers still take new routes and withdraw old ones.
	after := createService(t, newService("after-bad-peer", basePool, corev1.IPv4Protocol), 1, 2, 3)[0]
	waitRoute(t, hostPrefix(after), 1, 2, 3)
	if err := l.KubeClient().CoreV1().Services(serviceDomain).Delete(ctx, "before-bad-peer", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoute(t, hostPrefix(before))
	waitServiceBGPStatuses(t, "after-bad-peer", map[string][]string{"node1": {peerV4}, "node2": {peerV4}, "node3": {peerV4}})
}
