package manifests

// PodMonitor is the part of a monitoring.coreos.com/v1 PodMonitor that
// ironlb ships (manifests/prometheus/podmonitors.yaml, the chart's
// prometheus.podMonitor): read strictly by the manifest tests, and by the
// lab, whose Prometheus scrapes the pods as the Prometheus Operator would.
type PodMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		PodMetricsEndpoints []PodMetricsEndpoint `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// PodMetricsEndpoint is one scrape endpoint of a PodMonitor: HTTPS on a
// named pod port with a ServiceAccount token as bearer credentials.
type PodMetricsEndpoint struct {
	Port      string `json:"port"`
	Path      string `json:"path"`
	Scheme    string `json:"scheme"`
	TLSConfig struct {
		InsecureSkipVerify bool `json:"insecureSkipVerify"`
	} `json:"tlsConfig"`
	Authorization struct {
		Type        string `json:"type"`
		Credentials struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		} `json:"credentials"`
	} `json:"authorization"`
}
