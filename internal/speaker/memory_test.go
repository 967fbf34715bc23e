package speaker

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/internal/announce"
	"github.com/ironlb/ironlb/internal/election"
	"github.com/ironlb/ironlb/internal/k8s"
)

const memoryConfig = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: scale, namespace: metallb-system}
spec: {addresses: [198.18.0.0/16]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-a, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.254}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-b, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 172.30.0.253}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: scale, namespace: metallb-system}
spec: {ipAddressPools: [scale]}
`

// BenchmarkSpeakerStateMemory measures, for n BGP Services advertised to
// two peers (the lab's BenchmarkBGPScale), the Go heap each part of a
// speaker's own state holds: the informer caches of the Services and
// their EndpointSlices (decoded from JSON as from the API server, trimmed
// as the informers trim them), their translation for the plan, and the
// planner, after a first change, with the plan the speaker keeps as
// applied. GoBGP's part is
// internal/bgp's BenchmarkSpeakerMemory. Run it alone with -benchtime 1x.
func BenchmarkSpeakerStateMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for range b.N {
				before := heapInUse()
				services, slices := cache.NewStore(cache.MetaNamespaceKeyFunc), cache.NewStore(cache.MetaNamespaceKeyFunc)
				for i := range n {
					svc, slice := apiServerObjects(b, i)
					mustAdd(b, services, svc)
					mustAdd(b, slices, slice)
				}
				cached := heapInUse()
				translated := newServiceCache()
				for _, obj := range services.List() {
					svc := obj.(*corev1.Service)
					translated.invalidate(k8s.ServiceKey(svc))
				}
				translated.refresh(func(key string) (announce.Service, bool) {
					obj, _, _ := services.GetByKey(key)
					slice, _, _ := slices.GetByKey(key + "-abcde")
					return serviceFor(obj.(*corev1.Service), []*discoveryv1.EndpointSlice{slice.(*discoveryv1.EndpointSlice)}), true
				})
				inTranslation := heapInUse()
				snap := &announce.Snapshot{Config: mustConfig(b, memoryConfig), Self: "node1", Services: translated.all(),
					Nodes:   map[string]announce.Node{"node1": {Name: "node1", Addresses: []netip.Addr{netip.MustParseAddr("172.30.0.11")}}},
					Members: map[string]bool{"node1": true}}
				planner := announce.NewPlanner(snap, election.NewElector())
				planner.Plan()
				// After its first change the planner holds two sets of
				// BGP maps (see announce.Planner.Plan): its steady state.
				changed := snap.Services[0]
				changed.EndpointNodes = map[string]bool{"node1": true}
				planner.UpdateService(changed)
				applied := planner.Plan()
				planned := heapInUse()
				if len(applied.BGP.Services) != n {
					b.Fatalf("%d Services advertised, want %d", len(applied.BGP.Services), n)
				}
				b.ReportMetric(mib(cached-before), "caches-MiB")
				b.ReportMetric(mib(inTranslation-cached), "translated-MiB")
				b.ReportMetric(mib(planned-inTranslation), "plan-MiB")
				runtime.KeepAlive(services)
				runtime.KeepAlive(slices)
				runtime.KeepAlive(planner)
			}
		})
	}
}

// apiServerObjects returns Service i and its EndpointSlice (ready endpoints
// on three nodes) as an informer holds them: with what the API server and
// the controllers add, decoded from JSON, trimmed.
func apiServerObjects(tb testing.TB, i int) (*corev1.Service, *discoveryv1.EndpointSlice) {
	name := fmt.Sprintf("scale-%d", i)
	ip := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String()
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "scale", UID: types.UID(fmt.Sprintf("8d6f1c2e-3b4a-4c5d-9e8f-%012d", i)),
			ResourceVersion: fmt.Sprint(100000 + i), CreationTimestamp: metav1.Now(),
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate}}}
	}
	svc := &corev1.Service{ObjectMeta: meta(name), Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
		IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicySingleStack),
		Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80), NodePort: 30080}},
		Selector: map[string]string{"app": name}, SessionAffinity: corev1.ServiceAffinityNone,
		ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
	}, Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: ip, IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}}}}
	svc.Annotations = map[string]string{"metallb.io/address-pool": "scale", "metallb.io/ip-allocated-from-pool": "scale"}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: meta(name + "-abcde"), AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(80))}}}
	slice.Labels = map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	for node := 1; node <= 3; node++ {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("172.30.0.%d", 10+node)},
			NodeName:   ptr.To(fmt.Sprintf("node%d", node)),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}})
	}
	return roundTrip(tb, svc), roundTrip(tb, slice)
}

// roundTrip encodes and decodes obj, so that it is laid out in memory as a
// decoded object is, and trims it as the informers do.
func roundTrip[T any](tb testing.TB, obj *T) *T {
	data, err := json.Marshal(obj)
	if err != nil {
		tb.Fatal(err)
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		tb.Fatal(err)
	}
	trimmed, err := trimForSpeaker(out)
	if err != nil {
		tb.Fatal(err)
	}
	return trimmed.(*T)
}

func mustAdd(tb testing.TB, store cache.Store, obj any) {
	if err := store.Add(obj); err != nil {
		tb.Fatal(err)
	}
}

// heapInUse returns the Go heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(bytes uint64) float64 { return float64(int64(bytes)) / (1 << 20) }
