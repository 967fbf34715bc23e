{{/* The image reference of a component: its repository and tag, the chart's appVersion when the tag is empty. */}}
{{- define "ironlb.image" -}}
{{ .image.repository }}:{{ .image.tag | default .appVersion }}
{{- end }}

{{/* kubernetes.io/os: linux and the component's nodeSelector values. */}}
{{- define "ironlb.nodeSelector" -}}
{{- toYaml (merge (dict) . (dict "kubernetes.io/os" "linux")) }}
{{- end }}

{{/* The metrics flags of both binaries: plain HTTP on loopback only, HTTPS (a token allowed by ClusterRole metallb-metrics-reader for /metrics) on the network. */}}
{{- define "ironlb.metricsArgs" -}}
- --metrics-addr=127.0.0.1:{{ .Values.prometheus.metricsPort }}
- --secure-metrics-addr=:{{ .Values.prometheus.secureMetricsPort }}
{{- end }}

{{/* The secure metrics port and the probes on it, the same for both containers. The probes need no token; the kubelet does not verify the self-signed certificate of an HTTPS probe. */}}
{{- define "ironlb.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metricshttps
    scheme: HTTPS
  initialDelaySeconds: 10
  periodSeconds: 10
readinessProbe:
  httpGet:
    path: /readyz
    port: metricshttps
    scheme: HTTPS
  periodSeconds: 5
{{- end }}
