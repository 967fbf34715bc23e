package webhook

import (
	"context"
	"fmt"
	"net/netip"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/controller"
	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/k8s"
)

// AddressInUse is an address a Service's status shows.
type AddressInUse struct {
	Service string // namespace/name
	IP      netip.Addr
}

// maxInUseWarnings bounds the warnings of one review; the rest are counted.
const maxInUseWarnings = 10

// UnpooledWarnings returns the admission warnings for a change to an
// IPAddressPool that leaves addresses in use in no pool (a pool deleted or
// shrunk): one per address, naming its Service. ironlb keeps such addresses
// for their Services, unannounced, until a pool contains them again
// (docs/allocation.md), so the change is allowed, with a warning. Pool
// membership is the allocator's (ipam.Allocator.PoolOf). inUse is called
// only for a change that may remove addresses. Other changes, and
// configurations that do not build, give no warning.
func (v Validator) UnpooledWarnings(req *admissionv1.AdmissionRequest, current config.Resources, inUse func() ([]AddressInUse, error)) []string {
	if req.Kind.Group != Group || req.Kind.Kind != config.KindIPAddressPool || req.Operation == admissionv1.Create {
		return nil
	}
	raw := req.Object.Raw
	if req.Operation == admissionv1.Delete {
		raw = req.OldObject.Raw
	}
	k, _ := config.KindNamed(config.KindIPAddressPool)
	next, err := applyChange(k, current, req.Operation, raw)
	if err != nil {
		return nil
	}
	before, errBefore := poolsOf(current)
	after, errAfter := poolsOf(next)
	if errBefore != nil || errAfter != nil {
		return nil
	}
	uses, err := inUse()
	if err != nil {
		return []string{fmt.Sprintf("cannot check whether this change leaves addresses in use in no pool: %v", err)}
	}
	var warnings []string
	left := 0
	for _, use := range uses {
		pool, wasPooled := before.PoolOf(use.IP)
		if _, pooled := after.PoolOf(use.IP); !wasPooled || pooled {
			continue
		}
		if len(warnings) == maxInUseWarnings {
			left++
			continue
		}
		warnings = append(warnings, fmt.Sprintf("%s of Service %s would be in no IPAddressPool (was in %s): the Service keeps it, not announced, until a pool contains it again",
			use.IP, use.Service, pool))
	}
	if left > 0 {
		warnings = append(warnings, fmt.Sprintf("and %d more addresses in use would be in no IPAddressPool", left))
	}
	return warnings
}

// poolsOf returns an empty allocator over the pools of res.
func poolsOf(res config.Resources) (*ipam.Allocator, error) {
	cfg, err := config.Build(res)
	if err != nil {
		return nil, err
	}
	return ipam.New(controller.Pools(cfg))
}

// ServicesInUse lists, from the API server, the addresses the status of
// every LoadBalancer Service of lbClass shows (see k8s.IsOurs).
func ServicesInUse(ctx context.Context, kube kubernetes.Interface, lbClass string) ([]AddressInUse, error) {
	list, err := kube.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []AddressInUse
	for i := range list.Items {
		svc := &list.Items[i]
		if !k8s.IsOurs(svc, lbClass) {
			continue
		}
		for _, ip := range k8s.StatusIPs(svc) {
			out = append(out, AddressInUse{Service: k8s.ServiceKey(svc), IP: ip})
		}
	}
	return out, nil
}
