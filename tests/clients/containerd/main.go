// Command pullcheck resolves and fetches an image manifest as the real node's containerd pulls
// it: with containerd's own resolver, configured from a registry hosts folder (the `config_path`
// of containerd's CRI image service, where cluster/registry.py writes the local registry's
// hosts.toml: its address, the cluster's CA, the registry's credentials). It prints one JSON
// object (the resolved name, digest, media type and manifest size) or exits non-zero with
// containerd's error.
//
// Usage: pullcheck HOSTS_DIR REFERENCE
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
)

type pulled struct {
	Name      string `json:"name"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int    `json:"size"`
}

func pull(hostsDir, reference string) (pulled, error) {
	ctx := context.Background()
	hosts := config.ConfigureHosts(ctx, config.HostOptions{HostDir: config.HostDirFromRoot(hostsDir)})
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
	name, desc, err := resolver.Resolve(ctx, reference)
	if err != nil {
		return pulled{}, err
	}
	fetcher, err := resolver.Fetcher(ctx, name)
	if err != nil {
		return pulled{}, err
	}
	reader, err := fetcher.Fetch(ctx, desc)
	if err != nil {
		return pulled{}, err
	}
	defer reader.Close()
	manifest, err := io.ReadAll(reader)
	if err != nil {
		return pulled{}, err
	}
	return pulled{name, desc.Digest.String(), desc.MediaType, len(manifest)}, nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: pullcheck HOSTS_DIR REFERENCE")
		os.Exit(2)
	}
	result, err := pull(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
