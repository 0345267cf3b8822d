{{/*
Where each secret comes from, the checks that stop contradictory values, and
the environment the app image's containers share. Secret values only ever
reach a container through secretKeyRef.
*/}}

{{- define "payment.appSecretName" -}}
{{- default (printf "%s-secrets" (include "payment.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "payment.postgresqlSecretName" -}}
{{- default (include "payment.componentName" (dict "ctx" . "component" "postgresql")) .Values.postgresql.auth.existingSecret }}
{{- end }}

{{- define "payment.externalDatabaseSecretName" -}}
{{- default (include "payment.componentName" (dict "ctx" . "component" "external-database")) .Values.externalDatabase.existingSecret }}
{{- end }}

{{- define "payment.externalRedisSecretName" -}}
{{- default (include "payment.componentName" (dict "ctx" . "component" "external-redis")) .Values.externalRedis.existingSecret }}
{{- end }}

{{/* True (non-empty) when the chart itself renders the app Secret. */}}
{{- define "payment.rendersAppSecret" -}}
{{- if and (not .Values.secrets.existingSecret) .Values.secrets.apiKeys }}true{{ end }}
{{- end }}

{{- define "payment.usesExternalRedis" -}}
{{- if and (not .Values.redis.enabled) (or .Values.externalRedis.url .Values.externalRedis.existingSecret) }}true{{ end }}
{{- end }}

{{/* Stops contradictory or incomplete values before anything is applied. */}}
{{- define "payment.validateValues" -}}
{{- $s := .Values.secrets }}
{{- if and $s.existingSecret (or $s.apiKeys $s.stripeApiKey $s.stripeWebhookSecret) }}
{{- fail "secrets: set either secrets.existingSecret or the inline values (apiKeys, stripeApiKey, stripeWebhookSecret), not both" }}
{{- end }}
{{- if and (not $s.existingSecret) (not $s.apiKeys) (or $s.stripeApiKey $s.stripeWebhookSecret) }}
{{- fail "secrets.apiKeys is required when the chart creates the app Secret (or use secrets.existingSecret)" }}
{{- end }}
{{- $pg := .Values.postgresql }}
{{- $ext := .Values.externalDatabase }}
{{- if $pg.enabled }}
{{- if or $ext.url $ext.existingSecret }}
{{- fail "externalDatabase is set while postgresql.enabled=true: disable the bundled PostgreSQL to use an external database" }}
{{- end }}
{{- if and $pg.auth.existingSecret $pg.auth.password }}
{{- fail "postgresql.auth: set either existingSecret or password, not both" }}
{{- end }}
{{- else }}
{{- if not (or $ext.url $ext.existingSecret) }}
{{- fail "postgresql.enabled=false needs externalDatabase.existingSecret (a Secret with the DATABASE_URL) or externalDatabase.url" }}
{{- end }}
{{- if and $ext.url $ext.existingSecret }}
{{- fail "externalDatabase: set either existingSecret or url, not both" }}
{{- end }}
{{- end }}
{{- $er := .Values.externalRedis }}
{{- if and .Values.redis.enabled (or $er.url $er.existingSecret) }}
{{- fail "externalRedis is set while redis.enabled=true: disable the bundled Redis to use an external one" }}
{{- end }}
{{- if and $er.url $er.existingSecret }}
{{- fail "externalRedis: set either existingSecret or url, not both" }}
{{- end }}
{{- $hpa := .Values.payment.autoscaling }}
{{- if and $hpa.enabled (lt (int $hpa.maxReplicas) (int $hpa.minReplicas)) }}
{{- fail "payment.autoscaling.maxReplicas must be >= minReplicas" }}
{{- end }}
{{- end }}

{{/*
The Secrets the release reads but does not render, as a JSON list of [name, key] pairs.
*/}}
{{- define "payment.requiredSecrets" -}}
{{- $need := list }}
{{- if not (include "payment.rendersAppSecret" .) }}
{{- $need = append $need (list (include "payment.appSecretName" .) "API_KEYS") }}
{{- end }}
{{- if .Values.postgresql.enabled }}
{{- if not .Values.postgresql.auth.password }}
{{- $need = append $need (list (include "payment.postgresqlSecretName" .) "password") }}
{{- end }}
{{- else if .Values.externalDatabase.existingSecret }}
{{- $need = append $need (list .Values.externalDatabase.existingSecret .Values.externalDatabase.existingSecretKey) }}
{{- end }}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.existingSecret }}
{{- $need = append $need (list .Values.externalRedis.existingSecret .Values.externalRedis.existingSecretKey) }}
{{- end }}
{{- toJson $need }}
{{- end }}

{{/*
Refuses to install (or upgrade) when a Secret the pods read is missing from the namespace, or lacks
its key: otherwise the release "succeeds" with pods stuck in CreateContainerConfigError forever.
Only with the API server at hand (helm install/upgrade, --dry-run=server): offline (helm template,
lint, --dry-run) `lookup` returns nothing and the check is skipped. Listing the namespace's Secrets
needs no permission helm itself lacks (it keeps its releases in Secrets there).
*/}}
{{- define "payment.requireSecretsExist" -}}
{{- $secrets := lookup "v1" "Secret" .Release.Namespace "" }}
{{- if $secrets }}
{{- $have := dict }}
{{- range $secrets.items }}
{{- $_ := set $have .metadata.name (.data | default dict) }}
{{- end }}
{{- $missing := list }}
{{- range include "payment.requiredSecrets" . | fromJsonArray }}
{{- $name := index . 0 }}
{{- $key := index . 1 }}
{{- $data := hasKey $have $name | ternary (get $have $name) dict }}
{{- if not (hasKey $data $key) }}
{{- $missing = append $missing (printf "  Secret %q with key %q: kubectl -n %s create secret generic %s --from-literal=%s=..." $name $key $.Release.Namespace $name $key) }}
{{- end }}
{{- end }}
{{- if $missing }}
{{- fail (printf "the pods of this release read Secrets that namespace %q does not have, and the chart ships no secrets (values: secrets, postgresql.auth, externalDatabase, externalRedis). Create them first:\n%s" .Release.Namespace (join "\n" $missing)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* DATABASE_URL: composed from the bundled PostgreSQL's Secret, or read whole from a Secret. */}}
{{- define "payment.databaseEnv" -}}
{{- if .Values.postgresql.enabled -}}
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "payment.postgresqlSecretName" . }}
      key: password
{{- /* $(DB_PASSWORD) is expanded by the kubelet: the password never appears in the manifest. */}}
- name: DATABASE_URL
  value: {{ printf "postgresql+asyncpg://%s:$(DB_PASSWORD)@%s:5432/%s" .Values.postgresql.auth.username (include "payment.componentName" (dict "ctx" . "component" "postgresql")) .Values.postgresql.auth.database | quote }}
{{- else -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "payment.externalDatabaseSecretName" . }}
      key: {{ if .Values.externalDatabase.existingSecret }}{{ .Values.externalDatabase.existingSecretKey }}{{ else }}DATABASE_URL{{ end }}
{{- end }}
{{- end }}

{{/* REDIS_URL: the bundled Redis, an external one from a Secret, or none (no cache). */}}
{{- define "payment.redisEnv" -}}
{{- if .Values.redis.enabled -}}
- name: REDIS_URL
  value: {{ printf "redis://%s:6379/0" (include "payment.componentName" (dict "ctx" . "component" "redis")) | quote }}
{{- else if include "payment.usesExternalRedis" . -}}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "payment.externalRedisSecretName" . }}
      key: {{ if .Values.externalRedis.existingSecret }}{{ .Values.externalRedis.existingSecretKey }}{{ else }}REDIS_URL{{ end }}
{{- end }}
{{- end }}

{{/* Processor credentials; optional so a deployment without Stripe starts. */}}
{{- define "payment.processorEnv" -}}
- name: STRIPE_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "payment.appSecretName" . }}
      key: STRIPE_API_KEY
      optional: true
