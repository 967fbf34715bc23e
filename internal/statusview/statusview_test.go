package statusview

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/config/configtest"
	"github.com/ironlb/ironlb/internal/configstate"
	"github.com/ironlb/ironlb/internal/k8s"
)

const configYAML = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.168.1.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: public, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24, "2001:db8::/120"]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dark, namespace: metallb-system}
spec: {addresses: [198.51.100.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan, public]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: public, namespace: metallb-system}
spec:
  ipAddressPools: [public]
  serviceSelectors: [{matchLabels: {exposure: internet}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 10.0.0.1}
`

func buildConfig(t *testing.T) *config.Config {
	return configtest.Build(t, configYAML)
}

func service(ns, name string, labels, annotations map[string]string, ips ...string) corev1.Service {
	svc := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
	for _, ip := range ips {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return svc
}

func l2Status(ns, name, node string, interfaces ...string) v1beta1.ServiceL2Status {
	s := v1beta1.ServiceL2Status{Status: v1beta1.MetalLBServiceL2Status{Node: node, ServiceNamespace: ns, ServiceName: name}}
	for _, i := range interfaces {
		s.Status.Interfaces = append(s.Status.Interfaces, v1beta1.InterfaceInfo{Name: i})
	}
	return s
}

func annotated(s v1beta1.ServiceL2Status, annotations map[string]string) v1beta1.ServiceL2Status {
	s.Annotations = annotations
	return s
}

func bgpStatus(ns, name, node string, peers ...string) v1beta1.ServiceBGPStatus {
	return v1beta1.ServiceBGPStatus{Status: v1beta1.MetalLBServiceBGPStatus{Node: node, ServiceNamespace: ns, ServiceName: name, Peers: peers}}
}

func warning(ns, name, reason, message string, at time.Time) corev1.Event {
	return corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: "Service", Namespace: ns, Name: name},
		Type:           corev1.EventTypeWarning,
		Reason:         reason,
		Message:        message,
		LastTimestamp:  metav1.NewTime(at),
	}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

var fromPool = func(pool string) map[string]string {
	return map[string]string{"metallb.io/ip-allocated-from-pool": pool}
}

func TestBuild(t *testing.T) {
	cfg := buildConfig(t)
	t1 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	internet := map[string]string{"exposure": "internet"}
	for _, tc := range []struct {
		name  string
		input Input
		want  Row
	}{
		{
			name: "layer 2 announced by one node",
			input: Input{
				Services: []corev1.Service{service("default", "web", nil, fromPool("lan"), "192.168.1.10")},
				L2:       []v1beta1.ServiceL2Status{l2Status("default", "web", "node-a", "eth0")},
			},
			want: Row{Service: "default/web", IPs: addrs("192.168.1.10"), Pool: "lan", Protocols: []string{"layer2"}, AnnouncedBy: []string{"node-a (eth0)"}},
		},
		{
			name: "dual-stack over layer 2 and BGP from two nodes",
			input: Input{
				Services: []corev1.Service{service("shop", "api", internet, fromPool("public"), "203.0.113.5", "2001:db8::5")},
				L2:       []v1beta1.ServiceL2Status{l2Status("shop", "api", "node-b")},
				BGP: []v1beta1.ServiceBGPStatus{
					bgpStatus("shop", "api", "node-c", "router"),
					bgpStatus("shop", "api", "node-a", "spine-2", "spine-1"),
				},
			},
			want: Row{Service: "shop/api", IPs: addrs("203.0.113.5", "2001:db8::5"), Pool: "public", Protocols: []string{"layer2", "bgp"},
				AnnouncedBy: []string{"node-b", "node-a → spine-1,spine-2", "node-c → router"}},
		},
		{
			name: "service selector keeps BGP out",
			input: Input{
				Services: []corev1.Service{service("shop", "admin", nil, fromPool("public"), "203.0.113.6")},
				L2:       []v1beta1.ServiceL2Status{l2Status("shop", "admin", "node-b")},
			},
			want: Row{Service: "shop/admin", IPs: addrs("203.0.113.6"), Pool: "public", Protocols: []string{"layer2"}, AnnouncedBy: []string{"node-b"}},
		},
		{
			name: "pool found from the address when the annotation is missing",
			input: Input{
				Services: []corev1.Service{service("default", "old", nil, nil, "192.168.1.20")},
				L2:       []v1beta1.ServiceL2Status{l2Status("default", "old", "node-a")},
			},
			want: Row{Service: "default/old", IPs: addrs("192.168.1.20"), Pool: "lan", Protocols: []string{"layer2"}, AnnouncedBy: []string{"node-a"}},
		},
		{
			name: "no IP: the newest warning says why",
			input: Input{
				Services: []corev1.Service{service("default", "pending", nil, nil)},
				Events: []corev1.Event{
					warning("default", "pending", "AllocationFailed", "no available IPs in pool lan", t1),
					warning("default", "pending", "AllocationFailed", "pool \"gold\" does not exist", t1.Add(time.Minute)),
					warning("default", "other", "AllocationFailed", "unrelated", t1.Add(time.Hour)),
				},
			},
			want: Row{Service: "default/pending", Problem: `no IP: AllocationFailed: pool "gold" does not exist`},
		},
		{
			name:  "no IP and no event",
			input: Input{Services: []corev1.Service{service("default", "new", nil, nil)}},
			want:  Row{Service: "default/new", Problem: "no IP yet"},
		},
		{
			name:  "pool without advertisement",
			input: Input{Services: []corev1.Service{service("default", "dark", nil, fromPool("dark"), "198.51.100.7")}},
			want: Row{Service: "default/dark", IPs: addrs("198.51.100.7"), Pool: "dark",
				Problem: "not advertised: no L2Advertisement or BGPAdvertisement selects pool dark for this Service"},
		},
		{
			name:  "advertised but nobody announces",
			input: Input{Services: []corev1.Service{service("default", "idle", nil, fromPool("lan"), "192.168.1.30")}},
			want: Row{Service: "default/idle", IPs: addrs("192.168.1.30"), Pool: "lan", Protocols: []string{"layer2"},
				Problem: "no node announces it, and no speaker reported why (is one running?)"},
		},
		{
			name: "nobody may announce: the speakers' Event says why",
			input: Input{
				Services: []corev1.Service{service("default", "idle", nil, fromPool("lan"), "192.168.1.30")},
				Events: []corev1.Event{warning("default", "idle", k8s.ReasonNoEligibleNode,
					"no node may announce 192.168.1.30 in layer 2: NoEndpoints: node-a, node-b", t1)},
			},
			want: Row{Service: "default/idle", IPs: addrs("192.168.1.30"), Pool: "lan", Protocols: []string{"layer2"},
				Problem: "no node may announce 192.168.1.30 in layer 2: NoEndpoints: node-a, node-b"},
		},
		{
			name: "the owner's speaker explains the election",
			input: Input{
				Services: []corev1.Service{service("default", "far", nil, fromPool("lan"), "192.168.1.40")},
				L2: []v1beta1.ServiceL2Status{annotated(l2Status("default", "far", "node-a"), map[string]string{
					k8s.AnnotationL2Rule: k8s.L2RuleAnyInterface, k8s.AnnotationL2NotEligible: "NotMember: node-b"})},
			},
			want: Row{Service: "default/far", IPs: addrs("192.168.1.40"), Pool: "lan", Protocols: []string{"layer2"},
				AnnouncedBy: []string{"node-a [any interface]"}, NotEligible: "NotMember: node-b"},
		},
		{
			name:  "address outside every pool",
			input: Input{Services: []corev1.Service{service("default", "stray", nil, nil, "10.9.9.9")}},
			want: Row{Service: "default/stray", IPs: addrs("10.9.9.9"),
				Problem: "IP outside every pool: kept, not announced until a pool contains it again"},
		},
		{
			name:  "annotation naming a deleted pool",
			input: Input{Services: []corev1.Service{service("default", "orphan", nil, fromPool("deleted"), "10.9.9.8")}},
			want: Row{Service: "default/orphan", IPs: addrs("10.9.9.8"),
				Problem: "IP outside every pool: kept, not announced until a pool contains it again"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.input.Config = cfg
			view := Build(tc.input)
			if len(view.Rows) != 1 {
				t.Fatalf("rows = %+v", view.Rows)
			}
			if got := view.Rows[0]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("row =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestBuildWithRefusedConfig(t *testing.T) {
	view := Build(Input{
		Services:  []corev1.Service{service("default", "web", nil, fromPool("lan"), "192.168.1.10")},
		ConfigErr: errors.New("IPAddressPool metallb-system/b: spec.addresses[0]: overlaps\nL2Advertisement metallb-system/x: bad"),
	})
	if len(view.Notes) != 1 || !strings.Contains(view.Notes[0], "overlaps; L2Advertisement") {
		t.Errorf("notes = %q", view.Notes)
	}
	want := Row{Service: "default/web", IPs: addrs("192.168.1.10"), Pool: "lan"}
	if !reflect.DeepEqual(view.Rows[0], want) {
		t.Errorf("row = %+v", view.Rows[0])
	}
}

func TestBuildNotesComponentsWithoutTheLatestConfiguration(t *testing.T) {
	refused := errors.New("BGPPeer metallb-system/edge: spec.passwordSecret: Secret metallb-system/pw not found")
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	state := func(name string, err error, everLoaded bool) v1beta1.ConfigurationState {
		return v1beta1.ConfigurationState{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Status:     configstate.Status(v1beta1.ConfigurationStateStatus{}, err, everLoaded, at),
		}
	}
	view := Build(Input{States: []v1beta1.ConfigurationState{
		state("speaker-node2", refused, true),
		state("controller", nil, true),
		state("speaker-node1", refused, false),
		{ObjectMeta: metav1.ObjectMeta{Name: "speaker-node3"}}, // not reported yet
	}})
	want := []string{
		"speaker-node1 has no valid configuration: it assigns or announces nothing",
		"speaker-node2 refused the latest configuration and serves its last valid one",
	}
	if !reflect.DeepEqual(view.Notes, want) {
		t.Errorf("notes =\n%q\nwant\n%q", view.Notes, want)
	}
}

func TestRender(t *testing.T) {
	view := View{
		Notes: []string{"configuration refused: x"},
		Rows: []Row{
			{Service: "default/web", IPs: addrs("192.168.1.10", "2001:db8::a"), Pool: "lan", Protocols: []string{"layer2", "bgp"},
				AnnouncedBy: []string{"node-a (eth0)", "node-b → router"}, NotEligible: "NoInterface: node-c"},
			{Service: "default/pending", Problem: "no IP yet"},
		},
	}
	var buf bytes.Buffer
	if err := Render(&buf, view); err != nil {
		t.Fatal(err)
	}
	want := `note: configuration refused: x
SERVICE          IP                        POOL  PROTOCOL    ANNOUNCED BY                    PROBLEM    NOT ELIGIBLE
default/web      192.168.1.10,2001:db8::a  lan   layer2+bgp  node-a (eth0); node-b → router  -          NoInterface: node-c
default/pending  -                         -     -           -                               no IP yet  -
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestRowsAreSorted(t *testing.T) {
	view := Build(Input{Services: []corev1.Service{service("b", "x", nil, nil), service("a", "y", nil, nil)}})
	if view.Rows[0].Service != "a/y" || view.Rows[1].Service != "b/x" {
		t.Errorf("order = %s, %s", view.Rows[0].Service, view.Rows[1].Service)
	}
}
