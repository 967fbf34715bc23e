package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/controller"
)

// migrationServices is the number of Services MetalLB leaves behind.
const migrationServices = 200

// metallbService is one Service as MetalLB left it: its spec and
// annotations, and the address MetalLB wrote to its status.
type metallbService struct {
	svc  *corev1.Service
	ip   netip.Addr
	pool string
}

// metallbLeftovers returns the Services of namespace ns as MetalLB v0.13–0.16
// leaves them: spread over pools mig-a (198.18.40.0/24) and mig-b
// (198.18.41.0/24) away from the lowest addresses, the first 40 sharing an
// address in pairs (allow-shared-ip, one pair Cluster with a selector-less
// Local), with the current and the deprecated metallb.universe.tf annotation
// names mixed.
func metallbLeftovers(ns string) []metallbService {
	out := make([]metallbService, migrationServices)
	for i := range out {
		name := fmt.Sprintf("m-%03d", i)
		pools, nets := []string{"mig-a", "mig-b"}, []string{"198.18.40.", "198.18.41."}
		var ms metallbService
		ms.svc = newService(ns, name)
		if i < 40 { // pairs (2k, 2k+1) share 198.18.4x.(20+k)
			k := i / 2
			ms.pool, ms.ip = pools[k%2], addr(nets[k%2]+fmt.Sprint(20+k))
			key := []string{"metallb.universe.tf/allow-shared-ip", "metallb.io/allow-shared-ip"}[k%2]
			withAnnotations(key, fmt.Sprintf("pair-%d", k))(ms.svc)
			withPorts(int32(80 + i%2))(ms.svc)
			if k == 0 && i == 1 {
				ms.svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				ms.svc.Spec.Selector = nil
			}
		} else {
			ms.pool, ms.ip = pools[i%2], addr(nets[i%2]+fmt.Sprint(60+i/2))
			switch {
			case i%7 == 0:
				withAnnotations("metallb.universe.tf/loadBalancerIPs", ms.ip.String())(ms.svc)
			case i%5 == 0:
				withAnnotations("metallb.universe.tf/address-pool", ms.pool)(ms.svc)
			}
		}
		if i%3 == 0 {
			withAnnotations("metallb.universe.tf/ip-allocated-from-pool", ms.pool)(ms.svc)
		} else {
			withAnnotations("metallb.io/ip-allocated-from-pool", ms.pool)(ms.svc)
		}
		out[i] = ms
	}
	return out
}

const (
	migrationPools = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: mig-a, namespace: metallb-system}
