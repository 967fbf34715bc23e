package k8s

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestEventRecorderPatchesARepeatedEvent: the same Event recorded again is
// a patch of the first (its count), not a second object: the RBAC verb
// patch on events, which a lab run may not need.
func TestEventRecorderPatchesARepeatedEvent(t *testing.T) {
	kube := fake.NewClientset()
	recorder, stop := NewEventRecorder(kube, "test")
	defer stop()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "u1"}}
	recorder.Event(svc, corev1.EventTypeWarning, "Reason", "the same message")
	waitForAction(t, kube, "create")
	recorder.Event(svc, corev1.EventTypeWarning, "Reason", "the same message")
	waitForAction(t, kube, "patch")
}

// waitForAction waits until kube saw verb on events.
func waitForAction(t *testing.T, kube *fake.Clientset, verb string) {
	t.Helper()
	for range 500 {
		for _, a := range kube.Actions() {
			if a.GetVerb() == verb && a.GetResource().Resource == "events" {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s of an Event; actions %v", verb, kube.Actions())
}
