package lab

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// minServiceIPSyncInterval is the least time between two syncs of the
// Service IPs.
const minServiceIPSyncInterval = 100 * time.Millisecond

// RunServiceIPSync does the part of kube-proxy (IPVS mode) that the lab
// needs: it keeps, on every node's kube-ipvs0, exactly the load-balancer
// ingress IPs of all LoadBalancer Services, until ctx ends. The lab runs it
// as its own process (`lab service-ip-sync`), so that it outlives a kept lab's
// command.
func RunServiceIPSync(ctx context.Context, kubeconfig string, nodes int, log *slog.Logger) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	config.ContentType = "application/vnd.kubernetes.protobuf"
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(kube, 0)
	services := factory.Core().V1().Services()
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	})
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	log.Info("syncing Service IPs", "nodes", nodes, "device", ServiceDevice)
	retry := time.NewTimer(time.Hour)
	var lastSync time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-retry.C:
		}
		// Like kube-proxy's minimum sync period: a burst of changes (a
		// controller assigning thousands of addresses) is applied in a few
		// syncs, not one per change.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(lastSync.Add(minServiceIPSyncInterval))):
		}
		lastSync = time.Now()
		list, err := services.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		want := LoadBalancerIPs(list)
		failed := false
		for i := 1; i <= nodes; i++ {
			if err := syncDeviceAddrs(Namespace(NodeNS(i)), ServiceDevice, want, log); err != nil {
				log.Error("sync Service IPs", "node", NodeName(i), "err", err)
				failed = true
			}
		}
		if failed {
			retry.Reset(time.Second)
		}
	}
}

// LoadBalancerIPs returns the ingress IPs of all LoadBalancer Services.
func LoadBalancerIPs(services []*corev1.Service) map[netip.Addr]bool {
	ips := map[netip.Addr]bool{}
	for _, svc := range services {
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		for _, ingress := range svc.Status.LoadBalancer.Ingress {
			if addr, err := netip.ParseAddr(ingress.IP); err == nil {
				ips[addr] = true
			}
		}
	}
	return ips
}

// syncDeviceAddrs makes the host addresses (/32, /128) on device in ns
// exactly want, leaving the others alone.
func syncDeviceAddrs(ns Namespace, device string, want map[netip.Addr]bool, log *slog.Logger) error {
	have, err := DeviceAddrs(ns, device)
	if err != nil {
		return err
	}
	h, err := ns.Netlink()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(device)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", device, ns, err)
	}
	hostAddr := func(ip netip.Addr) *netlink.Addr {
		return &netlink.Addr{IPNet: prefixToIPNet(netip.PrefixFrom(ip, ip.BitLen()))}
	}
	for _, ip := range have {
		if !want[ip] {
			if err := h.AddrDel(link, hostAddr(ip)); err != nil {
				return fmt.Errorf("remove %s from %s in %s: %w", ip, device, ns, err)
			}
			log.Info("removed Service IP", "ns", ns, "ip", ip)
		}
	}
	present := make(map[netip.Addr]bool, len(have))
	for _, ip := range have {
		present[ip] = true
	}
	for ip := range want {
		if present[ip] {
			continue
		}
		addr := hostAddr(ip)
		if ip.Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add %s to %s in %s: %w", ip, device, ns, err)
		}
		log.Info("added Service IP", "ns", ns, "ip", ip)
	}
	return nil
}

// DeviceAddrs lists the host addresses (/32, /128) on device in ns.
func DeviceAddrs(ns Namespace, device string) ([]netip.Addr, error) {
	h, err := ns.Netlink()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	link, err := h.LinkByName(device)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", device, ns, err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		ones, bits := a.Mask.Size()
		if ok && ones == bits {
			ips = append(ips, ip.Unmap())
		}
	}
	return ips, nil
}
