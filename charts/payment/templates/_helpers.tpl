{{/*
Names, labels and security settings shared by every template. Labels come from
ONE helper ("payment.labels") so selectors, NetworkPolicies and ServiceMonitors
can rely on them.
*/}}

{{- define "payment.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name; the payment API's own objects carry it unchanged. */}}
{{- define "payment.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of a component's objects: (dict "ctx" $ "component" "envoy"). */}}
{{- define "payment.componentName" -}}
{{- printf "%s-%s" (include "payment.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Every pod of this release (the default-deny NetworkPolicy, the ServiceMonitor). */}}
{{- define "payment.releaseSelector" -}}
app.kubernetes.io/name: {{ include "payment.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels: stable for the life of a release (selectors are immutable). */}}
{{- define "payment.selectorLabels" -}}
{{ include "payment.releaseSelector" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The labels every object carries: (dict "ctx" $ "component" "payment"). */}}
{{- define "payment.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "payment.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "payment.name" .ctx }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{- define "payment.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "payment.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The payment-service image (API, GraphQL, migrations and reconcile share it). */}}
{{- define "payment.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Restricted pod security (Pod Security Standard "restricted"). The uid is passed
in because some upstream images name their user instead of numbering it, and
runAsNonRoot can only be verified against a number: (dict "uid" 10001).
*/}}
{{- define "payment.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Restricted container security. readOnlyRootFilesystem is lifted ONLY for the
app image under Tilt (liveUpdate.enabled), where files are synced into the
running container: (dict "ctx" $ "app" true).
*/}}
{{- define "payment.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ not (and .app .ctx.Values.liveUpdate.enabled) }}
runAsNonRoot: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod-level settings every workload shares. */}}
{{- define "payment.podCommon" -}}
serviceAccountName: {{ include "payment.serviceAccountName" . }}
{{- /* No pod talks to the Kubernetes API. */}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Where a pod may run: the release-wide nodeSelector and tolerations, with a component's own
(payment, graphql, envoy) merged over them: (dict "ctx" $ "component" .Values.payment); other
pods pass an empty dict. The release-wide ones put every pod of the release on one kind of node
(e.g. the tainted real node of `make cluster-up REAL=1`).
*/}}
{{- define "payment.scheduling" -}}
{{- $c := .component | default dict }}
{{- $selector := merge (deepCopy ($c.nodeSelector | default dict)) (deepCopy (.ctx.Values.nodeSelector | default dict)) }}
{{- $tolerations := concat (.ctx.Values.tolerations | default list) ($c.tolerations | default list) }}
{{- with $selector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
