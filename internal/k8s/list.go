package k8s

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
	"github.com/ironlb/ironlb/internal/config"
)

// ListConfig reads the metallb.io objects and Secrets of namespace straight
// from the API server (a consistent read, not an informer cache), for callers
// that must see every write that came before: the admission webhook judging a
// change against the objects created just before it, and `controller status`.
func (c *Clients) ListConfig(ctx context.Context, namespace string) (config.Resources, error) {
	var res config.Resources
	var pools v1beta1.IPAddressPoolList
	var l2 v1beta1.L2AdvertisementList
	var bgp v1beta1.BGPAdvertisementList
	var communities v1beta1.CommunityList
	var bfd v1beta1.BFDProfileList
	var peers v1beta2.BGPPeerList
	for _, l := range []struct {
		client   rest.Interface
		resource string
		into     runtime.Object
	}{
		{c.MetalLBv1beta1, "ipaddresspools", &pools},
		{c.MetalLBv1beta1, "l2advertisements", &l2},
		{c.MetalLBv1beta1, "bgpadvertisements", &bgp},
		{c.MetalLBv1beta1, "communities", &communities},
		{c.MetalLBv1beta1, "bfdprofiles", &bfd},
		{c.MetalLBv1beta2, "bgppeers", &peers},
	} {
		if err := l.client.Get().Namespace(namespace).Resource(l.resource).Do(ctx).Into(l.into); err != nil {
			return res, fmt.Errorf("listing %s in %s: %w", l.resource, namespace, err)
		}
	}
	secrets, err := c.Kube.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, fmt.Errorf("listing secrets in %s: %w", namespace, err)
	}
	res = config.Resources{
		Pools:             pools.Items,
		L2Advertisements:  l2.Items,
		BGPAdvertisements: bgp.Items,
		Communities:       communities.Items,
		BFDProfiles:       bfd.Items,
		Peers:             peers.Items,
		Secrets:           make(map[string]*corev1.Secret, len(secrets.Items)),
	}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		res.Secrets[s.Namespace+"/"+s.Name] = s
	}
	return res, nil
}
