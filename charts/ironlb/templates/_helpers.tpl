{{/* The image reference of a component: its repository and tag, the chart's appVersion when the tag is empty. */}}
{{- define "ironlb.image" -}}
{{ .image.repository }}:{{ .image.tag | default .appVersion }}
{{- end }}

{{/* kubernetes.io/os: linux and the component's nodeSelector values. */}}
{{- define "ironlb.nodeSelector" -}}
{{- toYaml (merge (dict) . (dict "kubernetes.io/os" "linux")) }}
{{- end }}

{{/* The metrics address both binaries listen on. */}}
{{- define "ironlb.metricsAddr" -}}
--metrics-addr=:{{ .Values.prometheus.metricsPort }}
{{- end }}
