package manifests

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
)

var update = flag.Bool("update", false, "rewrite metallb-native.yaml from its sources")

const renderedFile = "metallb-native.yaml"

func TestRenderedFileIsCurrent(t *testing.T) {
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(renderedFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(renderedFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `make manifests` and commit the result", renderedFile)
	}
}

// decodeAll strictly decodes every document of the rendered file.
func decodeAll(t *testing.T) []runtime.Object {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	data, err := os.ReadFile(renderedFile)
	if err != nil {
		t.Fatal(err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []runtime.Object
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			return objects
		}
		if err != nil {
			t.Fatal(err)
		}
		if onlyComments(doc) {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("object does not decode: %v\n%s", err, doc)
		}
		objects = append(objects, obj)
	}
}

func TestEveryObjectParsesAndEveryKindIsThere(t *testing.T) {
	objects := decodeAll(t)
	var kinds []string
	crds := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, obj := range objects {
		kinds = append(kinds, obj.GetObjectKind().GroupVersionKind().Kind)
		if crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition); ok {
			crds[crd.Spec.Names.Kind] = crd
		}
	}
	for _, kind := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "DaemonSet", "Service", "NetworkPolicy"} {
		if !slices.Contains(kinds, kind) {
			t.Errorf("no %s in %s", kind, renderedFile)
		}
	}
	// The served versions, the stored one first; BGPPeer serves MetalLB's
	// deprecated v1beta1 too.
	versions := map[string][]string{
		"IPAddressPool": {"v1beta1"}, "L2Advertisement": {"v1beta1"}, "BGPAdvertisement": {"v1beta1"},
		"Community": {"v1beta1"}, "BFDProfile": {"v1beta1"}, "ServiceL2Status": {"v1beta1"},
		"ServiceBGPStatus": {"v1beta1"}, "ConfigurationState": {"v1beta1"}, "BGPPeer": {"v1beta2", "v1beta1"},
	}
	for kind, want := range versions {
		crd := crds[kind]
		if crd == nil {
			t.Errorf("no CRD for %s", kind)
			continue
		}
		if crd.Spec.Group != "metallb.io" || crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
			t.Errorf("CRD %s: group %s scope %s, want metallb.io, Namespaced", kind, crd.Spec.Group, crd.Spec.Scope)
		}
		var served []string
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema == nil {
				t.Errorf("CRD %s: version %s not served or without a schema", kind, v.Name)
			}
			if v.Storage {
				served = append([]string{v.Name}, served...)
			} else {
				served = append(served, v.Name)
			}
		}
		if !slices.Equal(served, want) {
			t.Errorf("CRD %s: versions %v (stored first), want %v", kind, served, want)
		}
	}
}

