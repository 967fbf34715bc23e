package bgp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// TestDynamicASNExternal: the IPv4 BGPPeer names no peerASN but dynamicASN
// external. Every speaker applies it, peers with BIRD 2 (AS 64500, the
// router's AS taken from its OPEN) and the router installs a Service's
// route via every node.
func TestDynamicASNExternal(t *testing.T) {
	l := setUp(t, lab.DefaultRouterConfig(lab.BIRD2, lab.Shared(t).NodeCount()))
	restoreBase(t, lab.BIRD2)
	fixed := fmt.Sprintf("peerASN: %d\n", lab.RouterASN)
	peer := peerYAML(lab.BIRD2, peerV4, lab.RouterIPv4)
	if !strings.Contains(peer, fixed) {
		t.Fatalf("the lab's BGPPeer changed shape:\n%s", peer)
	}
	offsets := make([]int64, l.NodeCount()+1)
	for i := 1; i <= l.NodeCount(); i++ {
		offsets[i] = speakerLogSize(t, i)
	}
	apply(t, strings.Replace(peer, fixed, "dynamicASN: external\n", 1))
	lab.Eventually(t, time.Minute, "every speaker applies the BGPPeer with dynamicASN external", func() error {
		for i := 1; i <= l.NodeCount(); i++ {
			log := speakerLog(t, i, offsets[i])
			// Updated in place when established, added anew otherwise.
			if !logHasLine(log, `msg="bgp peer updated"`, " peer="+peerV4+" ") && !logHasLine(log, `msg="bgp peer added"`, " peer="+peerV4+" ", " peerASN=0") {
				return fmt.Errorf("node%d's speaker has not updated %s", i, peerV4)
			}
		}
		return nil
	})
	waitSessions(t, true, nodeAddrs(l, false)...)
	ip := createService(t, newService("dynamic-asn", basePool, corev1.IPv4Protocol), 1, 2, 3)[0]
	waitRoute(t, hostPrefix(ip), 1, 2, 3)
	out, err := l.Router().Show(t.Context(), "show route all "+hostPrefix(ip).String(), false)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("BGP.as_path: %d", lab.NodeASN); !strings.Contains(out, want) {
		t.Errorf("the router's route has no %q:\n%s", want, out)
	}
}
