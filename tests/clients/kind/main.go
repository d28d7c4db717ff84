// Command kindcheck judges a kind cluster configuration as `kind create cluster --config` would,
// up to the point where kind needs Docker: it loads, defaults and validates the file, then builds
// each node's kubeadm configuration for a Kubernetes version and applies the file's kubeadm patches
// to it. It prints one JSON object: the nodes' roles and labels and, per node, the patched kubeadm
// configuration documents; it exits non-zero with kind's own error when kind would refuse.
//
// Usage: kindcheck CONFIG KUBERNETES_VERSION
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/kind/pkg/cluster/internal/kubeadm"
	"sigs.k8s.io/kind/pkg/internal/apis/config"
	"sigs.k8s.io/kind/pkg/internal/apis/config/encoding"
	"sigs.k8s.io/kind/pkg/internal/patch"
)

type node struct {
	Role    string            `json:"role"`
	Labels  map[string]string `json:"labels"`
	Mounts  []string          `json:"hostPaths"`
	Kubeadm string            `json:"kubeadm"`
}

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: kindcheck CONFIG KUBERNETES_VERSION"))
	}
	cluster, err := encoding.Load(os.Args[1])
	if err != nil {
		fail(err)
	}
	if err := cluster.Validate(); err != nil {
		fail(err)
	}
	nodes := make([]node, 0, len(cluster.Nodes))
	for index, configNode := range cluster.Nodes {
		kubeadmConfig, err := patchedKubeadmConfig(cluster, configNode, index, os.Args[2])
		if err != nil {
			fail(err)
		}
		mounts := make([]string, 0, len(configNode.ExtraMounts))
		for _, mount := range configNode.ExtraMounts {
			mounts = append(mounts, mount.HostPath)
		}
		nodes = append(nodes, node{string(configNode.Role), configNode.Labels, mounts, kubeadmConfig})
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"name": cluster.Name, "nodes": nodes}); err != nil {
		fail(err)
	}
}

// patchedKubeadmConfig is the kubeadm configuration kind writes to a node: its template for the
// version, with the cluster's patches and then the node's applied.
func patchedKubeadmConfig(cluster *config.Cluster, configNode config.Node, index int, version string) (string, error) {
	data := kubeadm.ConfigData{
		NodeProvider:         "docker",
		ClusterName:          cluster.Name,
		KubernetesVersion:    version,
		ControlPlaneEndpoint: "ecs-shim-control-plane:6443",
		APIBindPort:          6443,
		APIServerAddress:     cluster.Networking.APIServerAddress,
		Token:                kubeadm.Token,
		PodSubnet:            cluster.Networking.PodSubnet,
		KubeProxyMode:        string(cluster.Networking.KubeProxyMode),
		ServiceSubnet:        cluster.Networking.ServiceSubnet,
		ControlPlane:         configNode.Role == config.ControlPlaneRole,
		IPFamily:             cluster.Networking.IPFamily,
		FeatureGates:         cluster.FeatureGates,
		RuntimeConfig:        cluster.RuntimeConfig,
		NodeAddress:          fmt.Sprintf("172.18.0.%d", index+2),
		NodeName:             fmt.Sprintf("%s-node-%d", cluster.Name, index),
		NodeLabels:           commaSeparated(configNode.Labels),
	}
	generated, err := kubeadm.Config(data)
	if err != nil {
		return "", err
	}
	patched, err := patch.KubeYAML(generated, cluster.KubeadmConfigPatches, cluster.KubeadmConfigPatchesJSON6902)
	if err != nil {
		return "", err
	}
	return patch.KubeYAML(patched, configNode.KubeadmConfigPatches, configNode.KubeadmConfigPatchesJSON6902)
}

func commaSeparated(labels map[string]string) string {
	pairs := make([]string, 0, len(labels))
	for key, value := range labels {
		pairs = append(pairs, key+"="+value)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kindcheck:", err)
	os.Exit(1)
}
