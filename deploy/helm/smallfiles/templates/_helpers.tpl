{{- define "smallfiles.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "smallfiles.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "smallfiles.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "smallfiles.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "smallfiles.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "smallfiles.fullname" .)) -}}
{{- end -}}

{{/* The configuration file: the operator's `config` with what the chart owns set. */}}
{{- define "smallfiles.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- $exporter := dict "listen_address" "0.0.0.0:9942" "state_dir" "/var/lib/smallfiles" -}}
{{- if gt (int .Values.exporter.shards) 1 -}}
{{- $_ := set $exporter "shard" (dict "index" 0 "total" (int .Values.exporter.shards) "by" .Values.exporter.shardBy) -}}
{{- end -}}
{{- $_ := set $c "exporter" (merge $exporter (default (dict) $c.exporter)) -}}
{{- if .Values.merger.enabled -}}
{{- $m := default (dict) $c.merger -}}
{{- $_ := set $m "listen_address" "0.0.0.0:9943" -}}
{{- $_ := set $m "data_dir" "/var/lib/smallfiles/merger" -}}
{{- $_ := set $c "merger" $m -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{- define "smallfiles.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "smallfiles.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end -}}
