package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/manifests"
)

// readPodMonitors returns the PodMonitors of a YAML file.
func readPodMonitors(file string) ([]manifests.PodMonitor, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var monitors []manifests.PodMonitor
	for doc := range bytes.SplitSeq(data, []byte("\n---")) {
		var m manifests.PodMonitor
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if m.Kind == "PodMonitor" && len(m.Spec.PodMetricsEndpoints) > 0 {
			monitors = append(monitors, m)
		}
	}
	if len(monitors) == 0 {
		return nil, fmt.Errorf("%s: no PodMonitor with an endpoint", file)
	}
	return monitors, nil
}

// podMonitorJob is the scrape configuration of a PodMonitor's first
// endpoint, named after the monitor: its targets are in the file that
// writePodMonitorTargets keeps up to date in dir (Debian's Prometheus is
// built without Kubernetes discovery, so the lab discovers the pods as the
// Prometheus Operator's configuration would). An endpoint with
// authorization credentials reads its bearer token from tokenFile (the
// operator reads the Secret; the lab requests a token of the same
// ServiceAccount, see MetricsReaderToken).
func podMonitorJob(m manifests.PodMonitor, dir, tokenFile string) map[string]any {
	ep := m.Spec.PodMetricsEndpoints[0]
	path := ep.Path
	if path == "" {
		path = "/metrics"
	}
	job := map[string]any{
		"job_name":     m.Metadata.Name,
		"metrics_path": path,
		"file_sd_configs": []map[string]any{{
			"files":            []string{targetsFile(dir, m)},
			"refresh_interval": "1s",
		}},
	}
	if ep.Scheme != "" {
		job["scheme"] = ep.Scheme
	}
	if ep.TLSConfig.InsecureSkipVerify {
		job["tls_config"] = map[string]any{"insecure_skip_verify": true}
	}
	if ep.Authorization.Credentials.Name != "" {
		job["authorization"] = map[string]any{"type": "Bearer", "credentials_file": tokenFile}
	}
	return job
}

// targetsFile is where the targets of m's job are.
func targetsFile(dir string, m manifests.PodMonitor) string {
	return filepath.Join(dir, "targets-"+m.Metadata.Name+".json")
}

// fileTargets is one entry of a Prometheus file_sd file.
type fileTargets struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// podMonitorTargets lists the pods m selects that run (in its namespaces,
// with its labels, not being deleted, with an IP) and have a container port
// named as m's endpoint: one target each, labelled with the pod's name and
// namespace.
func podMonitorTargets(pods []corev1.Pod, m manifests.PodMonitor) []fileTargets {
	selector := labels.SelectorFromSet(m.Spec.Selector.MatchLabels)
	port := m.Spec.PodMetricsEndpoints[0].Port
	out := []fileTargets{}
	for _, pod := range pods {
		if !selector.Matches(labels.Set(pod.Labels)) || pod.DeletionTimestamp != nil || pod.Status.PodIP == "" ||
			len(m.Spec.NamespaceSelector.MatchNames) > 0 && !slices.Contains(m.Spec.NamespaceSelector.MatchNames, pod.Namespace) {
			continue
		}
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == port {
					out = append(out, fileTargets{
						Targets: []string{net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(p.ContainerPort)))},
						Labels:  map[string]string{"pod": pod.Name, "namespace": pod.Namespace},
					})
				}
			}
		}
	}
	return out
}

// writePodMonitorTargets writes every monitor's targets file now and then
// every 500 ms until ctx ends, so that Prometheus follows pods that come
// and go.
func (l *Lab) writePodMonitorTargets(ctx context.Context, monitors []manifests.PodMonitor, dir string) error {
	write := func() error {
		pods, err := l.kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, m := range monitors {
			data, _ := json.Marshal(podMonitorTargets(pods.Items, m)) // strings always encode
			tmp := targetsFile(dir, m) + ".tmp"
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp, targetsFile(dir, m)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(); err != nil {
		return fmt.Errorf("lab: Prometheus targets from the PodMonitors: %w", err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
				write()
			}
		}
	}()
	return nil
}
