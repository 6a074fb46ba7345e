{{/*
Names.
*/}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the prefix of every object name. Truncated to 40 characters so that the
longest suffix ("-executor-task", "-minio-bucket") still fits a 63-character DNS label.
*/}}
{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels. "sluice.labels" and "sluice.selectorLabels" take a dict: {root: $, component: NAME}.
*/}}
{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" .root }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end }}

{{/* Labels of objects that belong to the release as a whole. */}}
{{- define "sluice.commonLabels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end }}

{{- define "sluice.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Service accounts and the namespace of task pods.
*/}}
{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sluice.taskServiceAccountName" -}}
{{- $sa := .Values.executor.kubernetes.taskServiceAccount }}
{{- if $sa.create }}
{{- default (printf "%s-task" (include "sluice.fullname" .)) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{- define "sluice.taskNamespace" -}}
{{- default .Release.Namespace .Values.executor.kubernetes.namespace }}
{{- end }}

{{/*
In-cluster addresses. Fully qualified (NAME.NAMESPACE.svc) so they also resolve from
task pods in another namespace.
*/}}
{{- define "sluice.serviceHost" -}}
{{- printf "%s-%s.%s.svc" (include "sluice.fullname" .root) .component .root.Release.Namespace }}
{{- end }}

{{- define "sluice.schedulerAddress" -}}
{{- printf "%s:%d" (include "sluice.serviceHost" (dict "root" . "component" "scheduler")) (int .Values.scheduler.port) }}
{{- end }}

{{- define "sluice.artifactsAddress" -}}
{{- printf "%s:%d" (include "sluice.serviceHost" (dict "root" . "component" "artifacts")) (int .Values.artifacts.port) }}
{{- end }}

{{/* The Secret the chart writes the external connection settings to. */}}
{{- define "sluice.connectionsSecretName" -}}
{{- printf "%s-connections" (include "sluice.fullname" .) }}
{{- end }}

{{- define "sluice.minioSecretName" -}}
{{- default (printf "%s-minio" (include "sluice.fullname" .)) .Values.minio.existingSecret }}
{{- end }}

{{- define "sluice.s3Endpoint" -}}
{{- if .Values.minio.enabled }}
{{- printf "%s:9000" (include "sluice.serviceHost" (dict "root" . "component" "minio")) }}
{{- else }}
{{- required "externalS3.endpoint is required when minio.enabled is false" .Values.externalS3.endpoint }}
{{- end }}
{{- end }}

{{- define "sluice.defaultPipelineRoot" -}}
{{- if .Values.scheduler.defaultPipelineRoot }}
{{- .Values.scheduler.defaultPipelineRoot }}
{{- else }}
{{- printf "%s://%s/pipelines" (ternary "minio" "s3" .Values.minio.enabled) .Values.bucket }}
{{- end }}
{{- end }}

{{/*
Environment shared by the four services: log level, lease timing and NATS; and the
metadata store's URL, for the scheduler and the artifact service only. Bundled NATS and
MongoDB have credential-free URLs and are set as values; external URLs come from a
Secret (the chart's or an existing one).
*/}}
{{- define "sluice.commonEnv" -}}
- name: SLUICE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: SLUICE_DISPATCH_ACK_WAIT_SECONDS
  value: {{ .Values.dispatchAckWaitSeconds | quote }}
- name: SLUICE_NATS_URL
{{- if .Values.nats.enabled }}
  value: {{ printf "nats://%s:4222" (include "sluice.serviceHost" (dict "root" . "component" "nats")) | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ default (include "sluice.connectionsSecretName" .) .Values.externalNats.existingSecret }}
      key: {{ ternary .Values.externalNats.existingSecretKey "nats-url" (not (empty .Values.externalNats.existingSecret)) }}
{{- end }}
{{- end }}

{{- define "sluice.storeEnv" -}}
- name: SLUICE_STORE_URL
{{- if .Values.mongodb.enabled }}
  value: {{ printf "mongodb://%s:27017/%s?replicaSet=rs0" (include "sluice.serviceHost" (dict "root" . "component" "mongodb")) .Values.mongodb.database | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ default (include "sluice.connectionsSecretName" .) .Values.externalMongodb.existingSecret }}
      key: {{ ternary .Values.externalMongodb.existingSecretKey "mongodb-url" (not (empty .Values.externalMongodb.existingSecret)) }}
{{- end }}
{{- end }}

{{/* S3 access and secret key: bundled MinIO's root credentials or the external ones. */}}
{{- define "sluice.s3CredentialsEnv" -}}
{{- if .Values.minio.enabled }}
- name: SLUICE_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "sluice.minioSecretName" . }}
      key: root-user
- name: SLUICE_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "sluice.minioSecretName" . }}
      key: root-password
{{- else if .Values.externalS3.existingSecret }}
- name: SLUICE_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalS3.existingSecret }}
      key: {{ .Values.externalS3.existingSecretAccessKeyKey }}
- name: SLUICE_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalS3.existingSecret }}
      key: {{ .Values.externalS3.existingSecretSecretKeyKey }}
{{- else }}
- name: SLUICE_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "sluice.connectionsSecretName" . }}
      key: s3-access-key
- name: SLUICE_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "sluice.connectionsSecretName" . }}
      key: s3-secret-key
{{- end }}
{{- end }}

{{/*
Probes of a Sluice container. Takes {root: $, http: PATH-or-empty, port: NAME}: an HTTP
GET of PATH when given, else the standard gRPC health check on the port.
*/}}
{{- define "sluice.probeAction" -}}
{{- if .http }}
httpGet:
  path: {{ .http }}
  port: {{ .port }}
{{- else }}
grpc:
  port: {{ .portNumber }}
{{- end }}
{{- end }}

{{- define "sluice.probes" -}}
{{- $p := .root.Values.probes }}
startupProbe:
  {{- include "sluice.probeAction" . | trim | nindent 2 }}
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  {{- include "sluice.probeAction" . | trim | nindent 2 }}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  {{- include "sluice.probeAction" . | trim | nindent 2 }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end }}

{{/*
The pod template of a Sluice service. Takes {root: $, component: NAME, spec: the
service's values, env: extra env YAML, ports: ports YAML, probes: probes YAML,
serviceAccountToken: bool, terminationGracePeriodSeconds: optional}.
*/}}
{{- define "sluice.podTemplate" -}}
{{- $root := .root }}
metadata:
  labels:
    {{- include "sluice.labels" (dict "root" $root "component" .component) | nindent 4 }}
    {{- with $root.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/secrets: {{ include (print $root.Template.BasePath "/secrets.yaml") $root | sha256sum }}
    {{- with $root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "sluice.serviceAccountName" $root }}
  # Only the executor talks to the Kubernetes API.
  automountServiceAccountToken: {{ .serviceAccountToken }}
  {{- with .terminationGracePeriodSeconds }}
  terminationGracePeriodSeconds: {{ . }}
  {{- end }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "sluice.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: ["service", {{ .component | quote }}]
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      ports:
        {{- .ports | trim | nindent 8 }}
      env:
        {{- include "sluice.commonEnv" $root | trim | nindent 8 }}
        {{- .env | trim | nindent 8 }}
        {{- with $root.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with .spec.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- .probes | trim | nindent 6 }}
      resources:
        {{- toYaml .spec.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: home
          mountPath: /var/lib/sluice
  volumes:
    - name: tmp
      emptyDir: {}
    - name: home
      emptyDir: {}
  {{- with .spec.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .spec.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .spec.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
