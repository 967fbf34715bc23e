package layer2

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/election"
	"github.com/ironlb/ironlb/internal/speaker"
)

// TestOneOwnerPerIP: for several dual-stack Services, exactly one node
// answers ARP (arping) and NDP (ndisc6) for each IP — the capture at the
// client sees answers from one MAC only —, it is the node of the Service's
// only ServiceL2Status, HTTP traffic to the IP reaches it, and it is the node
// the election ranks first for the Service: the three speakers, each fed by
// the API and memberlist, agree with the pure election (which unit tests
// prove spreads IPs evenly).
func TestOneOwnerPerIP(t *testing.T) {
	l := setup(t)
	owned := map[string]int{}
	for i := range 6 {
		svc := createService(t, fmt.Sprintf("one-owner-%d", i), nil)
		owner := waitOwner(t, l, svc, svc.Name+" has one owner", anyNode)
		if want := electedOwner(l, svc); owner != want {
			t.Errorf("%s (%s, %s) owned by %s; the election ranks %s first", svc.Name, svc.IPv4, svc.IPv6, owner, want)
		}
		owned[owner]++
	}
	t.Logf("Services owned per node: %v", owned)
}

// electedOwner returns the owner that package election gives svc when every
// lab node is an eligible candidate.
func electedOwner(l *lab.Lab, svc service) string {
	ips := svc.IPs()
	nodes := make([]election.Node, 0, l.NodeCount())
	for _, n := range l.Nodes() {
		nodes = append(nodes, election.Node{Name: n.Name, Member: true, Selected: true, Endpoint: true})
	}
	return election.NewElector().Elect(election.Service{IPs: ips}, nodes)[0].Owner
}

// TestStatusAndEvent: the owner publishes a ServiceL2Status with the node
// and, when the advertisement names interfaces, the interfaces, and records
// a nodeAssigned Event on the Service; a graceful stop deletes the status.
func TestStatusAndEvent(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	labelNodes(t, l, map[int]map[string]string{2: {selectLabel: "true"}})
	svc := createService(t, "status", inPool("l2-selected"))
	waitOwner(t, l, svc, "node2 owns the Service", is(lab.NodeName(2)))
	statuses, err := l2Statuses(ctx, l, svc.Service)
	if err != nil {
		t.Fatal(err)
	}
	st := statuses[0]
	if st.Status.Node != lab.NodeName(2) || st.Status.ServiceName != svc.Name || st.Status.ServiceNamespace != svc.Namespace {
		t.Errorf("ServiceL2Status %s: %+v", st.Name, st.Status)
	}
	if len(st.Status.Interfaces) != 1 || st.Status.Interfaces[0].Name != lab.HostInterface {
		t.Errorf("ServiceL2Status %s interfaces %+v, want [%s]", st.Name, st.Status.Interfaces, lab.HostInterface)
	}
	if st.Labels[speaker.LabelNode] != lab.NodeName(2) {
		t.Errorf("ServiceL2Status %s labels %v lack %s=%s", st.Name, st.Labels, speaker.LabelNode, lab.NodeName(2))
	}
	lab.Eventually(t, 10*time.Second, "a nodeAssigned Event on the Service", func() error {
		events, err := l.KubeClient().CoreV1().Events(svc.Namespace).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.name=" + svc.Name + ",reason=" + speaker.ReasonNodeAssigned})
		if err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.UID == svc.UID && e.Type == corev1.EventTypeNormal && e.Source.Component != "" {
				t.Logf("Event: %s %s: %s (from %s)", e.Type, e.Reason, e.Message, e.Source.Component)
				return nil
			}
		}
		return fmt.Errorf("%d matching Events: %+v", len(events.Items), events.Items)
	})
	// node2 is the only candidate: stopping its speaker gracefully leaves
	// nobody announcing the Service, and no ServiceL2Status claiming it.
	restartSpeaker(t, l, 2)
	if err := l.KillSpeaker(2, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(t, 10*time.Second, "the stopped speaker's ServiceL2Status is deleted", func() error {
		statuses, err := l2Statuses(ctx, l, svc.Service)
		if err != nil {
			return err
		}
		if len(statuses) != 0 {
			return fmt.Errorf("%d ServiceL2Status left, the first naming %s", len(statuses), statuses[0].Status.Node)
		}
		return nil
	})
}

