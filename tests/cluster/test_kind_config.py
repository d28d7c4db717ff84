"""manifests/kind-cluster.yaml, judged by kind's own code (tests/clients/kind): kind loads,
defaults and validates it, and the kubeadm patch it carries gives kube-scheduler the ECS binpack
profile on node images whose kubeadm speaks v1beta3 (Kubernetes before 1.36) as well as v1beta4.
Docker, which kind needs from there on, is not used."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shim.translate.placement import BINPACK_SCHEDULER_NAME
from tests.go_programs import build_go_program

ROOT = Path(__file__).resolve().parents[2]
KIND_CHECK = ROOT / "tests" / "clients" / "kind"
KIND_CONFIG = ROOT / "manifests" / "kind-cluster.yaml"
NODE_IMAGE_VERSIONS = ("v1.35.1", "v1.36.3")
"""A kubeadm v1beta3 and a v1beta4 version: kind writes extraArgs as a map for the first and as a
list of name/value pairs for the second."""


@pytest.fixture(scope="module")
def kind_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_go_program(KIND_CHECK, tmp_path_factory.mktemp("kind") / "kindcheck")


def judged(kind_check: Path, config: Path, version: str) -> subprocess.CompletedProcess[str]:
    """kind's verdict, run from the repository root as the manifest's usage line says."""
    return subprocess.run([str(kind_check), str(config), version], cwd=ROOT, capture_output=True, text=True)


def documents(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {document["kind"]: document for document in yaml.safe_load_all(node["kubeadm"])}


def extra_args(component: dict[str, Any], key: str = "extraArgs") -> dict[str, str]:
    """A kubeadm component's extra arguments in either form (v1beta3 map, v1beta4 name/value list)."""
    given = component.get(key) or {}
    if isinstance(given, dict):
        return given
    return {pair["name"]: pair["value"] for pair in given}


@pytest.mark.parametrize("version", NODE_IMAGE_VERSIONS)
def test_kind_accepts_the_cluster_and_kube_scheduler_gets_the_binpack_profile(kind_check: Path, version: str) -> None:
    verdict = judged(kind_check, KIND_CONFIG, version)
    assert verdict.returncode == 0, verdict.stderr
    nodes = json.loads(verdict.stdout)["nodes"]
    (control_plane,) = [node for node in nodes if node["role"] == "control-plane"]
    cluster_configuration = documents(control_plane)["ClusterConfiguration"]
    scheduler = cluster_configuration["scheduler"]
    list_form = cluster_configuration["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert isinstance(scheduler["extraArgs"], list) == list_form
    config_path = extra_args(scheduler)["config"]
    assert [volume["hostPath"] for volume in scheduler["extraVolumes"]] == [config_path]
    for host_path in control_plane["hostPaths"]:
        profiles = yaml.safe_load((ROOT / host_path).read_text())["profiles"]
        assert BINPACK_SCHEDULER_NAME in [profile["schedulerName"] for profile in profiles]


def test_every_worker_carries_the_labels_ecs_placement_reads(kind_check: Path) -> None:
    verdict = judged(kind_check, KIND_CONFIG, NODE_IMAGE_VERSIONS[-1])
    workers = [node for node in json.loads(verdict.stdout)["nodes"] if node["role"] == "worker"]
    zones = set()
    for worker in workers:
        registration = documents(worker)["JoinConfiguration"]["nodeRegistration"]
        labels = dict(
            pair.split("=") for pair in extra_args(registration, "kubeletExtraArgs")["node-labels"].split(",")
        )
        assert labels == worker["labels"]
        assert labels["topology.kubernetes.io/region"] == "us-east-1"
        assert labels["node.kubernetes.io/instance-type"] in ("m5.large", "c5.xlarge")
        zones.add(labels["topology.kubernetes.io/zone"])
    assert zones == {"us-east-1a", "us-east-1b", "us-east-1c"}


def test_kind_refuses_what_it_would_refuse(kind_check: Path, tmp_path: Path) -> None:
    broken = tmp_path / "kind-cluster.yaml"
    broken.write_text(KIND_CONFIG.read_text().replace("role: worker", "role: agent", 1))
    verdict = judged(kind_check, broken, NODE_IMAGE_VERSIONS[-1])
    assert verdict.returncode != 0
    assert "agent" in verdict.stderr
