package manifests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/version"
	"sigs.k8s.io/yaml"
)

// chartDir is charts/ironlb, whose templates render the objects of
// metallb-native.yaml (chart_test.go compares them).
const chartDir = "../charts/ironlb"

// chartCopies maps each file the chart reads with .Files (Helm reads nothing
// outside the chart) to its source here; `make manifests` writes them.
func chartCopies(t *testing.T) map[string]string {
	t.Helper()
	crds, err := filepath.Glob("crds/*.yaml")
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs under manifests/crds: %v", err)
	}
	copies := map[string]string{
		"files/podmonitors.yaml":    "prometheus/podmonitors.yaml",
		"files/prometheusrule.yaml": "prometheus/prometheusrule.yaml",
	}
	for _, crd := range crds {
		copies["files/"+crd] = crd
	}
	return copies
}

func TestChartFilesAreCurrent(t *testing.T) {
	copies := chartCopies(t)
	if *update {
		stale, _ := filepath.Glob(filepath.Join(chartDir, "files/crds/*.yaml"))
		for _, path := range stale {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}
		for dst, src := range copies {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(chartDir, dst), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for dst, src := range copies {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, dst))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("charts/ironlb/%s differs from manifests/%s (%v): run `make manifests`", dst, src, err)
		}
	}
	extra, _ := filepath.Glob(filepath.Join(chartDir, "files/crds/*.yaml"))
	if len(extra) != len(copies)-2 {
		t.Errorf("charts/ironlb/files/crds holds %d files, manifests/crds %d: run `make manifests`", len(extra), len(copies)-2)
	}
}

func TestChartVersionIsIronLBs(t *testing.T) {
	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion != version.Version || "v"+chart.Version != version.Version {
		t.Errorf("Chart.yaml version %q, appVersion %q; want %q and %q (internal/version)", chart.Version, chart.AppVersion,
			strings.TrimPrefix(version.Version, "v"), version.Version)
	}
}

// valueDefaults flattens values into dotted keys and their defaults as
// docs/helm.md writes them (JSON). Maps with keys are walked; empty maps and
// lists are leaves.
func valueDefaults(prefix string, values map[string]any, out map[string]string) error {
	for key, value := range values {
		name := key
		if prefix != "" {
			name = prefix + "." + key
		}
		if m, ok := value.(map[string]any); ok && len(m) > 0 {
			if err := valueDefaults(name, m, out); err != nil {
				return err
			}
			continue
		}
		text, err := yaml.Marshal(value)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out[name], err = jsonText(text)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// jsonText turns one YAML value into compact JSON.
func jsonText(text []byte) (string, error) {
	j, err := yaml.YAMLToJSON(text)
	return string(bytes.TrimSpace(j)), err
}

// TestHelmDocListsEveryValue: docs/helm.md has a table row
// "| `key` | `default` | ..." for every value of values.yaml, and no row
// for a value that does not exist.
func TestHelmDocListsEveryValue(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	if err := valueDefaults("", values, want); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/helm.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		key := strings.Trim(strings.TrimSpace(cells[1]), "`")
		documented[key] = strings.Trim(strings.TrimSpace(cells[2]), "`")
	}
	var keys []string
	for key := range want {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		got, ok := documented[key]
		if !ok {
			t.Errorf("docs/helm.md does not list value %s (default %s)", key, want[key])
			continue
		}
		if got != want[key] {
			t.Errorf("docs/helm.md: %s defaults to %s, values.yaml says %s", key, got, want[key])
		}
	}
	for key := range documented {
		if _, ok := want[key]; !ok {
			t.Errorf("docs/helm.md lists %s, which values.yaml does not have", key)
		}
	}
}
