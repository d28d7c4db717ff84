{{- define "ecs-shim.labels" -}}
app.kubernetes.io/name: ecs-shim
{{- end }}
