{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names and labels.
*/}}
{{- define "tributary.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release-scoped base name; resources are "<fullname>-<service>".
*/}}
{{- define "tributary.fullname" -}}
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

{{- define "tributary.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of release-wide resources (ConfigMap, Secret, ServiceAccount).
*/}}
{{- define "tributary.labels" -}}
helm.sh/chart: {{ include "tributary.chart" . }}
app.kubernetes.io/name: {{ include "tributary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: tributary
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Per-service helpers take (dict "root" $ "name" <service> "svc" <service values>).
*/}}
{{- define "tributary.serviceFullname" -}}
{{- printf "%s-%s" (include "tributary.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tributary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tributary.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "tributary.serviceLabels" -}}
{{ include "tributary.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "tributary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tributary.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tributary.image" -}}
{{- $image := default dict .svc.image }}
{{- $repository := default (printf "%s/%s" .root.Values.image.repository .name) $image.repository }}
{{- $tag := default (default .root.Chart.AppVersion .root.Values.image.tag) $image.tag }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}

{{/*
Name of the chart's shared Secret, and whether there is one: it carries WRITE_KEYS unless an existing Secret is
named, and MONGO_URL when mongo.urlInSecret is set.
*/}}
{{- define "tributary.secretName" -}}
{{- printf "%s-secrets" (include "tributary.fullname" .) }}
{{- end }}

{{- define "tributary.hasSharedSecret" -}}
{{- if or (not .Values.writeKeys.existingSecret) (and .Values.mongo.urlInSecret (not .Values.mongo.existingSecret)) -}}
true
{{- end }}
{{- end }}

{{- define "tributary.configMapName" -}}
{{- printf "%s-config" (include "tributary.fullname" .) }}
{{- end }}

{{/*
Kafka bootstrap servers as a comma-separated string (values may give a string or a list).
*/}}
{{- define "tributary.kafkaBrokers" -}}
{{- if kindIs "slice" .Values.kafka.brokers }}
{{- join "," .Values.kafka.brokers }}
{{- else }}
{{- required "kafka.brokers is required (host:port,...)" .Values.kafka.brokers }}
{{- end }}
{{- end }}

{{/*
A service's consumer group: its CONSUMER_GROUP override, else the service name (the services' default).
*/}}
{{- define "tributary.consumerGroup" -}}
{{- $env := default dict .svc.env }}
{{- default .name (get $env "CONSUMER_GROUP") }}
{{- end }}
