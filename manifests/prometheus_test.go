package manifests

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const prometheusDir = "prometheus"

// promtool runs Debian's promtool (package prometheus, installed by
// .ci/run) in the prometheus directory.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the Debian package prometheus")
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = prometheusDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestAlertRulesPassPromtool(t *testing.T) {
	promtool(t, "check", "rules", "rules.yaml")
	promtool(t, "test", "rules", "rules_test.yaml")
}

func readYAML(t *testing.T, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(prometheusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func TestPrometheusRuleHoldsTheRulesFile(t *testing.T) {
	var file ruleGroups
	readYAML(t, "rules.yaml", &file)
	var cr struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec ruleGroups `json:"spec"`
	}
	readYAML(t, "prometheusrule.yaml", &cr)
	if cr.APIVersion != "monitoring.coreos.com/v1" || cr.Kind != "PrometheusRule" || cr.Metadata.Namespace != "metallb-system" {
		t.Errorf("PrometheusRule header = %s %s in %q", cr.APIVersion, cr.Kind, cr.Metadata.Namespace)
	}
	if !reflect.DeepEqual(file, cr.Spec) {
		t.Error("prometheusrule.yaml and rules.yaml differ: keep their groups identical")
	}
	want := []string{"MetalLBAddressPoolNearlyExhausted", "MetalLBAddressPoolExhausted", "MetalLBBGPSessionDown",
		"MetalLBStaleConfig", "MetalLBConfigNotLoaded", "IronLBSpeakerMissingFromMemberlist", "IronLBMemberlistKeyMismatch"}
	var got []string
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			got = append(got, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity, a summary and a description", r.Alert)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alerts = %v, want %v", got, want)
	}
}

// TestAlertsUseDocumentedMetrics ties the alerts to the metrics ironlb
// exports: every metric an expression names is documented in
// docs/metrics.md, which a test of internal/metrics keeps complete.
func TestAlertsUseDocumentedMetrics(t *testing.T) {
	var file ruleGroups
	readYAML(t, "rules.yaml", &file)
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`\b(?:metallb|ironlb)_[a-z0-9_]+`)
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			for _, name := range metric.FindAllString(r.Expr, -1) {
				if !bytes.Contains(doc, []byte("`"+name+"`")) {
					t.Errorf("alert %s uses %s, which ironlb does not export", r.Alert, name)
				}
			}
		}
	}
}

func TestPodMonitorsSelectThePods(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(prometheusDir, "podmonitors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Pod labels and port names of the workloads, by component.
	podLabels := map[string]labels.Set{}
	ports := map[string][]string{}
	for _, obj := range decodeAll(t) {
		var template *appsv1.DeploymentSpec
		switch o := obj.(type) {
		case *appsv1.Deployment:
			template = &o.Spec
		case *appsv1.DaemonSet:
			template = &appsv1.DeploymentSpec{Template: o.Spec.Template}
		default:
			continue
		}
		component := template.Template.Labels["component"]
		podLabels[component] = template.Template.Labels
		for _, p := range template.Template.Spec.Containers[0].Ports {
			ports[component] = append(ports[component], p.Name)
		}
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	found := map[string]bool{}
	tokenOf := map[string]string{} // Secret → its ServiceAccount
	var readers, credentials []string
	for _, obj := range decodeAll(t) {
		if cr, ok := obj.(*rbacv1.ClusterRole); ok && cr.Name == "metallb-metrics-reader" {
			if len(cr.Rules) != 1 || !slices.Equal(cr.Rules[0].NonResourceURLs, []string{"/metrics"}) || !slices.Equal(cr.Rules[0].Verbs, []string{"get"}) {
				t.Errorf("ClusterRole metallb-metrics-reader rules %+v, want get on /metrics only", cr.Rules)
			}
			found["metallb-metrics-reader"] = true
		}
	}
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var kind struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name        string            `json:"name"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			RoleRef  rbacv1.RoleRef   `json:"roleRef"`
			Subjects []rbacv1.Subject `json:"subjects"`
		}
		if err := yaml.Unmarshal(doc, &kind); err != nil {
			t.Fatal(err)
		}
		switch kind.Kind {
		case "Secret":
			tokenOf[kind.Metadata.Name] = kind.Metadata.Annotations["kubernetes.io/service-account.name"]
			continue
		case "ClusterRoleBinding":
			for _, s := range kind.Subjects {
				if kind.RoleRef.Name == "metallb-metrics-reader" && s.Kind == "ServiceAccount" && s.Namespace == "metallb-system" {
					readers = append(readers, s.Name)
				}
			}
			continue
		case "PodMonitor":
		default:
			continue
		}
		var pm PodMonitor
		if err := yaml.UnmarshalStrict(doc, &pm); err != nil {
			t.Fatal(err)
		}
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			auth := ep.Authorization
			if ep.Scheme != "https" || !ep.TLSConfig.InsecureSkipVerify || auth.Type != "Bearer" || auth.Credentials.Key != "token" {
				t.Errorf("PodMonitor %s: want HTTPS without verification (self-signed) and a bearer token, got %+v", pm.Metadata.Name, ep)
			}
			credentials = append(credentials, auth.Credentials.Name)
		}
		selector := labels.SelectorFromSet(pm.Spec.Selector.MatchLabels)
		for component, set := range podLabels {
			if !selector.Matches(set) {
				continue
			}
			found[component] = true
			for _, ep := range pm.Spec.PodMetricsEndpoints {
				if !slices.Contains(ports[component], ep.Port) || ep.Path != "/metrics" {
					t.Errorf("PodMonitor for %s scrapes port %q path %q; pod ports are %v", component, ep.Port, ep.Path, ports[component])
				}
			}
		}
	}
	if !found["controller"] || !found["speaker"] || !found["metallb-metrics-reader"] {
		t.Errorf("PodMonitors select %v, want the controller and the speakers, and ClusterRole metallb-metrics-reader", found)
	}
	// Each PodMonitor's token is of a ServiceAccount bound to
	// metallb-metrics-reader.
	for _, secret := range credentials {
		if sa := tokenOf[secret]; sa == "" || !slices.Contains(readers, sa) {
			t.Errorf("PodMonitor token Secret %q: ServiceAccount %q, bound to metallb-metrics-reader: %v", secret, sa, readers)
		}
	}
}
