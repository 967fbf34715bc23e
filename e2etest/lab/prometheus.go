package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// PrometheusOptions shape the lab's Prometheus server.
type PrometheusOptions struct {
	// Rules is the content of a Prometheus rules file to load (e.g.
	// manifests/prometheus/rules.yaml); empty loads none.
	Rules []byte
	// Interval is both the scrape and the rule evaluation interval; 1 s
	// when zero.
	Interval time.Duration
}

// Prometheus is a Prometheus server (Debian's /usr/bin/prometheus) running
// in the root namespace, scraping the controller (job "controller") and
// every node's speaker (job "speaker"), each target labelled pod="<name>"
// like the Prometheus Operator labels pods. In process mode the names are
// "controller" and "speaker-<node>"; in pods mode the jobs are
// manifests/prometheus/podmonitors.yaml turned into scrape configurations
// (see podMonitorJobs) and pod is the pod's name.
type Prometheus struct {
	// URL is the server's base URL, on loopback.
	URL  string
	proc *Process
	dir  string
	// stopTargets ends the pods mode's target discovery.
	stopTargets context.CancelFunc
}

// StartPrometheus starts a Prometheus server with its configuration and
// storage in a temporary directory, and waits until it is ready. Stop it
// with Stop; the lab's teardown kills it too.
func (l *Lab) StartPrometheus(ctx context.Context, opts PrometheusOptions) (*Prometheus, error) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		return nil, fmt.Errorf("lab: prometheus not found: install the Debian package prometheus: %w", err)
	}
	if l.ControllerMetricsAddr() == "" {
		return nil, fmt.Errorf("lab: the controller is not running: nothing to scrape")
	}
	if opts.Interval == 0 {
		opts.Interval = time.Second
	}
	dir, err := os.MkdirTemp("", "ilblab-prometheus-")
	if err != nil {
		return nil, err
	}
	p := &Prometheus{dir: dir}
	config, err := l.prometheusConfig(opts, p)
	if err != nil {
		p.Stop()
		return nil, err
	}
	files := map[string][]byte{"prometheus.yml": config, "rules.yaml": opts.Rules}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			p.Stop()
			return nil, err
		}
	}
	port, err := freeLoopbackPort()
	if err != nil {
		p.Stop()
		return nil, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	p.URL = "http://" + listen
	p.proc, err = startProcess(LogDir(l.repo), "prometheus", "", []string{bin,
		"--config.file", filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path", filepath.Join(dir, "data"),
		"--web.listen-address", listen,
		"--log.level", "warn",
	})
	if err != nil {
		p.Stop()
		return nil, err
	}
	if err := p.waitReady(ctx, 30*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	l.logf("lab: Prometheus on %s scrapes the controller and %d speakers every %s", p.URL, len(l.nodes), opts.Interval)
	return p, nil
}

// prometheusConfig is prometheus.yml: one job for the controller, one for
// the speakers, and the rules file when there is one. In pods mode the jobs
// are manifests/prometheus/podmonitors.yaml's, with targets that the lab
// keeps up to date in p's directory until p stops.
func (l *Lab) prometheusConfig(opts PrometheusOptions, p *Prometheus) ([]byte, error) {
	config := map[string]any{
		"global": map[string]string{
			"scrape_interval":     opts.Interval.String(),
			"scrape_timeout":      opts.Interval.String(),
			"evaluation_interval": opts.Interval.String(),
		},
	}
	if len(opts.Rules) > 0 {
		config["rule_files"] = []string{"rules.yaml"}
	}
	if l.opts.Pods {
		monitors, err := readPodMonitors(l.ManifestPath("prometheus/podmonitors.yaml"))
		if err != nil {
			return nil, err
		}
		var ctx context.Context
		ctx, p.stopTargets = context.WithCancel(context.Background())
		if err := l.writePodMonitorTargets(ctx, monitors, p.dir); err != nil {
			return nil, err
		}
		token, err := l.MetricsReaderToken(ctx)
		if err != nil {
			return nil, err
		}
		tokenFile := filepath.Join(p.dir, "metrics-reader-token")
		if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
			return nil, err
		}
		var jobs []map[string]any
		for _, m := range monitors {
			jobs = append(jobs, podMonitorJob(m, p.dir, tokenFile))
		}
		config["scrape_configs"] = jobs
		return yaml.Marshal(config)
	}
	type target struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	type job struct {
		JobName       string   `json:"job_name"`
		StaticConfigs []target `json:"static_configs"`
	}
	speakers := job{JobName: "speaker"}
	for _, n := range l.nodes {
		speakers.StaticConfigs = append(speakers.StaticConfigs,
			target{Targets: []string{SpeakerMetricsAddr(n.Index)}, Labels: map[string]string{"pod": "speaker-" + n.Name}})
	}
	config["scrape_configs"] = []job{
		{JobName: "controller", StaticConfigs: []target{{Targets: []string{l.controllerMetrics}, Labels: map[string]string{"pod": "controller"}}}},
		speakers,
	}
	return yaml.Marshal(config)
}

func (p *Prometheus) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var err error
		if !p.proc.Running() {
			return fmt.Errorf("lab: prometheus exited: %v; see %s", p.proc.ExitError(), p.proc.LogPath)
		}
		if _, err = p.get(ctx, "/-/ready", nil); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: prometheus not ready within %s: %w; see %s", timeout, err, p.proc.LogPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server and removes its directory.
func (p *Prometheus) Stop() {
	if p.stopTargets != nil {
		p.stopTargets()
	}
	if p.proc != nil {
		p.proc.Stop(5 * time.Second)
	}
	os.RemoveAll(p.dir)
}

// get fetches path with query from the server's HTTP API.
func (p *Prometheus) get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := p.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// api fetches an /api/v1 endpoint and decodes its data.
func (p *Prometheus) api(ctx context.Context, path string, query url.Values, data any) error {
	body, err := p.get(ctx, "/api/v1/"+path, query)
	if err != nil {
		return err
	}
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return err
	}
	if envelope.Status != "success" {
		return fmt.Errorf("prometheus %s: %s", path, envelope.Error)
	}
	return json.Unmarshal(envelope.Data, data)
}

// Alert is an alert as /api/v1/alerts reports it.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// State is "pending" or "firing".
	State string `json:"state"`
}

// Alerts returns the pending and firing alerts.
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	err := p.api(ctx, "alerts", nil, &data)
	return data.Alerts, err
}

// Sample is one series of an instant query's result.
type Sample struct {
	Metric map[string]string
	Value  float64
}

// Query evaluates an instant PromQL query.
func (p *Prometheus) Query(ctx context.Context, expr string) ([]Sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.api(ctx, "query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %s, want vector", expr, data.ResultType)
	}
	out := make([]Sample, 0, len(data.Result))
	for _, r := range data.Result {
		text, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v: %w", expr, r.Value[1], err)
		}
		out = append(out, Sample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// Target is a scrape target as /api/v1/targets reports it.
type Target struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	// Health is "up", "down" or "unknown".
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// Targets returns the active scrape targets.
func (p *Prometheus) Targets(ctx context.Context) ([]Target, error) {
	var data struct {
		ActiveTargets []Target `json:"activeTargets"`
	}
	err := p.api(ctx, "targets", nil, &data)
	return data.ActiveTargets, err
}
