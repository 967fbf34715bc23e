package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/annotations"
	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/k8s"
)

// waitTimeout bounds every wait for the controller to act.
const waitTimeout = 30 * time.Second

// controllerRun is the controller this package started last.
var controllerRun struct {
	extra string // its extra flags, "" for the default controller
	// crashes counts the controller containers the tests killed on purpose
	// (crashController).
	crashes int32
}

// startController rolls out a new controller pod whose args are the
// manifest's plus extra, and waits until it is Ready (its /readyz).
func startController(t testing.TB, l *lab.Lab, extra ...string) {
	t.Helper()
	if err := l.StartControllerWith(extra...); err != nil {
		t.Fatal(err)
	}
	controllerRun.extra = strings.Join(extra, " ")
}

// crashController kills the controller's container with SIGKILL and waits
// until the kubelet has started it again and it is Ready.
func crashController(t testing.TB, l *lab.Lab) {
	t.Helper()
	if err := l.KillControllerContainer(t.Context()); err != nil {
		t.Fatal(err)
	}
	controllerRun.crashes++
}

// setup returns the lab with the default controller running, starting it if
// it is not, and fails the test at its end if the controller's container
// restarted (crashed) without the test killing it.
func setup(t *testing.T) *lab.Lab {
	t.Helper()
	l := lab.Shared(t)
	pod, err := l.ControllerPod(t.Context())
	if err != nil || controllerRun.extra != "" {
		startController(t, l)
		if pod, err = l.ControllerPod(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	restarts, crashes := restartCount(pod), controllerRun.crashes
	t.Cleanup(func() {
		now, err := l.KubeClient().CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return // the test replaced the pod
		}
		if unexpected := restartCount(now) - restarts - (controllerRun.crashes - crashes); unexpected > 0 {
			t.Errorf("the controller's container in pod %s restarted %d times unasked (kubectl -n %s logs -p %s): %+v",
				pod.Name, unexpected, pod.Namespace, pod.Name, now.Status.ContainerStatuses)
		}
	})
	return l
}

// restartCount is the restart count of the controller pod's container.
func restartCount(pod *corev1.Pod) int32 {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == "controller" {
			return s.RestartCount
		}
	}
	return 0
}

// metric returns the value of an unlabelled metric at a metrics endpoint
// (l.ControllerMetricsURL(): the Ready controller pod's).
func metric(ctx context.Context, endpoint, name string) (float64, error) {
	body, err := lab.Scrape(ctx, endpoint)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(body) {
		value, found := strings.CutPrefix(strings.TrimSpace(line), name+" ")
		if found {
			return strconv.ParseFloat(value, 64)
		}
	}
	return 0, fmt.Errorf("metric %s not exported", name)
}

