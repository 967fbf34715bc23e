package layer2

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// TestBlockedMemberlistPortMakesNoSecondAnswerer blocks TCP and UDP 7946 on
// a node that does not own the Service (MetalLB's split brain, #740): the
// cut-off speaker sees only itself, 1 of the 3 running speakers, so it takes
// nothing over and the owner alone answers throughout. After the heal the
// owner announces the Service's addresses again, so a neighbour that had
// learnt another MAC meanwhile would be corrected at once.
func TestBlockedMemberlistPortMakesNoSecondAnswerer(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	runSpeakerPods(t, l)
	svc := createService(t, "partition", nil)
	owner := waitOwner(t, l, svc, "the Service has an owner", anyNode)
	cut := nodeIndex(t, l, owner)%l.NodeCount() + 1
	cutName := l.Node(cut).Name

	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	l.BlockMemberlist(t, cut, "-I")
	lab.Eventually(t, 15*time.Second, cutName+" sees only itself", func() error {
		n, err := l.MemberCount(ctx, cut)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%s sees %d members", cutName, n)
		}
		return nil
	})
	for range 3 { // the cut-off speaker had time to elect itself
		time.Sleep(time.Second)
		if err := checkOwner(ctx, l, svc, owner); err != nil {
			t.Errorf("while %s is cut off: %v", cutName, err)
		}
	}
	checkOnlyOwnerAnnounced(t, l, capture, svc, owner, "while "+cutName+" is cut off")

	healed := time.Now()
	l.BlockMemberlist(t, cut, "-D")
	waitMembers(t, l)
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	f, err := capture.Wait(waitCtx, func(f lab.NeighborFrame) bool {
		return f.Kind == lab.GratuitousARP && f.IP == svc.IPv4 && f.Time.After(healed) && nodeOfMAC(l, f.Source) == owner
	})
	if err != nil {
		t.Fatalf("no gratuitous ARP from the owner %s after the heal: %v", owner, err)
	}
	t.Logf("owner %s announced %s again %v after the heal", owner, svc.IPv4, f.Time.Sub(healed).Round(time.Millisecond))
	lab.Eventually(t, 5*time.Second, owner+" still the owner at every level after the heal", func() error {
		return checkOwner(ctx, l, svc, owner)
	})
	// While it rejoins, the cut-off speaker must not elect itself from a
	// half-learnt member set.
	checkOnlyOwnerAnnounced(t, l, capture, svc, owner, "during the heal")
}

// checkOnlyOwnerAnnounced fails the test for each frame the capture saw
// announcing one of svc's addresses from another node than owner.
func checkOnlyOwnerAnnounced(t *testing.T, l *lab.Lab, capture *lab.Capture, svc service, owner, when string) {
	t.Helper()
	for _, f := range capture.Frames() {
		if (f.Announces(svc.IPv4) || f.Announces(svc.IPv6)) && nodeOfMAC(l, f.Source) != owner {
			t.Errorf("%s: %v (%s)", when, f, nodeOfMAC(l, f.Source))
		}
	}
}

// TestCrashFailoverCountingSpeakerPods: with the quorum counted against
// speaker pods, a real loss still fails over: the killed speaker's pod stays
// Ready (as it does until the node is marked NotReady), the two others see
// 2 of 3 with their probes answered, and take its addresses over.
func TestCrashFailoverCountingSpeakerPods(t *testing.T) {
	runSpeakerPods(t, setup(t))
	testFailover(t, syscall.SIGKILL)
}

// runSpeakerPods creates one Ready speaker pod per lab node, as the
// DaemonSet would: the lab runs speakers as processes, and the speakers
// count these pods for their quorum. They are deleted when the test ends.
func runSpeakerPods(t *testing.T, l *lab.Lab) {
	t.Helper()
	ctx := t.Context()
	pods := l.KubeClient().CoreV1().Pods(lab.IronLBNamespace)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: lab.IronLBNamespace}}
	if _, err := l.KubeClient().CoreV1().ServiceAccounts(lab.IronLBNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, n := range l.Nodes() {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "speaker-" + n.Name, Labels: map[string]string{"app": "metallb", "component": "speaker"}},
			Spec: corev1.PodSpec{NodeName: n.Name, AutomountServiceAccountToken: new(bool),
				Containers: []corev1.Container{{Name: "speaker", Image: "ironlb-speaker:lab"}}},
		}
		created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			pods.Delete(context.Background(), created.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}) //nolint:errcheck // the lab goes away anyway
		})
		// The node's kubelet may write the pod's status meanwhile: read it
		// again on a conflict.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			current, err := pods.Get(ctx, created.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			current.Status.Phase = corev1.PodRunning
			current.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			_, err = pods.UpdateStatus(ctx, current, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
