{{- define "codeinstruct.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "codeinstruct.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "codeinstruct.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "codeinstruct.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "codeinstruct.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: codeinstruct
app.kubernetes.io/component: operator
{{- with .Values.extraLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "codeinstruct.selector" -}}
app.kubernetes.io/name: {{ include "codeinstruct.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "codeinstruct.serviceAccount" -}}
{{- default (include "codeinstruct.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* repository@digest when a digest is given, else repository:tag (tag defaults to appVersion). */}}
{{- define "codeinstruct.imageRef" -}}
{{- $image := index . 0 -}}
{{- $chart := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "codeinstruct.image" -}}
{{- include "codeinstruct.imageRef" (list .Values.image .Chart) -}}
{{- end -}}

{{- define "codeinstruct.rayImage" -}}
{{- include "codeinstruct.imageRef" (list .Values.rayImage .Chart) -}}
{{- end -}}

{{- define "codeinstruct.sandboxImage" -}}
{{- include "codeinstruct.imageRef" (list .Values.sandboxImage .Chart) -}}
{{- end -}}

{{/* Placement of the children, as the operator's CODEINSTRUCT_PLACEMENT (JSON). */}}
{{- define "codeinstruct.placement" -}}
{{- $out := dict -}}
{{- with .Values.children.nodeSelector }}{{ $_ := set $out "nodeSelector" . }}{{ end -}}
{{- with .Values.children.tolerations }}{{ $_ := set $out "tolerations" . }}{{ end -}}
{{- with .Values.children.affinity }}{{ $_ := set $out "affinity" . }}{{ end -}}
{{- with .Values.children.priorityClassName }}{{ $_ := set $out "priorityClassName" . }}{{ end -}}
{{- with .Values.imagePullSecrets }}{{ $_ := set $out "imagePullSecrets" . }}{{ end -}}
{{- toJson $out -}}
{{- end -}}

{{- define "codeinstruct.gpuPlacement" -}}
{{- $out := dict -}}
{{- with .Values.children.gpu.nodeSelector }}{{ $_ := set $out "nodeSelector" . }}{{ end -}}
{{- with .Values.children.gpu.tolerations }}{{ $_ := set $out "tolerations" . }}{{ end -}}
{{- with .Values.children.gpu.affinity }}{{ $_ := set $out "affinity" . }}{{ end -}}
{{- toJson $out -}}
{{- end -}}
