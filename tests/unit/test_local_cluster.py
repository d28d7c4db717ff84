"""The local cluster's declared shape, and that the kind cluster matches it."""

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[2]


def control_plane() -> ModuleType:
    spec = importlib.util.spec_from_file_location("control_plane", ROOT / "cluster" / "control_plane.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_fleet_is_three_zones_plus_one_arm_node() -> None:
    nodes = control_plane().node_manifests(None)
    shapes = Counter(
        (
            n["metadata"]["labels"]["topology.kubernetes.io/zone"],
            n["metadata"]["labels"]["node.kubernetes.io/instance-type"],
        )
        for n in nodes
    )
    assert shapes == {
        ("us-east-1a", "m5.large"): 2,
        ("us-east-1b", "m5.large"): 2,
        ("us-east-1c", "m5.large"): 2,
        ("us-east-1a", "c5.xlarge"): 1,
        ("us-east-1b", "c5.xlarge"): 1,
        ("us-east-1c", "c5.xlarge"): 1,
        ("us-east-1a", "t4g.medium"): 1,
    }
    arm = [n for n in nodes if n["metadata"]["labels"]["kubernetes.io/arch"] == "arm64"]
    assert [n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in arm] == ["t4g.medium"]


def test_nodes_are_named_by_instance_id_and_managed_by_kwok() -> None:
    for node in control_plane().node_manifests(None):
        name = node["metadata"]["name"]
        assert name.startswith("i-0") and len(name) == 19
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == name
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert node["spec"]["providerID"].endswith(f"/{name}")
        assert node["status"]["allocatable"]["pods"] == "110"


def test_a_thousand_nodes_are_distinct_and_spread_over_the_zones() -> None:
    nodes = control_plane().node_manifests(1000)
    assert len({n["metadata"]["name"] for n in nodes}) == 1000
    zones = Counter(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes)
    assert set(zones) == {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert max(zones.values()) - min(zones.values()) <= len(nodes) // 10 + 1


def test_kind_cluster_has_the_same_zones_and_scheduler_profiles() -> None:
    kind = yaml.safe_load((ROOT / "manifests" / "kind-cluster.yaml").read_text())
    workers = [node for node in kind["nodes"] if node["role"] == "worker"]
    assert {w["labels"]["topology.kubernetes.io/zone"] for w in workers} == {"us-east-1a", "us-east-1b", "us-east-1c"}
    local = yaml.safe_load((ROOT / "cluster" / "scheduler.yaml").read_text())
    on_kind = yaml.safe_load((ROOT / "manifests" / "kind-scheduler.yaml").read_text())
    assert local["profiles"] == on_kind["profiles"]
    assert [p["schedulerName"] for p in local["profiles"]] == ["default-scheduler", "ecs-binpack"]
