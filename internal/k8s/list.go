package k8s

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/config"
)

// ListConfig reads the metallb.io objects and Secrets of namespace straight
// from the API server (a consistent read, not an informer cache), for callers
// that must see every write that came before: the admission webhook judging a
// change against the objects created just before it, and `controller status`.
func (c *Clients) ListConfig(ctx context.Context, namespace string) (config.Resources, error) {
	var res config.Resources
	for _, k := range config.Kinds {
		list := k.NewList()
		if err := c.ForVersion(k.Version).Get().Namespace(namespace).Resource(k.Resource).Do(ctx).Into(list); err != nil {
			return res, fmt.Errorf("listing %s in %s: %w", k.Resource, namespace, err)
		}
		if err := k.SetFromList(&res, list); err != nil {
			return res, fmt.Errorf("listing %s in %s: %w", k.Resource, namespace, err)
		}
	}
	secrets, err := c.Kube.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, fmt.Errorf("listing secrets in %s: %w", namespace, err)
	}
	res.Secrets = make(map[string]*corev1.Secret, len(secrets.Items))
	for i := range secrets.Items {
		s := &secrets.Items[i]
		res.Secrets[s.Namespace+"/"+s.Name] = s
	}
	return res, nil
}
