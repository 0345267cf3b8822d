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
