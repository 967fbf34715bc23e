package statusview

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/k8s"
)

// Fetch reads the view's input from the API server: the LoadBalancer
// Services of class lbClass ("" for Services without a class), the
// configuration, the status objects and ConfigurationStates of namespace, and
// the Warning Events of Services.
func Fetch(ctx context.Context, c *k8s.Clients, namespace, lbClass string) (Input, error) {
	var in Input
	services, err := c.Kube.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return in, fmt.Errorf("listing services: %w", err)
	}
	for _, svc := range services.Items {
		if k8s.IsOurs(&svc, lbClass) {
			in.Services = append(in.Services, svc)
		}
	}
	res, err := c.ListConfig(ctx, namespace)
	if err != nil {
		return in, err
	}
	in.Config, in.ConfigErr = config.Build(res)

	var l2 v1beta1.ServiceL2StatusList
	if err := c.MetalLBv1beta1.Get().Namespace(namespace).Resource("servicel2statuses").Do(ctx).Into(&l2); err != nil {
		return in, fmt.Errorf("listing servicel2statuses: %w", err)
	}
	in.L2 = l2.Items
	var bgp v1beta1.ServiceBGPStatusList
	if err := c.MetalLBv1beta1.Get().Namespace(namespace).Resource("servicebgpstatuses").Do(ctx).Into(&bgp); err != nil {
		return in, fmt.Errorf("listing servicebgpstatuses: %w", err)
	}
	in.BGP = bgp.Items

	var states v1beta1.ConfigurationStateList
	err = c.MetalLBv1beta1.Get().Namespace(namespace).Resource("configurationstates").Do(ctx).Into(&states)
	switch {
	case apierrors.IsNotFound(err):
		// A cluster installed before ConfigurationState existed.
	case err != nil:
		return in, fmt.Errorf("listing configurationstates: %w", err)
	default:
		in.States = states.Items
	}

	selector := fields.Set{"involvedObject.kind": "Service", "type": corev1.EventTypeWarning}.AsSelector().String()
	events, err := c.Kube.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		return in, fmt.Errorf("listing events: %w", err)
	}
	in.Events = events.Items
	return in, nil
}
