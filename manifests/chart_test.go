package manifests_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/manifests"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// keepPolicy is the annotation the chart adds to its CRDs so that
// `helm uninstall` leaves them, and the configuration stored in them.
const keepPolicy = "helm.sh/resource-policy"

// helmTemplate renders charts/ironlb into metallb-system with the helm the
// lab builds (e2etest/helmbin), with extra arguments such as --set.
func helmTemplate(t *testing.T, args ...string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	ctx := context.Background()
	helm, err := lab.BuildHelm(ctx, "..", testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, helm, append([]string{"template", "ironlb", "../charts/ironlb", "--namespace", "metallb-system"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	objects, err := decodeObjects(out)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(args, " "), err)
	}
	return objects, nil
}

// testWriter sends helm's build progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// decodeObjects reads every non-empty YAML document as an object.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			return objects, nil
		}
		if err != nil {
			return nil, err
		}
		var content map[string]any
		if err := yaml.Unmarshal(doc, &content); err != nil {
			return nil, fmt.Errorf("%w\n%s", err, doc)
		}
		if len(content) > 0 {
			objects = append(objects, &unstructured.Unstructured{Object: content})
		}
	}
}

// objectKey names an object by kind, namespace and name.
func objectKey(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// byKey indexes objects by objectKey, failing on a duplicate.
func byKey(t *testing.T, objects []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	index := map[string]*unstructured.Unstructured{}
	for _, o := range objects {
		if index[objectKey(o)] != nil {
			t.Errorf("%s twice", objectKey(o))
		}
		index[objectKey(o)] = o
	}
	return index
}

// TestChartDefaultRenderIsTheManifest: with default values the chart
// renders the objects of metallb-native.yaml, field by field, but two: the
// Namespace, which stays the user's (it holds their configuration, which
// `helm uninstall` must not delete), and the keep policy on the CRDs. Its
// hooks (the uninstall Job) are not compared.
func TestChartDefaultRenderIsTheManifest(t *testing.T) {
	rendered, err := manifests.Render()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := decodeObjects(rendered)
	if err != nil {
		t.Fatal(err)
	}
	chartObjects, err := helmTemplate(t)
	if err != nil {
		t.Fatal(err)
	}
	// Hooks are not objects of the release: Helm creates them only around
	// an operation (the pre-delete uninstall Job and its RBAC), and the
	// plain manifest has no such operation (TestChartUninstallHook checks them).
	chartObjects = slices.DeleteFunc(chartObjects, isHook)
	chart := byKey(t, chartObjects)
	want := byKey(t, manifest)
	for key, wantObject := range want {
		if wantObject.GetKind() == "Namespace" {
			if chart[key] != nil {
				t.Errorf("the chart renders %s: the release's namespace must stay the user's", key)
			}
			continue
		}
		got := chart[key]
		if got == nil {
			t.Errorf("the chart does not render %s", key)
			continue
		}
		if got.GetKind() == "CustomResourceDefinition" {
			annotations := got.GetAnnotations()
			if annotations[keepPolicy] != "keep" {
				t.Errorf("%s: annotation %s=%q, want keep: uninstall would delete every IPAddressPool", key, keepPolicy, annotations[keepPolicy])
			}
			delete(annotations, keepPolicy)
			got.SetAnnotations(annotations)
		}
		if !reflect.DeepEqual(got.Object, wantObject.Object) {
			gotYAML, _ := yaml.Marshal(got.Object)
			wantYAML, _ := yaml.Marshal(wantObject.Object)
			t.Errorf("%s differs from metallb-native.yaml\n--- chart:\n%s\n--- manifest:\n%s", key, gotYAML, wantYAML)
		}
	}
	for key := range chart {
		if want[key] == nil {
			t.Errorf("the chart renders %s, which metallb-native.yaml does not have", key)
		}
	}
}

// hookAnnotation marks a Helm hook.
const hookAnnotation = "helm.sh/hook"

// isHook reports whether o is a Helm hook, not an object of the release.
func isHook(o *unstructured.Unstructured) bool {
	_, ok := o.GetAnnotations()[hookAnnotation]
	return ok
}

// find returns the rendered object of kind and name, or nil.
func find(objects []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// container returns the first container of a Deployment's or DaemonSet's
// pod template, and the pod spec.
func container(t *testing.T, o *unstructured.Unstructured) (c, pod map[string]any) {
	t.Helper()
	if o == nil {
		t.Fatal("workload not rendered")
	}
	pod, _, _ = unstructured.NestedMap(o.Object, "spec", "template", "spec")
	containers, _, _ := unstructured.NestedSlice(pod, "containers")
	return containers[0].(map[string]any), pod
}

// yamlText renders a value as YAML, for comparisons in messages.
func yamlText(v any) string {
	out, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(out))
}

// TestChartValues: each value reaches the objects that use it.
func TestChartValues(t *testing.T) {
	tests := []struct {
		name  string
		set   []string
		check func(t *testing.T, objects []*unstructured.Unstructured)
	}{
		{"images", []string{"controller.image.repository=reg.example/c", "controller.image.tag=v9", "speaker.image.pullPolicy=Always", "imagePullSecrets[0].name=pull"},
			func(t *testing.T, objects []*unstructured.Unstructured) {
				c, pod := container(t, find(objects, "Deployment", "controller"))
				if c["image"] != "reg.example/c:v9" {
					t.Errorf("controller image %v", c["image"])
				}
				if yamlText(pod["imagePullSecrets"]) != "- name: pull" {
					t.Errorf("controller imagePullSecrets %v", pod["imagePullSecrets"])
				}
				s, _ := container(t, find(objects, "DaemonSet", "speaker"))
				if s["image"] != "ghcr.io/ironlb/speaker:v0.1.0" || s["imagePullPolicy"] != "Always" {
					t.Errorf("speaker image %v pull policy %v", s["image"], s["imagePullPolicy"])
				}
			}},
		{"scheduling and resources", []string{"controller.nodeSelector.zone=a", "controller.tolerations[0].key=k", "controller.tolerations[0].operator=Exists",
			"controller.priorityClassName=high", "controller.resources.limits.memory=1Gi", "speaker.tolerateMaster=false", "speaker.priorityClassName=",
			"speaker.resources.requests.cpu=1"},
			func(t *testing.T, objects []*unstructured.Unstructured) {
				c, pod := container(t, find(objects, "Deployment", "controller"))
				if yamlText(pod["nodeSelector"]) != "kubernetes.io/os: linux\nzone: a" || yamlText(pod["tolerations"]) != "- key: k\n  operator: Exists" ||
					pod["priorityClassName"] != "high" || yamlText(c["resources"]) != "limits:\n  memory: 1Gi" {
					t.Errorf("controller pod %s", yamlText(pod))
				}
				s, pod := container(t, find(objects, "DaemonSet", "speaker"))
				if pod["tolerations"] != nil || pod["priorityClassName"] != nil || yamlText(s["resources"]) != "limits:\n  memory: 512Mi\nrequests:\n  cpu: 1\n  memory: 100Mi" {
					t.Errorf("speaker pod %s", yamlText(pod))
				}
			}},
		{"log level, class, metrics ports", []string{"controller.logLevel=debug", "speaker.logLevel=warn", "loadBalancerClass=ironlb.io/lb", "prometheus.metricsPort=7473", "prometheus.secureMetricsPort=9121"},
			func(t *testing.T, objects []*unstructured.Unstructured) {
				c, _ := container(t, find(objects, "Deployment", "controller"))
				s, _ := container(t, find(objects, "DaemonSet", "speaker"))
				for _, want := range []string{"--log-level=debug", "--lb-class=ironlb.io/lb", "--metrics-addr=127.0.0.1:7473", "--secure-metrics-addr=:9121"} {
					if !strings.Contains(yamlText(c["args"]), want) {
						t.Errorf("controller args %v miss %s", c["args"], want)
					}
				}
				for _, want := range []string{"--log-level=warn", "--lb-class=ironlb.io/lb", "--metrics-addr=127.0.0.1:7473", "--secure-metrics-addr=:9121"} {
					if !strings.Contains(yamlText(s["args"]), want) {
						t.Errorf("speaker args %v miss %s", s["args"], want)
					}
				}
				if !strings.Contains(yamlText(s["ports"]), "containerPort: 9121\n  name: metricshttps") {
					t.Errorf("speaker ports %v", s["ports"])
				}
				port, _, _ := unstructured.NestedSlice(find(objects, "Service", "speaker-monitor-service").Object, "spec", "ports")
				if yamlText(port) != "- name: metricshttps\n  port: 9121\n  targetPort: metricshttps" {
					t.Errorf("speaker-monitor-service ports %v", port)
				}
			}},
		{"memberlist on another port and Secret", []string{"speaker.memberlist.mlBindPort=7950", "speaker.secretName=mine"},
			func(t *testing.T, objects []*unstructured.Unstructured) {
				s, pod := container(t, find(objects, "DaemonSet", "speaker"))
				text := yamlText(s)
				for _, want := range []string{"--memberlist-port=7950", "containerPort: 7950\n  name: memberlist-tcp"} {
					if !strings.Contains(text, want) {
						t.Errorf("speaker container misses %q:\n%s", want, text)
					}
				}
				if volumes := yamlText(pod["volumes"]); !strings.Contains(volumes, "secretName: mine") {
					t.Errorf("speaker volumes do not mount Secret mine:\n%s", volumes)
				}
			}},
		{"memberlist off", []string{"speaker.memberlist.enabled=false"},
			func(t *testing.T, objects []*unstructured.Unstructured) {
				s, pod := container(t, find(objects, "DaemonSet", "speaker"))
				text := yamlText(s)
				if !strings.Contains(text, "--memberlist=false") || strings.Contains(text, "7946") || strings.Contains(text, "METALLB_ML_SECRET_KEY") ||
					strings.Contains(yamlText(pod["volumes"]), "memberlist") {
					t.Errorf("speaker with memberlist off:\n%s", text)
				}
			}},
		{"webhook off", []string{"controller.webhookMode=disabled"},
			func(t *testing.T, objects []*unstructured.Unstructured) {
				if find(objects, "ValidatingWebhookConfiguration", "metallb-webhook-configuration") != nil || find(objects, "Service", "metallb-webhook-service") != nil {
					t.Error("webhook objects rendered with webhookMode disabled")
				}
				c, _ := container(t, find(objects, "Deployment", "controller"))
				if text := yamlText(c); !strings.Contains(text, "--webhook-addr=\n") || strings.Contains(text, "9443") {
					t.Errorf("controller with the webhook off:\n%s", text)
				}
			}},
		{"Prometheus Operator objects in the release namespace", []string{"prometheus.podMonitor.enabled=true", "prometheus.prometheusRule.enabled=true", "--namespace=lb"},
			func(t *testing.T, objects []*unstructured.Unstructured) {
				for _, o := range []*unstructured.Unstructured{find(objects, "PodMonitor", "controller"), find(objects, "PodMonitor", "speaker"), find(objects, "PrometheusRule", "ironlb")} {
					if o == nil || o.GetNamespace() != "lb" || strings.Contains(yamlText(o.Object), "metallb-system") {
						t.Errorf("Prometheus Operator object not in namespace lb: %v", o)
					}
				}
				rule := find(objects, "PrometheusRule", "ironlb")
				if rule != nil && !strings.Contains(yamlText(rule.Object), "{{ $labels.pool }}") {
					t.Error("the PrometheusRule's annotations lost their Prometheus templates")
				}
			}},
		{"no CRDs", []string{"crds.enabled=false"},
			func(t *testing.T, objects []*unstructured.Unstructured) {
				for _, o := range objects {
					if o.GetKind() == "CustomResourceDefinition" {
						t.Errorf("%s rendered with crds.enabled=false", o.GetName())
					}
				}
				if find(objects, "DaemonSet", "speaker") == nil {
					t.Error("no speaker")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			for _, s := range tt.set {
				if strings.HasPrefix(s, "--") {
					args = append(args, s)
				} else {
					args = append(args, "--set", s)
				}
			}
			objects, err := helmTemplate(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, objects)
		})
	}
}

// TestChartSchemaRefusesBadValues: values.schema.json refuses a bad value
// before anything is rendered, naming the value.
func TestChartSchemaRefusesBadValues(t *testing.T) {
	tests := []struct{ set, want string }{
		{"controller.logLevel=loud", "at '/controller/logLevel': value must be one of 'debug', 'info', 'warn', 'error'"},
		{"speaker.logLevel=all", "at '/speaker/logLevel'"},
		{"controller.webhookMode=certmanager", "at '/controller/webhookMode'"},
		{"speaker.memberlist.enabled=maybe", "at '/speaker/memberlist/enabled': got string, want boolean"},
		{"speaker.memberlist.mlBindPort=70000", "at '/speaker/memberlist/mlBindPort'"},
		{"prometheus.metricsPort=0", "at '/prometheus/metricsPort'"},
		{"speaker.secretName=Not_A_Name", "at '/speaker/secretName'"},
		{"speaker.image.pullPolicy=Sometimes", "at '/speaker/image/pullPolicy'"},
		{"controller.replicas=2", "at '/controller': additional properties 'replicas' not allowed"},
		{"crds.enabled=yes", "at '/crds/enabled'"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			_, err := helmTemplate(t, "--set", tt.set)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("helm template --set %s: error %v, want one containing %q", tt.set, err, tt.want)
			}
		})
	}
}
