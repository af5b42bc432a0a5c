{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names.
*/}}
{{- define "schild.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name.
*/}}
{{- define "schild.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "schild.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Common labels / selector labels (release level).
*/}}
{{- define "schild.selectorLabels" -}}
app.kubernetes.io/name: {{ include "schild.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "schild.labels" -}}
helm.sh/chart: {{ include "schild.chart" . }}
{{ include "schild.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: schild
{{- end -}}

{{/*
Per-service helpers. Call with (dict "root" $ "name" $name "svc" $svc).
*/}}
{{- define "schild.componentFullname" -}}
{{- printf "%s-%s" (include "schild.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "schild.componentSelectorLabels" -}}
{{ include "schild.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "schild.componentLabels" -}}
{{ include "schild.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/*
Container image of one service: [registry/]repository:tag.
*/}}
{{- define "schild.image" -}}
{{- $img := .svc.image | default dict -}}
{{- $registry := $img.registry | default .root.Values.image.registry -}}
{{- $repository := $img.repository | default (printf "%s%s" .root.Values.image.repositoryPrefix .name) -}}
{{- $tag := $img.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry $repository (toString $tag) -}}
{{- else -}}
{{- printf "%s:%s" $repository (toString $tag) -}}
{{- end -}}
{{- end -}}

{{/*
Name of the chart-wide env ConfigMap.
*/}}
{{- define "schild.configMapName" -}}
{{- printf "%s-env" (include "schild.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Secret holding the database URL for one service: the service's own
database.existingSecret, else the chart-wide one, else the Secret the chart
creates from database.url.
*/}}
{{- define "schild.databaseSecretName" -}}
{{- $db := .svc.database | default dict -}}
{{- if $db.existingSecret -}}
{{- $db.existingSecret -}}
{{- else if .root.Values.database.existingSecret -}}
{{- .root.Values.database.existingSecret -}}
{{- else if .root.Values.database.url -}}
{{- printf "%s-database" (include "schild.fullname" .root) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- fail "database: set database.existingSecret (a Secret with the database URL) or, for test clusters, database.url" -}}
{{- end -}}
{{- end -}}

{{/*
Secret holding the /metrics bearer token: metrics.existingSecret, else the Secret the chart
creates from metrics.token, else none (development: /metrics open).
*/}}
{{- define "schild.metricsSecretName" -}}
{{- if .Values.metrics.existingSecret -}}
{{- .Values.metrics.existingSecret -}}
{{- else if .Values.metrics.token -}}
{{- printf "%s-metrics" (include "schild.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "schild.databaseSecretKey" -}}
{{- $db := .svc.database | default dict -}}
{{- $db.secretKey | default .root.Values.database.secretKey | default "database-url" -}}
{{- end -}}

{{/*
Key of the owner role's URL (ANPR_DATABASE_OWNER_URL) in the same Secret as the database URL.
*/}}
{{- define "schild.databaseOwnerSecretKey" -}}
{{- $db := .svc.database | default dict -}}
{{- $db.ownerSecretKey | default .root.Values.database.ownerSecretKey | default "database-owner-url" -}}
{{- end -}}

{{/*
Kafka: the Strimzi cluster's name, the bootstrap the services use, their login.
*/}}
{{- define "schild.kafkaName" -}}
{{- .Values.kafka.strimzi.name | default (printf "%s-kafka" (include "schild.fullname" .)) | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "schild.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrap -}}
{{- .Values.kafka.bootstrap -}}
{{- else if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap:9093" (include "schild.kafkaName" .) -}}
{{- else -}}
{{- fail "kafka.bootstrap is required (e.g. kafka-bootstrap.kafka.svc:9092), or kafka.strimzi.enabled" -}}
{{- end -}}
{{- end -}}

{{- define "schild.kafkaProtocol" -}}
{{- ternary "SASL_SSL" (.Values.kafka.security.protocol | default "PLAINTEXT") .Values.kafka.strimzi.enabled -}}
{{- end -}}

{{- define "schild.kafkaCaSecret" -}}
{{- if .Values.kafka.security.caSecret -}}
{{- .Values.kafka.security.caSecret -}}
{{- else if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-cluster-ca-cert" (include "schild.kafkaName" .) -}}
{{- end -}}
{{- end -}}

{{/*
A service's Kafka user (and the Secret with its password). Call with (dict "root" $ "name" $name "svc" $svc).
*/}}
{{- define "schild.kafkaUser" -}}
{{- $own := .svc.kafka | default dict -}}
{{- $own.username | default (printf "%s%s" (.root.Values.kafka.security.userPrefix | default (printf "%s-" (include "schild.fullname" .root))) .name) -}}
{{- end -}}

{{- define "schild.kafkaUserSecret" -}}
{{- $own := .svc.kafka | default dict -}}
{{- $own.existingSecret | default (include "schild.kafkaUser" .) -}}
{{- end -}}

{{/*
What each service reads and writes (keys of kafka.topics.list; every service writes its dead
letters and, but audit, its audit events). Its consumer groups all start with its name.
*/}}
{{- define "schild.kafkaAccess" -}}
ingest: {read: [], write: [frames, reads, cameras, audit, dlq]}
detect: {read: [frames, reads], write: [reads, passages, audit, dlq]}
match: {read: [reads, hotlist, sharedHotlist], write: [hits, hotlist, audit, dlq]}
audit: {read: [audit, anchors], write: [anchors, dlq]}
access: {read: [reads, sharedReads, passages, hits], write: [audit, dlq]}
share: {read: [reads, hotlist, cameras], write: [sharedReads, sharedHotlist, audit, dlq]}
{{- end -}}

{{/*
PostgreSQL: the CloudNativePG cluster's name.
*/}}
{{- define "schild.cnpgName" -}}
{{- .Values.database.cnpg.name | default (printf "%s-db" (include "schild.fullname" .)) | trunc 50 | trimSuffix "-" -}}
{{- end -}}
