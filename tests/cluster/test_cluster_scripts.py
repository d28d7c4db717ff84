"""cluster/up, cluster/status and cluster/down on a second, throwaway local cluster: `up` twice is
harmless, and `down` leaves no process and no listening port behind."""

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="the local control plane is built with Go")


def cluster(command: str, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ECS_SHIM_CLUSTER_DIR": str(state), "ECS_SHIM_REAL_NODE": "0"}
    return subprocess.run(
        [str(ROOT / "cluster" / command), *args], env=env, capture_output=True, text=True, timeout=600
    )


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_twice_then_down_leaves_nothing_behind(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    first = cluster("up", state, "--nodes", "3")
    assert first.returncode == 0, first.stderr
    pids = {path.stem: int(path.read_text().split()[0]) for path in (state / "pids").glob("*.pid")}
    ports = json.loads((state / "ports.json").read_text())
    components = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "metrics-server"}
    assert set(pids) == components

    second = cluster("up", state, "--nodes", "3")
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stderr
    assert {path.stem: int(path.read_text().split()[0]) for path in (state / "pids").glob("*.pid")} == pids

    status = cluster("status", state)
    assert status.returncode == 0 and "ready" in status.stdout

    down = cluster("down", state)
    assert down.returncode == 0, down.stderr
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids.values())
    assert not any(listening(port) for port in ports.values())
    assert not state.exists()
    assert cluster("status", state).returncode != 0
