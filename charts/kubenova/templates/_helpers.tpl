{{/* Labels every object carries. */}}
{{- define "kubenova.labels" -}}
app.kubernetes.io/name: kubenova
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "kubenova.selector" -}}
app.kubernetes.io/name: kubenova
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The image of a component: <registry>/<component>:<tag>. */}}
{{- define "kubenova.image" -}}
{{ printf "%s/%s:%s" .root.Values.image.registry .name (default .root.Chart.AppVersion .root.Values.image.tag) }}
{{- end }}

{{- define "kubenova.issuer" -}}
{{- if .Values.issuer }}{{ .Values.issuer }}{{ else }}{{ printf "https://kubenova-control.%s.svc:%d" .Release.Namespace (int .Values.control.port) }}{{ end }}
{{- end }}

{{/* Cluster-scoped names carry the namespace: one installation per namespace. */}}
{{- define "kubenova.clusterName" -}}
{{ printf "kubenova:%s:%s" .root.Release.Namespace .name }}
{{- end }}

{{- define "kubenova.controlTlsSecret" -}}
{{- if eq .Values.tls.mode "existing" }}{{ .Values.tls.existing.controlSecret }}{{ else }}kubenova-control-tls{{ end }}
{{- end }}

{{- define "kubenova.proxyTlsSecret" -}}
{{- if eq .Values.tls.mode "existing" }}{{ .Values.tls.existing.proxySecret }}{{ else }}kubenova-proxy-tls{{ end }}
{{- end }}

{{/* Spread replicas over nodes (hard) and zones (soft). */}}
{{- define "kubenova.spread" -}}
{{- if .enabled }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "kubenova.selector" . | nindent 8 }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "kubenova.selector" . | nindent 8 }}
{{- end }}
{{- end }}

{{/* The extra DNS names of a component's serving certificate: its tls*DnsNames plus the hosts
of its Ingress and route when enabled (an Ingress that passes TLS through or re-encrypts to
the pod checks that name). A YAML list. */}}
{{- define "kubenova.tlsDnsNames" -}}
{{- $v := .values }}
{{- $names := $v.tlsDnsNames }}
{{- if $v.ingress.enabled }}{{ $names = concat $names $v.ingress.hosts }}{{ end }}
{{- with $v.httpRoute }}{{ if .enabled }}{{ $names = concat $names .hostnames }}{{ end }}{{ end }}
{{- with $v.tlsRoute }}{{ if .enabled }}{{ $names = concat $names .hostnames }}{{ end }}{{ end }}
{{- toYaml (uniq $names) }}
{{- end }}
