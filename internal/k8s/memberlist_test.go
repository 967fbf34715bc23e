package k8s

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func TestDecideMemberlistSecret(t *testing.T) {
	seen := map[string][]byte{MemberlistSecretKey: []byte("the key the speakers hold")}
	tests := []struct {
		name            string
		exists          bool
		remembered      map[string][]byte
		speakersHoldKey bool
		want            SecretAction
	}{
		{"exists", true, nil, true, SecretKeep},
		{"deleted, seen before: recreated with that key", false, seen, true, SecretRecreate},
		{"deleted, seen before, no speaker: still that key", false, seen, false, SecretRecreate},
		{"new installation", false, nil, false, SecretCreateFresh},
		{"missing, never seen, speakers run: no new key", false, nil, true, SecretWaitForOperator},
		{"seen without secretkey: as never seen", false, map[string][]byte{"other": []byte("x")}, true, SecretWaitForOperator},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecideMemberlistSecret(tt.exists, tt.remembered, tt.speakersHoldKey); got != tt.want {
				t.Fatalf("DecideMemberlistSecret = %d, want %d", got, tt.want)
			}
		})
	}
}

const testNamespace = "metallb-system"

// speakerPod is a running speaker pod, Ready when it holds a key.
func speakerPod(ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "speaker-abcde", Namespace: testNamespace, Labels: map[string]string{"app": "metallb", "component": "speaker"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: status},
		}},
	}
}

// runKeeper starts a keeper on a fake API server holding objects.
func runKeeper(t *testing.T, objects ...runtime.Object) (*fake.Clientset, *MemberlistSecretKeeper, *record.FakeRecorder) {
	t.Helper()
	kube := fake.NewClientset(objects...)
	recorder := record.NewFakeRecorder(10)
	k := &MemberlistSecretKeeper{Kube: kube, Namespace: testNamespace, Recorder: recorder, Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("keeper: %v", err)
		}
	})
	return kube, k, recorder
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getSecret(kube *fake.Clientset) (*corev1.Secret, error) {
	return kube.CoreV1().Secrets(testNamespace).Get(context.Background(), MemberlistSecret, metav1.GetOptions{})
}

func TestKeeperCreatesAKeyOnANewInstallation(t *testing.T) {
	for name, objects := range map[string][]runtime.Object{
		"no speaker yet": nil,
		// The Secret volume is optional: speakers start first and wait,
		// Running but not Ready, for the key this keeper creates.
		"speakers waiting for the key": {speakerPod(false)},
	} {
		t.Run(name, func(t *testing.T) { testKeeperCreatesAKey(t, objects) })
	}
}

func testKeeperCreatesAKey(t *testing.T, objects []runtime.Object) {
	kube, _, _ := runKeeper(t, objects...)
	eventually(t, "the Secret is created", func() bool { _, err := getSecret(kube); return err == nil })
	secret, _ := getSecret(kube)
	if n := len(secret.Data[MemberlistSecretKey]); n < 128 {
		t.Fatalf("created key is %d bytes, want base64 of 128 random bytes", n)
	}
}

// TestKeeperRecreatesADeletedSecretWithTheSameKey: the Secret, with a
// rotation under way, is deleted while speakers run; it comes back with the
// same keys, not a fresh one that would split the speakers restarted next.
func TestKeeperRecreatesADeletedSecretWithTheSameKey(t *testing.T) {
	original := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: MemberlistSecret, Namespace: testNamespace},
		Data:       map[string][]byte{MemberlistSecretKey: []byte("the key the speakers hold, 32+ bytes"), "secretkey.next": []byte("the next key, already accepted....")},
	}
	kube, k, _ := runKeeper(t, original, speakerPod(true))
	eventually(t, "the keeper saw the Secret", func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.remembered != nil
	})
	if err := kube.CoreV1().Secrets(testNamespace).Delete(context.Background(), MemberlistSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Secret is recreated", func() bool { _, err := getSecret(kube); return err == nil })
	secret, _ := getSecret(kube)
	if !maps.EqualFunc(secret.Data, original.Data, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("recreated Secret holds %q, want the deleted one's %q", secret.Data, original.Data)
	}
}

// TestKeeperInventsNoKeyWhileSpeakersRun: a controller that starts while
// the Secret is missing and Ready speakers run creates nothing and says why in an
// Event on a speaker pod.
func TestKeeperInventsNoKeyWhileSpeakersRun(t *testing.T) {
	kube, _, recorder := runKeeper(t, speakerPod(true))
	select {
	case event := <-recorder.Events:
		if !strings.Contains(event, ReasonMemberlistSecretMissing) || !strings.Contains(event, "not creating a new key") {
			t.Fatalf("event %q", event)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Event about the missing Secret")
	}
	if _, err := getSecret(kube); !apierrors.IsNotFound(err) {
		t.Fatalf("a Secret was created (err %v); want none while speakers run with an unknown key", err)
	}
}
