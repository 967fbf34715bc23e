package k8s

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Memberlist Secret coordinates: the speakers' gossip key, shared by every
// speaker through the DaemonSet's Secret volume.
const (
	MemberlistSecret    = "memberlist"
	MemberlistSecretKey = "secretkey"
)

// ReasonMemberlistSecretMissing is the Warning Event reason on a speaker
// pod when the memberlist Secret is gone and the controller cannot tell
// which key the running speakers use.
const ReasonMemberlistSecretMissing = "MemberlistSecretMissing"

// SpeakerSelector selects the speaker pods (the DaemonSet's labels).
const SpeakerSelector = "app=metallb,component=speaker"

// SecretAction is what the controller does about the memberlist Secret.
type SecretAction int

const (
	// SecretKeep: the Secret exists; its data is remembered.
	SecretKeep SecretAction = iota
	// SecretRecreate: the Secret is gone; it is created again with the
	// data last seen, the key the running speakers hold.
	SecretRecreate
	// SecretCreateFresh: there is no Secret, none was seen and no speaker
	// is Ready (a new installation, whose speakers wait for the Secret
	// without a key and so never become Ready): a random key is created.
	SecretCreateFresh
	// SecretWaitForOperator: there is no Secret, none was seen by this
	// controller, but Ready speakers run with a key it cannot know. A fresh key
	// would split them from the speakers restarted next, so nothing is
	// created; the operator restores the Secret (docs/layer2.md).
	SecretWaitForOperator
)

// DecideMemberlistSecret is the one rule for the memberlist Secret: never
// create a key other than the one the running speakers use.
func DecideMemberlistSecret(exists bool, remembered map[string][]byte, speakersHoldKey bool) SecretAction {
	switch {
	case exists:
		return SecretKeep
	case remembered[MemberlistSecretKey] != nil:
		return SecretRecreate
	case !speakersHoldKey:
		return SecretCreateFresh
	default:
		return SecretWaitForOperator
	}
}

// MemberlistSecretKeeper creates the memberlist Secret on a new
// installation and, when it is deleted, recreates it with the key it held.
type MemberlistSecretKeeper struct {
	Kube      kubernetes.Interface
	Namespace string
	Recorder  record.EventRecorder
	Log       *slog.Logger

	mu         sync.Mutex        // guards remembered, read by tests
	remembered map[string][]byte // the Secret's data last seen
}

// keeperRetry bounds the wait before a failed reconcile is tried again.
const (
	keeperRetryMin = time.Second
	keeperRetryMax = 30 * time.Second
)

// Run watches the Secret and keeps it until ctx ends.
func (k *MemberlistSecretKeeper) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(k.Kube, 0, informers.WithNamespace(k.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + MemberlistSecret }))
	secrets := factory.Core().V1().Secrets()
	changed := make(chan struct{}, 1)
	notify := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := secrets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify, UpdateFunc: func(_, obj any) { notify(obj) }, DeleteFunc: notify,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), secrets.Informer().HasSynced) {
		return ctx.Err()
	}
	lister := secrets.Lister().Secrets(k.Namespace)
	retry := keeperRetryMin
	var retryC <-chan time.Time
	notify(nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-retryC:
		}
		secret, err := lister.Get(MemberlistSecret)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err := k.reconcile(ctx, secret); err != nil {
			k.Log.Error("keeping the memberlist Secret", "err", err, "retry", retry)
			retryC = time.After(retry)
			retry = min(2*retry, keeperRetryMax)
			continue
		}
		retry, retryC = keeperRetryMin, nil
	}
}

// reconcile applies DecideMemberlistSecret to secret (nil when absent).
func (k *MemberlistSecretKeeper) reconcile(ctx context.Context, secret *corev1.Secret) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if secret != nil {
		if secret.Data[MemberlistSecretKey] != nil {
			k.remembered = maps.Clone(secret.Data)
		}
		return nil
	}
	var speakers []corev1.Pod
	if k.remembered == nil {
		pods, err := k.Kube.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: SpeakerSelector})
		if err != nil {
			return fmt.Errorf("listing the speaker pods: %w", err)
		}
		for _, p := range pods.Items {
			// A Running speaker that is not Ready may be one waiting
			// for this very Secret (the volume is optional); only a
			// Ready speaker is known to hold a key.
			if p.DeletionTimestamp == nil && PodReady(&p) {
				speakers = append(speakers, p)
			}
		}
	}
	switch DecideMemberlistSecret(false, k.remembered, len(speakers) > 0) {
	case SecretRecreate:
		if err := k.create(ctx, k.remembered); err != nil {
			return err
		}
		k.Log.Warn("the memberlist Secret was deleted: recreated with the key the speakers hold", "secret", k.Namespace+"/"+MemberlistSecret)
	case SecretCreateFresh:
		raw := make([]byte, 128)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		if err := k.create(ctx, map[string][]byte{MemberlistSecretKey: []byte(base64.StdEncoding.EncodeToString(raw))}); err != nil {
			return err
		}
		k.Log.Info("created the speakers' memberlist key", "secret", k.Namespace+"/"+MemberlistSecret)
	case SecretWaitForOperator:
		msg := fmt.Sprintf("Secret %s/%s is missing while %d speakers run with a key this controller never saw: not creating a new key, which would split them from restarted speakers; restore the Secret from a node's %s (docs/layer2.md)",
			k.Namespace, MemberlistSecret, len(speakers), "/var/lib/ironlb/memberlist-keys.json")
		k.Log.Error(msg)
		k.Recorder.Event(&speakers[0], corev1.EventTypeWarning, ReasonMemberlistSecretMissing, msg)
	}
	return nil
}

// create creates the Secret with data; a Secret created meanwhile (by the
// operator or another controller) is left as it is.
func (k *MemberlistSecretKeeper) create(ctx context.Context, data map[string][]byte) error {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: MemberlistSecret, Namespace: k.Namespace},
		Data:       maps.Clone(data),
	}
	_, err := k.Kube.CoreV1().Secrets(k.Namespace).Create(ctx, secret, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Secret %s/%s: %w", k.Namespace, MemberlistSecret, err)
	}
	return nil
}