func TestSpeakerDaemonSet(t *testing.T) {
	var ds *appsv1.DaemonSet
	var ns *corev1.Namespace
	for _, obj := range decodeAll(t) {
		switch o := obj.(type) {
		case *appsv1.DaemonSet:
			ds = o
		case *corev1.Namespace:
			ns = o
		}
	}
	if ns == nil || ns.Name != "metallb-system" || ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		t.Fatalf("namespace = %+v, want metallb-system with privileged pod security", ns)
	}
	if ds == nil {
		t.Fatal("no speaker DaemonSet")
	}
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork {
		t.Error("speaker must use the host network")
	}
	checkSpeakerGracePeriod(t, pod.TerminationGracePeriodSeconds)
	var tolerated []string
	for _, tol := range pod.Tolerations {
		tolerated = append(tolerated, tol.Key)
	}
	if !slices.Contains(tolerated, "node-role.kubernetes.io/control-plane") {
		t.Errorf("tolerations %v miss control-plane nodes", tolerated)
	}
	if pod.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName = %q, want system-node-critical: a starved or evicted speaker fails its addresses over", pod.PriorityClassName)
	}
	if sc := pod.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("speaker pod must run with the RuntimeDefault seccomp profile")
	}
	c := pod.Containers[0]
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want CPU and memory requests and a memory limit (not BestEffort)", c.Resources)
	}
	caps := c.SecurityContext.Capabilities
	if len(caps.Add) != 1 || caps.Add[0] != "NET_RAW" || len(caps.Drop) != 1 || caps.Drop[0] != "ALL" {
		t.Errorf("capabilities = %+v, want only NET_RAW added, ALL dropped", caps)
	}
	var ports []string
	for _, p := range c.Ports {
		ports = append(ports, string(p.Protocol)+"/"+strconv.Itoa(int(p.ContainerPort)))
	}
	for _, want := range []string{"/9120", "TCP/7946", "UDP/7946"} {
		if !slices.Contains(ports, want) {
			t.Errorf("ports %v miss %s", ports, want)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if ref := env["METALLB_NODE_NAME"].ValueFrom; ref == nil || ref.FieldRef.FieldPath != "spec.nodeName" {
		t.Error("node name must come from the downward API")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if env["METALLB_ML_SECRET_KEY_PATH"].Value != "/etc/ml_secret_key" || mounts["memberlist"] != "/etc/ml_secret_key" {
		t.Errorf("env %+v, mounts %v: want the memberlist Secret mounted at METALLB_ML_SECRET_KEY_PATH, so its keys rotate without a restart", c.Env, mounts)
	}
	if secret := volumes["memberlist"].Secret; secret == nil || secret.SecretName != "memberlist" || secret.Optional == nil || !*secret.Optional {
		t.Errorf("volume %+v: want Secret memberlist, optional so that a deleted Secret does not stop a speaker from starting", volumes["memberlist"])
	}
	if _, ok := env["METALLB_ML_SECRET_KEY"]; ok {
		t.Error("METALLB_ML_SECRET_KEY from a secretKeyRef: a deleted Secret would keep the pod from starting, a rotated key would need a restart")
	}
	if !slices.Contains(c.Args, "--state-dir=/var/lib/ironlb") || volumes["state"].HostPath == nil ||
		volumes["state"].HostPath.Path != "/var/lib/ironlb" || mounts["state"] != "/var/lib/ironlb" {
		t.Errorf("args %v, volumes %+v, mounts %+v: want --state-dir on a hostPath, so the last valid configuration and the memberlist keys survive a restart", c.Args, pod.Volumes, c.VolumeMounts)
	}
	if !slices.Contains(c.Args, "--node-name=$(METALLB_NODE_NAME)") {
		t.Errorf("args %v do not pass the node name", c.Args)
	}
}

// onlyComments reports whether a YAML document holds no object.
func onlyComments(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "---" {
			return false
		}
	}
	return true
}

// The controller's pods take connections on the webhook port and the
// secure metrics port only, from anywhere (the API server is not a pod); the
// probes reach that metrics port over HTTPS, without a token. The lab's
// bridge CNI does not enforce NetworkPolicies: this test is what checks it.
func TestControllerNetworkPolicy(t *testing.T) {
	var deploy *appsv1.Deployment
	var policies []*networkingv1.NetworkPolicy
	for _, obj := range decodeAll(t) {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			deploy = o
		case *networkingv1.NetworkPolicy:
			policies = append(policies, o)
		}
	}
	if deploy == nil || len(policies) != 1 {
		t.Fatalf("want the controller Deployment and one NetworkPolicy, got %v and %d", deploy != nil, len(policies))
	}
	np := policies[0]
	pod := deploy.Spec.Template
	selector, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || np.Namespace != deploy.Namespace || !selector.Matches(labels.Set(pod.Labels)) {
		t.Fatalf("NetworkPolicy %s/%s does not select the controller's pods (%v)", np.Namespace, np.Name, err)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Ingress) != 1 {
		t.Fatalf("policy types %v, %d ingress rules; want Ingress and one rule", np.Spec.PolicyTypes, len(np.Spec.Ingress))
	}
	rule := np.Spec.Ingress[0]
	if len(rule.From) != 0 {
		t.Errorf("ingress limited to %v: the API server calling the webhook is not a pod", rule.From)
	}
	c := pod.Spec.Containers[0]
	containerPorts := map[string]int32{}
	for _, p := range c.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	var allowed []int32
	for _, p := range rule.Ports {
		if p.Protocol == nil || *p.Protocol != corev1.ProtocolTCP || p.Port == nil {
			t.Errorf("port %+v: want TCP and a port", p)
			continue
		}
		n := p.Port.IntVal
		if p.Port.Type == intstr.String {
			n = containerPorts[p.Port.StrVal]
		}
		allowed = append(allowed, n)
	}
	slices.Sort(allowed)
	if want := []int32{9120, 9443}; !slices.Equal(allowed, want) {
		t.Errorf("allowed ports %v, want %v (secure metrics, webhook)", allowed, want)
	}
	for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		get := probe.HTTPGet
		if get == nil || get.Scheme != corev1.URISchemeHTTPS || containerPorts[get.Port.StrVal] != 9120 {
			t.Errorf("probe %+v: want HTTPS on the secure metrics port, which the policy allows", get)
		}
	}
	for _, arg := range []string{"--metrics-addr=127.0.0.1:7472", "--secure-metrics-addr=:9120"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("controller args %v miss %s", c.Args, arg)
		}
	}
}
