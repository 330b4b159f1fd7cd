{{/* Names, labels and the pieces several templates share. */}}

{{- define "ark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ark.fullname" -}}
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

{{- define "ark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ark.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ark.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ark
{{- end }}

{{- define "ark.serviceAccountName" -}}
{{- default (include "ark.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "ark.subjects" -}}
subjects:
  - kind: ServiceAccount
    name: {{ include "ark.serviceAccountName" . }}
    namespace: {{ .Release.Namespace }}
{{- end }}

{{- define "ark.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The API group and the kinds this server serves, by version (ark/kinds; a test keeps them in step). */}}
{{- define "ark.group" -}}ark.mckinsey.com{{- end }}

{{- define "ark.resourcesByVersion" -}}
v1alpha1: [a2atasks, agents, evaluations, evaluators, mcpservers, memories, models, queries, teams, tools]
v1prealpha1: [a2aservers, executionengines]
{{- end }}

{{- define "ark.resources" -}}
{{- $all := list }}
{{- range $version, $resources := include "ark.resourcesByVersion" . | fromYaml }}
{{- $all = concat $all $resources }}
{{- end }}
{{- toJson (sortAlpha $all) }}
{{- end }}

{{- define "ark.tlsSecretName" -}}
{{- if eq .Values.tls.mode "existingSecret" }}
{{- required "tls.existingSecret.name is required with tls.mode=existingSecret" .Values.tls.existingSecret.name }}
{{- else }}
{{- printf "%s-tls" (include "ark.fullname" .) }}
{{- end }}
{{- end }}

{{/* DNS names kube-apiserver may use for the Service; it verifies <service>.<namespace>.svc. */}}
{{- define "ark.sans" -}}
{{- $svc := include "ark.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $names := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) }}
{{- toJson (uniq (concat $names .Values.tls.extraSANs)) }}
{{- end }}

{{- define "ark.sqlite" -}}
{{- if eq .Values.storage.driver "sqlite" }}true{{ end }}
{{- end }}

{{- define "ark.replicas" -}}
{{- if include "ark.sqlite" . }}1{{ else }}{{ .Values.replicas }}{{ end }}
{{- end }}

{{/* The settings of the database, for the server and for the migration alike. */}}
{{- define "ark.storageEnv" -}}
- name: ARK_STORAGE_DRIVER
  value: {{ .Values.storage.driver | quote }}
{{- if include "ark.sqlite" . }}
- name: ARK_SQLITE_PATH
  value: {{ .Values.storage.sqlite.path | quote }}
- name: ARK_SQLITE_SYNCHRONOUS
  value: {{ .Values.storage.sqlite.synchronous | quote }}
{{- else }}
{{- $pg := .Values.storage.postgresql }}
- name: ARK_POSTGRES_HOST
  value: {{ required "storage.postgresql.host is required with storage.driver=postgresql" $pg.host | quote }}
- name: ARK_POSTGRES_PORT
  value: {{ $pg.port | quote }}
- name: ARK_POSTGRES_DB
  value: {{ $pg.database | quote }}
- name: ARK_POSTGRES_USER
  value: {{ $pg.username | quote }}
- name: ARK_POSTGRES_SSLMODE
  value: {{ $pg.sslMode | quote }}
- name: ARK_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "storage.postgresql.existingSecret is required with storage.driver=postgresql: create a Secret with the password (kubectl create secret generic ark-db-credentials --from-literal=password=...) and name it here" $pg.existingSecret | quote }}
      key: {{ $pg.passwordKey | quote }}
{{- end }}
{{- end }}

{{- define "ark.serverEnv" -}}
{{- $names := .Values.server.settingNames }}
{{- include "ark.storageEnv" . }}
- name: ARK_BIND_ADDRESS
  value: {{ .Values.server.bindAddress | quote }}
- name: ARK_SECURE_PORT
  value: {{ .Values.server.port | quote }}
- name: ARK_WORKERS
  value: {{ .Values.server.workers | quote }}
- name: ARK_CONFIG
  value: {{ include "ark.configPath" . }}
- name: {{ $names.authMode }}
  value: {{ .Values.server.authMode | quote }}
{{- with .Values.server.auditLogPath }}
- name: ARK_AUDIT_LOG_PATH
  value: {{ . | quote }}
{{- end }}
- name: {{ $names.tlsCertFile }}
  value: /etc/ark/tls/tls.crt
- name: {{ $names.tlsPrivateKeyFile }}
  value: /etc/ark/tls/tls.key
{{- range $name, $value := .Values.server.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* The server's config file (README.md "Configuration"), in the ConfigMap <fullname>-config: the
settings with a place in values.yaml but storage, address, authentication and TLS (environment
variables above, which override the file). Values are written as JSON, which is YAML, so that large
numbers stay integers. */}}
{{- define "ark.serverConfig" -}}
server:
  logFormat: {{ .Values.server.logFormat | toJson }}
  logLevel: {{ .Values.server.logLevel | toJson }}
  maxBodyBytes: {{ .Values.server.maxBodyBytes | int64 }}
  maxObjectBytes: {{ .Values.server.maxObjectBytes | int64 }}
  requestTimeout: {{ .Values.server.requestTimeout | toJson }}
  readHeaderTimeout: {{ .Values.server.readHeaderTimeout | toJson }}
watch:
{{- range $key, $value := .Values.watch }}
  {{ $key }}: {{ toJson $value }}
{{- end }}
admission:
{{- range $key, $value := .Values.admission }}
  {{ $key }}: {{ toJson $value }}
{{- end }}
{{- end }}

{{- define "ark.configPath" -}}/etc/ark/config/config.yaml{{- end }}

{{/* `python -m ark migrate` on the server's database: the hook Job's container (PostgreSQL) or the
init container (SQLite, on the server's volume). */}}
{{- define "ark.migrationContainer" -}}
name: migrate
image: {{ include "ark.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
command: {{ toJson .Values.migration.command }}
env:
  {{- include "ark.storageEnv" . | nindent 2 }}
  # Not the config file: a pre-install hook runs before the ConfigMap exists.
  - name: ARK_LOG_FORMAT
    value: {{ .Values.server.logFormat | quote }}
  - name: ARK_LOG_LEVEL
    value: {{ .Values.server.logLevel | quote }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- with .Values.migration.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  {{- include "ark.tmpVolumeMount" . | nindent 2 }}
  {{- with include "ark.sqliteVolumeMount" . }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* The volume every container writes to: the root filesystem is read-only. */}}
{{- define "ark.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "ark.sqliteVolumeMount" -}}
{{- if include "ark.sqlite" . -}}
- name: data
  mountPath: {{ dir .Values.storage.sqlite.path }}
{{- end }}
{{- end }}

{{/*
The CRD-collision guard (docs/moving-in.md). While ark.mckinsey.com CRDs exist, kube-apiserver's
crd-autoregistration controller owns APIServices of the same names and turns them back into local
ones, so the Ark objects would keep coming from etcd. `lookup` sees the cluster during
`helm install`/`upgrade` and `--dry-run=server`; `helm template` has no cluster and finds nothing.
*/}}
{{- define "ark.crdGuard" -}}
{{- if not .Values.takeOverFromCRDs }}
{{- $group := include "ark.group" . }}
{{- $found := list }}
{{- range (lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" "").items | default list }}
{{- if eq .spec.group $group }}
{{- $found = append $found .metadata.name }}
{{- end }}
{{- end }}
{{- if $found }}
{{- fail (printf "\n\nthis cluster has CustomResourceDefinitions of %s (%s). While they exist, kube-apiserver serves these kinds from etcd itself and takes the APIServices v1alpha1.%s and v1prealpha1.%s back from this server. Copy the objects first (python -m ark import --from-cluster into the server's database, or kubectl get %s -A -o yaml > ark-objects.yaml), then delete the CRDs (this deletes their objects from etcd) and install again: step by step in docs/moving-in.md. Set takeOverFromCRDs=true to register the APIServices anyway." $group (join ", " (sortAlpha $found)) $group $group (join "," (sortAlpha $found))) }}
{{- end }}
{{- end }}
{{- end }}
