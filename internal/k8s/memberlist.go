package k8s

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Memberlist Secret coordinates: the speakers' gossip key, shared by every
// speaker through the DaemonSet's secretKeyRef.
const (
	MemberlistSecret    = "memberlist"
	MemberlistSecretKey = "secretkey"
)

// EnsureMemberlistSecret creates the memberlist Secret with a random key if
// it does not exist yet. An existing Secret is never changed.
func EnsureMemberlistSecret(ctx context.Context, kube kubernetes.Interface, namespace string) (created bool, err error) {
	secrets := kube.CoreV1().Secrets(namespace)
	if _, err := secrets.Get(ctx, MemberlistSecret, metav1.GetOptions{}); err == nil {
		return false, nil
	} else if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("reading Secret %s/%s: %w", namespace, MemberlistSecret, err)
	}
	raw := make([]byte, 128)
	if _, err := rand.Read(raw); err != nil {
		return false, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: MemberlistSecret, Namespace: namespace},
		Data:       map[string][]byte{MemberlistSecretKey: []byte(base64.StdEncoding.EncodeToString(raw))},
	}
	_, err = secrets.Create(ctx, secret, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return false, nil // another controller won the race
	}
	if err != nil {
		return false, fmt.Errorf("creating Secret %s/%s: %w", namespace, MemberlistSecret, err)
	}
	return true, nil
}