// TestCrashFailoverAndReturn: when the owner's speaker is killed, another
// node takes the IPs over (the client's traffic moves to it); when the
// speaker comes back, the IPs return to it and stay.
func TestCrashFailoverAndReturn(t *testing.T) {
	testFailover(t, syscall.SIGKILL)
}

// TestGracefulFailover: a speaker stopped with SIGTERM hands its IPs over.
func TestGracefulFailover(t *testing.T) {
	testFailover(t, syscall.SIGTERM)
}

func testFailover(t *testing.T, sig syscall.Signal) {
	l := setup(t)
	svc := createService(t, "failover-"+map[syscall.Signal]string{syscall.SIGKILL: "kill", syscall.SIGTERM: "term"}[sig], nil)
	owner := waitOwner(t, l, svc, "the Service has an owner", anyNode)
	i := nodeIndex(t, l, owner)
	restartSpeaker(t, l, i)
	if err := l.KillSpeaker(i, sig); err != nil {
		t.Fatal(err)
	}
	successor := waitOwner(t, l, svc, "another node takes over from "+owner, isNot(owner))
	t.Logf("%v: %s took over from %s", sig, successor, owner)
	if err := l.StartSpeaker(i); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, l)
	waitOwner(t, l, svc, "the IPs return to "+owner, is(owner))
	checkStaysWith(t, l, svc, owner)
}

// TestCrashedContainerRestarted: the owner's speaker container crashes and
// its kubelet starts it again, the pod staying. The addresses move away
// while the pod is NotReady and come back once it is Ready, where they stay
// with one answerer. The pod may be NotReady for well under a second (the
// kubelet probes readiness every 5 s, the first probe of the new container
// can come at once), too short to poll: the takeover is read from the
// announcements the client received.
func TestCrashedContainerRestarted(t *testing.T) {
	l := setup(t)
	svc := createService(t, "restarted", nil)
	owner := waitOwner(t, l, svc, "the Service has an owner", anyNode)
	i := nodeIndex(t, l, owner)
	restartSpeaker(t, l, i)
	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	if err := l.KillSpeakerContainer(t.Context(), i); err != nil {
		t.Fatal(err)
	}
	var successor string
	lab.Eventually(t, 20*time.Second, "another node announces the IPs while "+owner+"'s speaker restarts", func() error {
		for _, f := range capture.Frames() {
			if n := nodeOfMAC(l, f.Source); n != owner && (f.Announces(svc.IPv4) || f.Announces(svc.IPv6)) {
				successor = n
				return nil
			}
		}
		return errors.New("no announcement from another node yet")
	})
	t.Logf("%s took over from %s", successor, owner)
	// The kubelet starts the container again after its crash back-off
	// (10 s, 20 s, … per restart of the same pod), then probes it.
	waitOwnerWithin(t, l, svc, "the IPs return to "+owner+" once its pod is Ready again", is(owner), time.Minute)
	checkStaysWith(t, l, svc, owner)
}

// checkStaysWith checks for 1.5 s that owner keeps svc's addresses and
// that no other node announces them.
func checkStaysWith(t *testing.T, l *lab.Lab, svc service, owner string) {
	t.Helper()
	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		if err := checkOwner(t.Context(), l, svc, owner); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range capture.Frames() {
		if (f.Announces(svc.IPv4) || f.Announces(svc.IPv6)) && nodeOfMAC(l, f.Source) != owner {
			t.Errorf("after the return: %v (%s)", f, nodeOfMAC(l, f.Source))
		}
	}
}

