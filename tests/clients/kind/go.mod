// The module path lies under sigs.k8s.io/kind/pkg/cluster so that Go lets this program use kind's
// internal config loading, validation and kubeadm patching: the manifests are judged by the code
// `kind create cluster` runs, not by a second reading of its format.
module sigs.k8s.io/kind/pkg/cluster/ecsshimkindcheck

go 1.26

require sigs.k8s.io/kind v0.33.0

require (
	github.com/BurntSushi/toml v1.4.0 // indirect
	github.com/evanphx/json-patch/v5 v5.6.0 // indirect
	github.com/pelletier/go-toml v1.9.5 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	go.yaml.in/yaml/v3 v3.0.4 // indirect
	sigs.k8s.io/yaml v1.4.0 // indirect
)
