package lab

import (
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPodMonitorTargets: the shipped PodMonitors select the controller and
// speaker pods by their labels and namespace, and scrape the port named
// metricshttps of running pods over HTTPS with the reader's token, labelled with the pod's name; other pods,
// pods being deleted or without an IP are no targets.
func TestPodMonitorTargets(t *testing.T) {
	monitors, err := readPodMonitors(filepath.Join("..", "..", "manifests", "prometheus", "podmonitors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(monitors) != 2 || monitors[0].Metadata.Name != "controller" || monitors[1].Metadata.Name != "speaker" {
		t.Fatalf("monitors %+v, want controller and speaker", monitors)
	}
	pod := func(name, namespace, component, ip string, deleting bool) corev1.Pod {
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app": "metallb", "component": component}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{
				{Name: "metricshttps", ContainerPort: 9120}, {Name: "memberlist-tcp", ContainerPort: 7946}}}}},
			Status: corev1.PodStatus{PodIP: ip},
		}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{}
		}
		return p
	}
	pods := []corev1.Pod{
		pod("controller-1", "metallb-system", "controller", "10.244.1.2", false),
		pod("speaker-a", "metallb-system", "speaker", "172.30.0.11", false),
		pod("speaker-b", "metallb-system", "speaker", "172.30.0.12", true),
		pod("speaker-c", "metallb-system", "speaker", "", false),
		pod("speaker-d", "elsewhere", "speaker", "172.30.0.13", false),
		pod("web", "metallb-system", "web", "10.244.1.3", false),
	}
	for i, want := range [][]fileTargets{
		{{Targets: []string{"10.244.1.2:9120"}, Labels: map[string]string{"pod": "controller-1", "namespace": "metallb-system"}}},
		{{Targets: []string{"172.30.0.11:9120"}, Labels: map[string]string{"pod": "speaker-a", "namespace": "metallb-system"}}},
	} {
		if got := podMonitorTargets(pods, monitors[i]); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: targets %+v, want %+v", monitors[i].Metadata.Name, got, want)
		}
	}
	job := podMonitorJob(monitors[1], "/dir", "/dir/token")
	if job["job_name"] != "speaker" || job["metrics_path"] != "/metrics" || job["scheme"] != "https" ||
		!reflect.DeepEqual(job["tls_config"], map[string]any{"insecure_skip_verify": true}) ||
		!reflect.DeepEqual(job["authorization"], map[string]any{"type": "Bearer", "credentials_file": "/dir/token"}) {
		t.Errorf("job %v", job)
	}
	if _, err := readPodMonitors(filepath.Join("..", "..", "manifests", "prometheus", "rules.yaml")); err == nil {
		t.Error("a file without PodMonitors gave monitors")
	}
}