// namespace creates a namespace with labels; it is left behind (the lab
// goes down with it).
func namespace(t testing.TB, l *lab.Lab, name string, labels map[string]string) {
	t.Helper()
	_, err := l.KubeClient().CoreV1().Namespaces().Create(t.Context(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// labelNamespace replaces a namespace's labels.
func labelNamespace(t testing.TB, l *lab.Lab, name string, labels map[string]string) {
	t.Helper()
	ns, err := l.KubeClient().CoreV1().Namespaces().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels = labels
	if _, err := l.KubeClient().CoreV1().Namespaces().Update(t.Context(), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("label namespace %s: %v", name, err)
	}
}

// applyConfig applies metallb.io objects through the webhook, deletes them
// when the test ends, and waits until the controller has loaded each pool in
// pools (it writes the pool's status counts). Pool names must be unique in the package: the wait
// relies on a status the controller has not written before.
func applyConfig(t testing.TB, l *lab.Lab, manifests string, pools ...string) {
	t.Helper()
	applyRetrying(t, l, manifests)
	t.Cleanup(func() { deleteRetrying(t, l, manifests) })
	for _, name := range pools {
		waitPoolStatus(t, name, func(s v1beta1.IPAddressPoolStatus) error {
			if s == (v1beta1.IPAddressPoolStatus{}) {
				return fmt.Errorf("no status written")
			}
			return nil
		})
	}
}

// pool returns a metallb-system IPAddressPool manifest.
func pool(name, spec string) string {
	return fmt.Sprintf("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: %s, namespace: %s}\nspec: %s\n---\n",
		name, lab.IronLBNamespace, spec)
}

var metallbClients *k8s.Clients

// getPool reads an IPAddressPool from the API.
func getPool(t testing.TB, name string) (*v1beta1.IPAddressPool, error) {
	t.Helper()
	if metallbClients == nil {
		var err error
		if metallbClients, err = k8s.NewClients(lab.Shared(t).Kubeconfig(), "ironlb-e2e"); err != nil {
			t.Fatal(err)
		}
	}
	var p v1beta1.IPAddressPool
	err := metallbClients.MetalLBv1beta1.Get().Namespace(lab.IronLBNamespace).Resource("ipaddresspools").Name(name).
		Do(t.Context()).Into(&p)
	return &p, err
}

// waitPoolStatus waits until check accepts the pool's status.
func waitPoolStatus(t testing.TB, name string, check func(v1beta1.IPAddressPoolStatus) error) {
	t.Helper()
	lab.Eventually(t, waitTimeout, "status of IPAddressPool "+name, func() error {
		p, err := getPool(t, name)
		if err != nil {
			return err
		}
		if err := check(p.Status); err != nil {
			return fmt.Errorf("%+v: %w", p.Status, err)
		}
		return nil
	})
}

// newService returns a single-stack IPv4 LoadBalancer Service for port 80
// without node ports; mutate adjusts it.
func newService(namespace, name string, mutate ...func(*corev1.Service)) *corev1.Service {
	svc := lab.NewLoadBalancerService(namespace, name)
	svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	svc.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
	for _, m := range mutate {
		m(svc)
	}
	return svc
}

// withAnnotations sets annotations on a Service.
func withAnnotations(kv ...string) func(*corev1.Service) {
	return func(svc *corev1.Service) {
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			svc.Annotations[kv[i]] = kv[i+1]
		}
	}
}

// withFamilies sets the Service's family policy and families.
func withFamilies(policy corev1.IPFamilyPolicy, families ...corev1.IPFamily) func(*corev1.Service) {
	return func(svc *corev1.Service) {
		svc.Spec.IPFamilyPolicy = ptr.To(policy)
		svc.Spec.IPFamilies = families
	}
}

// withPorts replaces the Service's ports with TCP ports.
func withPorts(ports ...int32) func(*corev1.Service) {
	return func(svc *corev1.Service) {
		svc.Spec.Ports = nil
		for _, p := range ports {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", p), Protocol: corev1.ProtocolTCP, Port: p})
		}
	}
}

// getService reads a Service from the API.
func getService(t testing.TB, l *lab.Lab, namespace, name string) *corev1.Service {
	t.Helper()
	svc, err := l.KubeClient().CoreV1().Services(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// statusIPs returns the addresses in a Service's status, in order.
func statusIPs(svc *corev1.Service) []netip.Addr { return k8s.StatusIPs(svc) }

// waitIPs waits until the Service's status holds n addresses and the
// controller's pool annotation is set, and returns them.
func waitIPs(t testing.TB, l *lab.Lab, svc *corev1.Service, n int) []netip.Addr {
	t.Helper()
	var ips []netip.Addr
	lab.Eventually(t, waitTimeout, fmt.Sprintf("%s/%s gets %d addresses", svc.Namespace, svc.Name, n), func() error {
		current, err := l.KubeClient().CoreV1().Services(svc.Namespace).Get(t.Context(), svc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ips = statusIPs(current)
		if len(ips) != n || current.Annotations[annotations.IPAllocatedFromPool] == "" {
			return fmt.Errorf("status %v, annotations %v", current.Status.LoadBalancer.Ingress, current.Annotations)
		}
		return nil
	})
	return ips
}

// waitStatus waits until check accepts the Service as read from the API.
func waitStatus(t testing.TB, l *lab.Lab, namespace, name, what string, check func(*corev1.Service) error) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	lab.Eventually(t, waitTimeout, namespace+"/"+name+": "+what, func() error {
		var err error
		svc, err = l.KubeClient().CoreV1().Services(namespace).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return check(svc)
	})
	return svc
}

// hasIPs returns a check that the status holds exactly want.
func hasIPs(want ...netip.Addr) func(*corev1.Service) error {
	return func(svc *corev1.Service) error {
		if got := statusIPs(svc); !slices.Equal(got, want) {
			return fmt.Errorf("status IPs %v, want %v", got, want)
		}
		return nil
	}
}

// waitEvent waits for an Event on the Service with reason whose message
// contains every one of parts, and returns its message.
func waitEvent(t testing.TB, l *lab.Lab, svc *corev1.Service, reason string, parts ...string) string {
	t.Helper()
	var message string
	lab.Eventually(t, waitTimeout, fmt.Sprintf("Event %s on %s/%s containing %q", reason, svc.Namespace, svc.Name, parts), func() error {
		var err error
		message, err = findEvent(t.Context(), l, svc, reason, parts...)
		return err
	})
	return message
}

// findEvent looks for an Event on the Service like waitEvent, once.
func findEvent(ctx context.Context, l *lab.Lab, svc *corev1.Service, reason string, parts ...string) (string, error) {
	events, err := l.KubeClient().CoreV1().Events(svc.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Service,involvedObject.name=" + svc.Name + ",reason=" + reason})
	if err != nil {
		return "", err
	}
	var seen []string
	for _, e := range events.Items {
		if svc.UID != "" && e.InvolvedObject.UID != svc.UID {
			continue
		}
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(e.Message, p) }) {
			return e.Message, nil
		}
		seen = append(seen, e.Message)
	}
	return "", fmt.Errorf("events with reason %s: %q", reason, seen)
}

// patchService applies a JSON merge patch to a Service.
func patchService(t testing.TB, l *lab.Lab, svc *corev1.Service, patch string, subresources ...string) {
	t.Helper()
	_, err := l.KubeClient().CoreV1().Services(svc.Namespace).Patch(t.Context(), svc.Name, types.MergePatchType, []byte(patch),
		metav1.PatchOptions{}, subresources...)
	if err != nil {
		t.Fatalf("patch %s/%s with %s: %v", svc.Namespace, svc.Name, patch, err)
	}
}

// deleteService deletes a Service now.
func deleteService(t testing.TB, l *lab.Lab, svc *corev1.Service) {
	t.Helper()
	err := l.KubeClient().CoreV1().Services(svc.Namespace).Delete(t.Context(), svc.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

// addr parses an address.
func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