spec: {addresses: [198.18.40.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: mig-b, namespace: metallb-system}
spec: {addresses: [198.18.41.0/24]}
`
	migrationAdvertisement = `
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: mig, namespace: metallb-system}
spec: {ipAddressPools: [mig-a, mig-b]}
`
)

// TestMigrationKeepsEveryAddress follows docs/migration.md with 200 Services
// MetalLB left behind: the controller is installed before the configuration,
// the configuration arrives one pool at a time, the pools are later deleted
// and applied again, and the controller is restarted between every step.
// Not one address may change, and a new Service gets an address nobody
// claims.
func TestMigrationKeepsEveryAddress(t *testing.T) {
	l := setup(t)
	kube := l.KubeClient()
	const ns = "migration"
	namespace(t, l, ns, nil)

	// MetalLB is gone: nobody manages the Services while they are created.
	if err := l.KillController(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	left := metallbLeftovers(ns)
	services := make([]*corev1.Service, len(left))
	perPool := map[string]map[netip.Addr]bool{"mig-a": {}, "mig-b": {}}
	for i, ms := range left {
		services[i] = ms.svc
		perPool[ms.pool][ms.ip] = true
	}
	t.Cleanup(func() {
		for _, svc := range services {
			if err := kube.CoreV1().Services(ns).Delete(context.Background(), svc.Name, metav1.DeleteOptions{}); err != nil {
				t.Errorf("delete %s: %v", svc.Name, err)
			}
		}
	})
	forEach(t, services, func(ctx context.Context, svc *corev1.Service) error {
		_, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		return err
	})
	forEach(t, services, func(ctx context.Context, svc *corev1.Service) error {
		i := slices.Index(services, svc)
		patch := fmt.Sprintf(`{"status":{"loadBalancer":{"ingress":[{"ip":%q}]}}}`, left[i].ip)
		_, err := kube.CoreV1().Services(ns).Patch(ctx, svc.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
		return err
	})
	want := addresses(t, kube, ns)
	unchanged := func(step string) {
		t.Helper()
		changed := 0
		got := addresses(t, kube, ns)
		for name, ips := range want {
			if !slices.Equal(got[name], ips) {
				changed++
				t.Errorf("%s: %s has %v, MetalLB gave it %v", step, name, got[name], ips)
			}
		}
		if changed > 0 {
			t.Fatalf("%s: %d addresses changed", step, changed)
		}
	}
	restart := func(step string) {
		t.Helper()
		startController(t, l)
		waitReconciled(t, l, waitTimeout)
		unchanged(step)
	}
	poolLoaded := func(name string) {
		t.Helper()
		waitPoolStatus(t, name, func(s v1beta1.IPAddressPoolStatus) error {
			if s.AssignedIPv4 != int64(len(perPool[name])) {
				return fmt.Errorf("%d addresses assigned, MetalLB's Services hold %d", s.AssignedIPv4, len(perPool[name]))
			}
			return nil
		})
	}

	began := time.Now()
	restart("controller installed, no configuration yet")
	waitEvent(t, l, services[0], controller.ReasonIPKeptOutsidePools, "198.18.40.20")
	restart("controller restarted, no configuration yet")

	applyRetrying(t, l, pool("mig-a", "{addresses: [198.18.40.0/24]}"))
	poolLoaded("mig-a")
	unchanged("pool mig-a applied")
	restart("controller restarted with pool mig-a only")

	applyRetrying(t, l, migrationPools+"---"+migrationAdvertisement)
	poolLoaded("mig-b")
	unchanged("pool mig-b and the L2Advertisement applied")
	restart("controller restarted with the whole configuration")
	t.Logf("documented migration of %d Services, 3 restarts: 0 addresses changed in %s", len(services), time.Since(began).Round(time.Millisecond))

	// The pools are deleted and applied again (the advertisement first:
	// the webhook refuses to orphan it).
	began = time.Now()
	deleteRetrying(t, l, migrationAdvertisement)
	deleteRetrying(t, l, migrationPools)
	probe := l.CreateService(t, newService(ns, "probe", withAnnotations("metallb.io/address-pool", "mig-a")))
	waitEvent(t, l, probe, controller.ReasonAllocationFailed, `requests pool "mig-a", which does not exist`)
	unchanged("pools deleted")
	restart("controller restarted without pools")
	applyRetrying(t, l, migrationPools+"---"+migrationAdvertisement)
	t.Cleanup(func() { deleteRetrying(t, l, migrationAdvertisement); deleteRetrying(t, l, migrationPools) })
	if ip := waitIPs(t, l, probe, 1)[0]; ip != addr("198.18.40.0") {
		t.Errorf("a new Service got %s, want 198.18.40.0, the lowest address no Service claims", ip)
	}
	unchanged("pools applied again")
	restart("controller restarted with the pools back")
	poolLoaded("mig-b")
	t.Logf("pools deleted and applied again, 1 restart: 0 addresses changed in %s", time.Since(began).Round(time.Millisecond))
}

// applyRetrying applies manifests, retrying while the webhook of a
// controller that just started is not served yet.
func applyRetrying(t testing.TB, l *lab.Lab, manifests string) {
	t.Helper()
	lab.Eventually(t, waitTimeout, "apply the configuration", func() error {
		return l.Apply(t.Context(), manifests)
	})
}

// deleteRetrying deletes the objects of manifests, like applyRetrying.
func deleteRetrying(t testing.TB, l *lab.Lab, manifests string) {
	t.Helper()
	lab.Eventually(t, waitTimeout, "delete the configuration", func() error {
		_, err := l.Kubectl(context.Background(), manifests, "delete", "--ignore-not-found", "-f", "-")
		return err
	})
}