// TestLocalTrafficPolicyFollowsEndpoints: with externalTrafficPolicy Local
// only a node with a ready endpoint owns the IPs; they follow the endpoints
// when these move, and nobody answers without endpoints.
func TestLocalTrafficPolicyFollowsEndpoints(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	svc := createService(t, "local", func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	for _, i := range []int{2, 3, 1} {
		if err := l.SetEndpoints(ctx, svc.Service, i); err != nil {
			t.Fatal(err)
		}
		waitOwner(t, l, svc, fmt.Sprintf("endpoints on node%d: it owns the IPs", i), is(lab.NodeName(i)))
	}
	if err := l.SetEndpoints(ctx, svc.Service); err != nil {
		t.Fatal(err)
	}
	// Nobody answers. (With the lab's process-mode stand-in for kube-proxy
	// in IPVS mode every node still holds the IPs on kube-ipvs0 and strict
	// ARP keeps the kernels silent; the real kube-proxy of pods mode, in
	// iptables mode, puts the IPs on no device.)
	lab.Eventually(t, 20*time.Second, "no endpoints: nobody announces", func() error {
		statuses, err := l2Statuses(ctx, l, svc.Service)
		if err != nil {
			return err
		}
		if len(statuses) != 0 {
			return fmt.Errorf("%d ServiceL2Status objects left", len(statuses))
		}
		ipvsNodes := l.Nodes()
		if l.Pods() {
			ipvsNodes = nil
		}
		for _, n := range ipvsNodes {
			held, err := n.ServiceIPs()
			if err != nil {
				return err
			}
			if !slices.Contains(held, svc.IPv4) || !slices.Contains(held, svc.IPv6) {
				return fmt.Errorf("%s's %s holds %v, not the Service's IPs", n.Name, lab.ServiceDevice, held)
			}
		}
		for _, ip := range svc.IPs() {
			if tool, captured, err := layer2Answers(ctx, l, ip); err == nil || len(captured) > 0 {
				return fmt.Errorf("%s answered by %q (capture: %v)", ip, tool, captured)
			}
		}
		return nil
	})
}

// TestNodeSelectors: an L2Advertisement with nodeSelectors announces only
// from the nodes it selects, and follows its label.
func TestNodeSelectors(t *testing.T) {
	l := setup(t)
	svc := createService(t, "selected", inPool("l2-selected"))
	for _, i := range []int{3, 1} {
		labelNodes(t, l, map[int]map[string]string{i: {selectLabel: "true"}})
		waitOwner(t, l, svc, fmt.Sprintf("only node%d is selected: it owns the IPs", i), is(lab.NodeName(i)))
	}
	labelNodes(t, l, map[int]map[string]string{1: {selectLabel: "true"}, 2: {selectLabel: "true"}})
	owner := waitOwner(t, l, svc, "node1 and node2 selected: one of them owns the IPs", func(n string) bool {
		return n == lab.NodeName(1) || n == lab.NodeName(2)
	})
	t.Logf("node1 and node2 selected: %s owns the IPs", owner)
}

// TestExcludeLabel: a node labelled exclude-from-external-load-balancers
// gives up its IPs, and takes them back when the label goes.
func TestExcludeLabel(t *testing.T) {
	l := setup(t)
	svc := createService(t, "exclude", nil)
	owner := waitOwner(t, l, svc, "the Service has an owner", anyNode)
	i := nodeIndex(t, l, owner)
	labelNodes(t, l, map[int]map[string]string{i: {announce.ExcludeLabel: ""}})
	successor := waitOwner(t, l, svc, owner+" excluded: another node owns the IPs", isNot(owner))
	t.Logf("%s excluded: %s took over", owner, successor)
	labelNodes(t, l, nil)
	waitOwner(t, l, svc, "label removed: the IPs return to "+owner, is(owner))
}

// labelNodes gives every lab node its standard labels plus extra[i], and
// restores the standard labels when the test ends.
func labelNodes(t *testing.T, l *lab.Lab, extra map[int]map[string]string) {
	t.Helper()
	for _, n := range l.Nodes() {
		if err := l.SetNodeLabels(t.Context(), n.Index, extra[n.Index]); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range l.Nodes() {
			if err := l.SetNodeLabels(context.Background(), n.Index, nil); err != nil {
				t.Error(err)
			}
		}
	})
}
