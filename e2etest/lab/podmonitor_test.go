package lab

import (
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestPodMonitorJobs: the shipped PodMonitors become one job each, named
// after the monitor, keeping the pods their selector matches and the port
// they name, with the pod label set to the pod's name.
func TestPodMonitorJobs(t *testing.T) {
	jobs, err := podMonitorJobs(filepath.Join("..", "..", "manifests", "prometheus", "podmonitors.yaml"), "/kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	got, err := yaml.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	want := `- job_name: controller
  kubernetes_sd_configs:
  - kubeconfig_file: /kubeconfig
    namespaces:
      names:
      - metallb-system
    role: pod
  metrics_path: /metrics
  relabel_configs:
  - action: keep
    regex: metallb
    source_labels:
    - __meta_kubernetes_pod_label_app
  - action: keep
    regex: controller
    source_labels:
    - __meta_kubernetes_pod_label_component
  - action: keep
    regex: monitoring
    source_labels:
    - __meta_kubernetes_pod_container_port_name
  - action: replace
    source_labels:
    - __meta_kubernetes_namespace
    target_label: namespace
  - action: replace
    source_labels:
    - __meta_kubernetes_pod_name
    target_label: pod
- job_name: speaker
  kubernetes_sd_configs:
  - kubeconfig_file: /kubeconfig
    namespaces:
      names:
      - metallb-system
    role: pod
  metrics_path: /metrics
  relabel_configs:
  - action: keep
    regex: metallb
    source_labels:
    - __meta_kubernetes_pod_label_app
  - action: keep
    regex: speaker
    source_labels:
    - __meta_kubernetes_pod_label_component
  - action: keep
    regex: monitoring
    source_labels:
    - __meta_kubernetes_pod_container_port_name
  - action: replace
    source_labels:
    - __meta_kubernetes_namespace
    target_label: namespace
  - action: replace
    source_labels:
    - __meta_kubernetes_pod_name
    target_label: pod
`
	if string(got) != want {
		t.Errorf("jobs:\n%s\nwant:\n%s", got, want)
	}
	if _, err := podMonitorJobs(filepath.Join("..", "..", "manifests", "prometheus", "rules.yaml"), "/kubeconfig"); err == nil {
		t.Error("a file without PodMonitors gave jobs")
	}
}
