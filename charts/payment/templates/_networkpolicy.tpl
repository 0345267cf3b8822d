{{/* Building blocks of networkpolicies.yaml. */}}

{{/*
Metadata plus spec.podSelector for one component's policy:
(dict "ctx" $ "name" "envoy" "component" "envoy"). Without a component the
caller writes its own spec.
*/}}
{{- define "payment.netpolHeader" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "payment.componentName" (dict "ctx" .ctx "component" (printf "allow-%s" .name)) }}
  labels:
    {{- include "payment.labels" (dict "ctx" .ctx "component" "network-policy") | nindent 4 }}
{{- if .component }}
spec:
  podSelector:
    matchLabels:
      {{- include "payment.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
{{- end }}
{{- end }}

{{/* Egress to PostgreSQL (and Redis when asked): bundled pods or the external address. */}}
{{- define "payment.datastoreEgress" -}}
{{- $v := .ctx.Values -}}
# -> postgresql
- ports:
    - {protocol: TCP, port: 5432}
  {{- if $v.postgresql.enabled }}
  to:
    - podSelector:
        matchLabels:
          {{- include "payment.selectorLabels" (dict "ctx" .ctx "component" "postgresql") | nindent 10 }}
  {{- else if $v.externalDatabase.networkPolicyTo }}
  to:
    {{- toYaml $v.externalDatabase.networkPolicyTo | nindent 4 }}
  {{- end }}
{{- if .redis }}
{{- if $v.redis.enabled }}
# -> redis
- ports:
    - {protocol: TCP, port: 6379}
  to:
    - podSelector:
        matchLabels:
          {{- include "payment.selectorLabels" (dict "ctx" .ctx "component" "redis") | nindent 10 }}
{{- else if include "payment.usesExternalRedis" .ctx }}
# -> external redis
- ports:
    - {protocol: TCP, port: 6379}
  {{- with $v.externalRedis.networkPolicyTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Egress to payment processors over HTTPS. NetworkPolicy matches addresses, not
DNS names, so this allows the configured CIDR (default: public addresses) on
443 and keeps cluster-internal ranges out.
*/}}
{{- define "payment.processorEgress" -}}
{{- $p := .Values.networkPolicy.processorEgress -}}
# -> payment processors (Stripe) over HTTPS
- to:
    - ipBlock:
        cidr: {{ $p.cidr }}
        {{- with $p.except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
  ports:
    - {protocol: TCP, port: {{ $p.port }}}
{{- end }}