- name: STRIPE_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "payment.appSecretName" . }}
      key: STRIPE_WEBHOOK_SECRET
      optional: true
{{- end }}

{{- define "payment.apiKeysEnv" -}}
- name: API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "payment.appSecretName" . }}
      key: API_KEYS
{{- end }}

{{/* Non-secret settings come from the config ConfigMap (payment.yaml). */}}
{{- define "payment.configEnvFrom" -}}
- configMapRef:
    name: {{ include "payment.componentName" (dict "ctx" . "component" "config") }}
{{- end }}

{{/* Writable scratch space; the root filesystem is read-only. */}}
{{- define "payment.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "payment.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* The payment service's non-secret settings (names as in .env.example). */}}
{{- define "payment.configData" -}}
GRPC_PORT: {{ .Values.payment.grpcPort | quote }}
METRICS_PORT: {{ .Values.payment.metricsPort | quote }}
WORKERS: {{ .Values.payment.workers | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
DEFAULT_PROCESSOR: {{ .Values.config.defaultProcessor | quote }}
CACHE_TTL_SECONDS: {{ .Values.config.cacheTtlSeconds | quote }}
STRIPE_API_BASE: {{ .Values.config.stripeApiBase | quote }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .Values.config.otel.endpoint | quote }}
{{- end }}

{{/* The chart-managed app Secret's data (only when secrets.apiKeys is set). */}}
{{- define "payment.appSecretData" -}}
API_KEYS: {{ .Values.secrets.apiKeys | quote }}
{{- with .Values.secrets.stripeApiKey }}
STRIPE_API_KEY: {{ . | quote }}
{{- end }}
{{- with .Values.secrets.stripeWebhookSecret }}
STRIPE_WEBHOOK_SECRET: {{ . | quote }}
{{- end }}
{{- end }}
