"""The real node's images (cluster/images.py) and the host-state comparison (cluster/host_state.py)."""

import importlib.util
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cluster_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "cluster" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def archive_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }


@pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="needs Debian's busybox-static")
def test_busybox_image_is_importable_under_docker_hub_names_and_has_the_tools_tests_use(tmp_path: Path) -> None:
    images = cluster_module("images")

    folder = images.build(tmp_path)

    members = archive_members(folder / "busybox.tar")
    [manifest] = json.loads(members["manifest.json"])
    assert manifest["RepoTags"] == ["docker.io/library/busybox:latest", "busybox:latest", "busybox"]
    config = json.loads(members[manifest["Config"]])
    assert config["config"]["Cmd"] == ["sh"]
    with tarfile.open(fileobj=io.BytesIO(members[manifest["Layers"][0]])) as layer:
        links = {member.name: member.linkname for member in layer.getmembers() if member.issym()}
    for tool in ("bin/sh", "bin/sleep", "usr/bin/nc", "usr/sbin/httpd", "bin/cat", "usr/bin/env"):
        assert links[tool] == "/bin/busybox"


@pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="needs Debian's busybox-static")
def test_images_are_rebuilt_byte_for_byte(tmp_path: Path) -> None:
    images = cluster_module("images")
    first = images.build(tmp_path / "first")
    built = {tar.name: tar.read_bytes() for tar in first.glob("*.tar")}
    shutil.rmtree(tmp_path / "first")

    again = images.build(tmp_path / "again")

    assert {tar.name: tar.read_bytes() for tar in again.glob("*.tar")} == built
    pause = archive_members(again / "pause.tar")
    assert json.loads(pause["manifest.json"])[0]["RepoTags"] == [images.PAUSE_TAG]


def test_host_state_differences_name_what_appeared_vanished_or_changed() -> None:
    host_state = cluster_module("host_state")
    before = {"sysctls": {"vm.overcommit_memory": "0"}, "links": ["eth0 ether"], "processes": []}
    after = {"sysctls": {"vm.overcommit_memory": "1"}, "links": [], "processes": ["kubelet"]}

    assert list(host_state.differences(before, after)) == [
        "links: - eth0 ether",
        "processes: + kubelet",
        "sysctls.vm.overcommit_memory: '0' -> '1'",
    ]
    assert list(host_state.differences(before, before)) == []
