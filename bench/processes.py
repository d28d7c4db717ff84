"""What the benchmark runs beside itself: its own local cluster (in bench/.cluster), ecs-shim
under gunicorn as users run it, and moto's server. Each is stopped by the process it started."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.clients import ecs_client
from bench.timing import progress

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_DIR = ROOT / "bench" / ".cluster"
VENV_BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def cluster_command(command: str, *args: str) -> None:
    environment = {
        **os.environ,
        "ECS_SHIM_CLUSTER_DIR": str(CLUSTER_DIR),
        "ECS_SHIM_REAL_NODE": "0",
        "ECS_SHIM_METRICS": "0",
    }
    subprocess.run([str(ROOT / "cluster" / command), *args], check=True, env=environment)


@contextlib.contextmanager
def local_cluster(nodes: int) -> Iterator[Path]:
    """A fresh local cluster with `nodes` simulated nodes; its kubeconfig. Always torn down."""
    progress(f"bringing up a local cluster with {nodes} nodes in {CLUSTER_DIR.relative_to(ROOT)}")
    cluster_command("down")
    try:
        cluster_command("up", "--nodes", str(nodes))
        yield CLUSTER_DIR / "kubeconfig"
    finally:
        progress("tearing down the benchmark cluster")
        cluster_command("down")


@dataclass
class Server:
    """A server process this benchmark started, in a process group of its own."""

    name: str
    process: subprocess.Popen[bytes]
    endpoint: str

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with status {self.process.returncode}; see its log")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers of a server started as `ecs-shim serve` (the master's children)."""
        return [child.pid for child in psutil.Process(self.process.pid).children()]


def start_server(name: str, command: list[str], log_path: Path, port: int) -> Server:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Server(name, process, f"http://127.0.0.1:{port}")


def wait_for_ecs(server: Server, timeout: float) -> None:
    client = ecs_client(server.endpoint)

    def answers() -> bool:
        server.check_alive()
        client.list_clusters()
        return True

    wait_until(f"{server.name} to answer ListClusters", answers, timeout)


@contextlib.contextmanager
def shim_server(kubeconfig: Path, workers: int, threads: int, log_path: Path) -> Iterator[Server]:
    port = free_port()
    command = [
        str(VENV_BIN / "ecs-shim"),
        "serve",
        "--host=127.0.0.1",
        f"--port={port}",
        f"--kubeconfig={kubeconfig}",
        f"--workers={workers}",
        f"--threads={threads}",
    ]
    progress(f"starting ecs-shim ({workers} workers x {threads} threads) on port {port}; log {log_path}")
    server = start_server("ecs-shim", command, log_path, port)
    try:
        wait_for_ecs(server, 120)
        wait_until(f"{workers} gunicorn workers", lambda: len(server.worker_pids()) == workers, 60)
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def moto_server(log_path: Path) -> Iterator[Server]:
    port = free_port()
    progress(f"starting moto's server on port {port}")
    server = start_server("moto", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log_path, port)
    try:
        wait_for_ecs(server, 60)
        yield server
    finally:
        server.stop()
