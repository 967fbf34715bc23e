package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// IronLBNamespace is where the controller, speakers and their
// configuration live.
const IronLBNamespace = "metallb-system"

// EndpointSliceManager is the managed-by label value of the EndpointSlices
// the lab writes in place of the endpointslice controller.
const EndpointSliceManager = "lab.ironlb.io"

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRDs creates every CustomResourceDefinition found in
// <repo>/manifests/crds/*.yaml and waits until each is established. It
// returns the names it installed; a missing directory installs none.
func installCRDs(ctx context.Context, dyn dynamic.Interface, repo string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(repo, "manifests", "crds", "*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, file := range files {
		objects, err := readObjects(file)
		if err != nil {
			return nil, err
		}
		for _, obj := range objects {
			if obj.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if _, err := dyn.Resource(crdResource).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("install CRD %s from %s: %w", obj.GetName(), file, err)
			}
			names = append(names, obj.GetName())
		}
	}
	for _, name := range names {
		if err := waitEstablished(ctx, dyn, name); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// readObjects decodes every YAML or JSON document in file.
func readObjects(file string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(obj.Object) > 0 {
			objects = append(objects, obj)
		}
	}
}

// waitEstablished waits until the CRD's Established condition is True.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		crd, err := dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conditions {
				cond, _ := c.(map[string]any)
				if cond["type"] == "Established" && cond["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createIronLBNamespace creates the metallb-system namespace and the
// memberlist Secret that speakers of MetalLB's manifests expect there.
func createIronLBNamespace(ctx context.Context, kube kubernetes.Interface) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: IronLBNamespace}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	key := make([]byte, 128)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "memberlist", Namespace: IronLBNamespace},
		StringData: map[string]string{"secretkey": base64.StdEncoding.EncodeToString(key)},
	}
	if _, err := kube.CoreV1().Secrets(IronLBNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// NodeLabels are the labels every lab Node object carries; scenarios add
// their own with Lab.SetNodeLabels.
func NodeLabels(i int) map[string]string {
	return map[string]string{
		"kubernetes.io/hostname": NodeName(i),
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"lab.ironlb.io/node":     fmt.Sprint(i),
	}
}

// createNode creates the Node object of node i, Ready, with its addresses.
func createNode(ctx context.Context, kube kubernetes.Interface, i int) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName(i), Labels: NodeLabels(i)}}
	created, err := kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create Node %s: %w", NodeName(i), err)
	}
	now := metav1.Now()
	created.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: NodeIPv4(i).String()},
			{Type: corev1.NodeInternalIP, Address: NodeIPv6(i).String()},
			{Type: corev1.NodeHostName, Address: NodeName(i)},
		},
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "LabNode", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "LabNode", LastHeartbeatTime: now, LastTransitionTime: now},
		},
	}
	if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of Node %s: %w", NodeName(i), err)
	}
	return nil
}

// Endpoint is one backend of a Service: the HTTP backend on a lab node.
type Endpoint struct {
	Node int
	// Conditions are written as given; see ReadyEndpoints for the usual case.
	Conditions discoveryv1.EndpointConditions
}

// ReadyEndpoints returns ready, serving endpoints on the given nodes.
func ReadyEndpoints(nodes ...int) []Endpoint {
	eps := make([]Endpoint, len(nodes))
	for i, n := range nodes {
		eps[i] = Endpoint{Node: n, Conditions: discoveryv1.EndpointConditions{
			Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}}
	}
	return eps
}

// writeEndpointSlices makes the Service's endpoints exactly eps, as the
// endpointslice controller would with one hostNetwork pod per listed node:
// one EndpointSlice per IP family of the Service, named <service>-lab-ipv4
// and -ipv6, with the node's address, name and the given conditions. Ports
// mirror the Service's, with target port 80 (the node's backend).
func writeEndpointSlices(ctx context.Context, kube kubernetes.Interface, svc *corev1.Service, eps []Endpoint) error {
	families := svc.Spec.IPFamilies
	if len(families) == 0 {
		families = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	var ports []discoveryv1.EndpointPort
	for _, p := range svc.Spec.Ports {
		ports = append(ports, discoveryv1.EndpointPort{
			Name: ptr.To(p.Name), Protocol: ptr.To(p.Protocol), Port: ptr.To(int32(80))})
	}
	sorted := append([]Endpoint{}, eps...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a].Node < sorted[b].Node })
	for _, family := range families {
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name:      svc.Name + "-lab-" + map[corev1.IPFamily]string{corev1.IPv4Protocol: "ipv4", corev1.IPv6Protocol: "ipv6"}[family],
				Namespace: svc.Namespace,
				Labels: map[string]string{
					discoveryv1.LabelServiceName: svc.Name,
					discoveryv1.LabelManagedBy:   EndpointSliceManager,
				},
			},
			AddressType: discoveryv1.AddressType(family),
			Ports:       ports,
		}
		for _, ep := range sorted {
			addr := NodeIPv4(ep.Node)
			if family == corev1.IPv6Protocol {
				addr = NodeIPv6(ep.Node)
			}
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{addr.String()},
				NodeName:   ptr.To(NodeName(ep.Node)),
				Conditions: ep.Conditions,
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: svc.Namespace, Name: fmt.Sprintf("%s-%s", svc.Name, NodeName(ep.Node))},
			})
		}
		client := kube.DiscoveryV1().EndpointSlices(svc.Namespace)
		current, err := client.Get(ctx, slice.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = client.Create(ctx, slice, metav1.CreateOptions{})
		case err == nil:
			slice.ResourceVersion = current.ResourceVersion
			_, err = client.Update(ctx, slice, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("write EndpointSlice %s/%s: %w", svc.Namespace, slice.Name, err)
		}
	}
	return nil
}

// NewLoadBalancerService returns a LoadBalancer Service for port 80 (the
// nodes' backends), preferring both IP families; set fields on the result
// before creating it.
func NewLoadBalancerService(namespace, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeLoadBalancer,
			IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicyPreferDualStack),
			Ports: []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80)}},
			Selector: map[string]string{"app": name},
		},
	}
}
