package lab

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// podMonitor is the part of a monitoring.coreos.com/v1 PodMonitor that the
// lab's Prometheus honours.
type podMonitor struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		PodMetricsEndpoints []struct {
			Port string `json:"port"`
			Path string `json:"path"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// podMonitorJobs turns the PodMonitors of file into Prometheus scrape
// configurations as the Prometheus Operator does: Kubernetes pod discovery
// (with kubeconfig) in the monitors' namespaces, keeping the pods whose
// labels match and the container port the endpoint names, job named after
// the monitor, and the pod label set to the pod's name.
func podMonitorJobs(file, kubeconfig string) ([]map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var jobs []map[string]any
	for doc := range bytes.SplitSeq(data, []byte("\n---")) {
		var m podMonitor
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if m.Kind != "PodMonitor" {
			continue
		}
		for _, endpoint := range m.Spec.PodMetricsEndpoints {
			jobs = append(jobs, podMonitorJob(m, endpoint.Port, endpoint.Path, kubeconfig))
		}
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("%s: no PodMonitor", file)
	}
	return jobs, nil
}

// podMonitorJob is the scrape configuration of one endpoint of m.
func podMonitorJob(m podMonitor, port, path, kubeconfig string) map[string]any {
	keys := slices.Sorted(maps.Keys(m.Spec.Selector.MatchLabels))
	var relabel []map[string]any
	for _, k := range keys {
		relabel = append(relabel, map[string]any{
			"action":        "keep",
			"source_labels": []string{"__meta_kubernetes_pod_label_" + labelName(k)},
			"regex":         regexp.QuoteMeta(m.Spec.Selector.MatchLabels[k]),
		})
	}
	relabel = append(relabel,
		map[string]any{"action": "keep", "source_labels": []string{"__meta_kubernetes_pod_container_port_name"}, "regex": regexp.QuoteMeta(port)},
		map[string]any{"action": "replace", "source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
		map[string]any{"action": "replace", "source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
	)
	if path == "" {
		path = "/metrics"
	}
	return map[string]any{
		"job_name":     m.Metadata.Name,
		"metrics_path": path,
		"kubernetes_sd_configs": []map[string]any{{
			"role":            "pod",
			"kubeconfig_file": kubeconfig,
			"namespaces":      map[string]any{"names": m.Spec.NamespaceSelector.MatchNames},
		}},
		"relabel_configs": relabel,
	}
}

// labelName is a Kubernetes label key as a Prometheus discovery label
// name: every character outside [a-zA-Z0-9_] becomes "_".
func labelName(key string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, key)
}
