"""The local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, run as plain processes on loopback ports, with fake nodes from
cluster/nodes.yaml. Used by cluster/up, cluster/down and cluster/status.

Everything it starts is recorded in .cluster/ (pids, ports, logs, certificates, kubeconfig),
so `down` stops exactly those processes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STATE = Path(os.environ.get("ECS_SHIM_CLUSTER_DIR", ROOT / ".cluster")).resolve()
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"


def log(message: str) -> None:
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_binaries() -> Path:
    result = subprocess.run([str(HERE / "build")], check=True, stdout=subprocess.PIPE, text=True)
    return Path(result.stdout.strip().splitlines()[-1])


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certificates(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=ecs-shim-local-ca",
        "-keyout",
        str(pki / "ca.key"),
        "-out",
        str(pki / "ca.crt"),
    )
    extensions = pki / "serving.ext"
    extensions.write_text(
        "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1\n"
        "extendedKeyUsage=serverAuth\n"
    )
    issue_certificate(pki, "serving", "/CN=kube-apiserver", extensions)
    client_extensions = pki / "client.ext"
    client_extensions.write_text("extendedKeyUsage=clientAuth\n")
    issue_certificate(pki, "admin", "/O=system:masters/CN=ecs-shim-admin", client_extensions)
    openssl("genrsa", "-out", str(pki / "service-account.key"), "2048")
    openssl("rsa", "-in", str(pki / "service-account.key"), "-pubout", "-out", str(pki / "service-account.pub"))


def issue_certificate(pki: Path, name: str, subject: str, extensions: Path) -> None:
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        str(pki / f"{name}.key"),
        "-out",
        str(pki / f"{name}.csr"),
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(pki / f"{name}.csr"),
        "-CA",
        str(pki / "ca.crt"),
        "-CAkey",
        str(pki / "ca.key"),
        "-CAcreateserial",
        "-days",
        "3650",
        "-extfile",
        str(extensions),
        "-out",
        str(pki / f"{name}.crt"),
    )


def write_kubeconfig(path: Path, server: str, pki: Path) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "ecs-shim-local", "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}
        ],
        "users": [
            {
                "name": "ecs-shim-admin",
                "user": {"client-certificate": str(pki / "admin.crt"), "client-key": str(pki / "admin.key")},
            }
        ],
        "contexts": [{"name": "ecs-shim-local", "context": {"cluster": "ecs-shim-local", "user": "ecs-shim-admin"}}],
        "current-context": "ecs-shim-local",
    }
    path.write_text(yaml.safe_dump(config))


def component_commands(bin_dir: Path, ports: dict[str, int]) -> dict[str, list[str]]:
    pki = STATE / "pki"
    kubeconfig = str(STATE / "kubeconfig")
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
    scheduler_config = STATE / "scheduler.yaml"
    scheduler_config.write_text((HERE / "scheduler.yaml").read_text().replace("KUBECONFIG_PATH", kubeconfig))
    authn = [
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
    ]
    return {
        "etcd": [
            str(bin_dir / "etcd"),
            "--name=local",
            f"--data-dir={STATE / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=local={peer_url}",
            "--unsafe-no-fsync",
            "--quota-backend-bytes=8589934592",
        ],
        "kube-apiserver": [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['kube-apiserver']}",
            "--endpoint-reconciler-type=none",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'serving.crt'}",
            f"--tls-private-key-file={pki / 'serving.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki / 'service-account.pub'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--max-requests-inflight=2000",
            "--max-mutating-requests-inflight=1000",
            "--profiling=false",
        ],
        "kube-controller-manager": [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            *authn,
            f"--secure-port={ports['kube-controller-manager']}",
            "--leader-elect=false",
            f"--service-account-private-key-file={pki / 'service-account.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--kube-api-qps=1000",
            "--kube-api-burst=2000",
            "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
            "--concurrent-daemonset-syncs=4",
            "--concurrent-gc-syncs=40",
            "--profiling=false",
        ],
        "kube-scheduler": [
            str(bin_dir / "kube-scheduler"),
            f"--config={scheduler_config}",
            *authn,
            f"--secure-port={ports['kube-scheduler']}",
            "--profiling=false",
        ],
        "kwok": [
            str(bin_dir / "kwok"),
            f"--kubeconfig={kubeconfig}",
            f"--config={HERE / 'kwok.yaml'}",
            f"--config={HERE / 'stages' / 'node.yaml'}",
            f"--config={HERE / 'stages' / 'pod.yaml'}",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ],
    }


def start(name: str, command: list[str]) -> None:
    logs = STATE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    (STATE / "pids").mkdir(exist_ok=True)
    (STATE / "pids" / f"{name}.pid").write_text(f"{process.pid}\n{command[0]}\n")


def recorded_processes() -> Iterator[tuple[str, int]]:
    """(component, pid) of each recorded process that still runs the binary it was started as."""
    for name in reversed(COMPONENTS):
        record = STATE / "pids" / f"{name}.pid"
        if not record.exists():
            continue
        pid_text, binary = record.read_text().split("\n")[:2]
        try:
            executable = os.readlink(f"/proc/{int(pid_text)}/exe")
        except OSError:
            continue
        if executable == binary:
            yield name, int(pid_text)


def started_components() -> set[str]:
    return {record.stem for record in (STATE / "pids").glob("*.pid")}


def https_get(url: str, timeout: float = 2.0) -> int:
    pki = STATE / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    with urllib.request.urlopen(url, context=context, timeout=timeout) as response:
        return int(response.status)


def wait_for(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stopped = started_components() - {name for name, _ in recorded_processes()}
        if stopped:
            name = sorted(stopped)[0]
            tail = (STATE / "logs" / f"{name}.log").read_text().splitlines()[-5:]
            raise SystemExit(f"cluster: {name} exited while waiting for {what}:\n" + "\n".join(tail))
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"cluster: timed out waiting for {what}; see {STATE / 'logs'}")
        time.sleep(0.2)


def api_server_url() -> str:
    ports = json.loads((STATE / "ports.json").read_text())
    return f"https://127.0.0.1:{ports['kube-apiserver']}"


def is_up() -> bool:
    running = {name for name, _ in recorded_processes()}
    if running != set(COMPONENTS):
        return False
    try:
        return https_get(f"{api_server_url()}/readyz") == 200
    except OSError:
        return False


def node_manifests(count: int | None) -> list[dict[str, Any]]:
    fleet = yaml.safe_load((HERE / "nodes.yaml").read_text())
    slots = [group for group in fleet["groups"] for _ in range(group["count"])]
    total = count if count is not None else len(slots)
    return [node_manifest(index, slots[index % len(slots)], fleet) for index in range(total)]


def node_manifest(index: int, group: dict[str, Any], fleet: dict[str, Any]) -> dict[str, Any]:
    instance = fleet["instanceTypes"][group["instanceType"]]
    instance_id = "i-0" + hashlib.sha256(f"ecs-shim-node-{index}".encode()).hexdigest()[:16]
    pods = {"pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": instance_id,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": instance_id,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": instance["arch"],
                "node.kubernetes.io/instance-type": group["instanceType"],
                "topology.kubernetes.io/region": fleet["region"],
                "topology.kubernetes.io/zone": group["zone"],
                "type": "kwok",
            },
        },
        "spec": {"providerID": f"aws:///{group['zone']}/{instance_id}"},
        "status": {
            "capacity": {**instance["capacity"], **pods},
            "allocatable": {**instance["allocatable"], **pods},
        },
    }


def kubectl(bin_dir: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(bin_dir / "kubectl"), f"--kubeconfig={STATE / 'kubeconfig'}", *args],
        input=stdin,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def create_nodes(bin_dir: Path, count: int | None) -> int:
    manifests = node_manifests(count)
    for start_index in range(0, len(manifests), 200):
        batch = {"apiVersion": "v1", "kind": "List", "items": manifests[start_index : start_index + 200]}
        kubectl(bin_dir, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(batch))
    return len(manifests)


def ready_node_count(bin_dir: Path) -> int:
    nodes = json.loads(kubectl(bin_dir, "get", "nodes", "-o", "json"))["items"]
    return sum(
        1
        for node in nodes
        for condition in node.get("status", {}).get("conditions", [])
        if condition["type"] == "Ready" and condition["status"] == "True"
    )


def apply_crds(bin_dir: Path) -> None:
    crds = ROOT / "shim" / "kube" / "crds"
    if any(crds.glob("*.yaml")):
        kubectl(bin_dir, "apply", "--server-side", "-f", str(crds))
        kubectl(bin_dir, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


def up(node_count: int | None) -> None:
    started = time.monotonic()
    bin_dir = build_binaries()
    if is_up():
        log(f"already running at {api_server_url()}")
    else:
        down(quiet=True)
        STATE.mkdir(parents=True, exist_ok=True)
        log("generating certificates")
        make_certificates(STATE / "pki")
        ports = {name: free_port() for name in (*COMPONENTS, "etcd-peer")}
        (STATE / "ports.json").write_text(json.dumps(ports))
        write_kubeconfig(STATE / "kubeconfig", api_server_url(), STATE / "pki")
        commands = component_commands(bin_dir, ports)
        for name in COMPONENTS:
            log(f"starting {name}")
            start(name, commands[name])
            if name == "etcd":
                wait_for(
                    "etcd",
                    lambda: urllib.request.urlopen(f"http://127.0.0.1:{ports['etcd']}/health", timeout=2).status == 200,
                    60,
                )
            if name == "kube-apiserver":
                wait_for("kube-apiserver /readyz", lambda: https_get(f"{api_server_url()}/readyz") == 200, 120)
    apply_crds(bin_dir)
    wanted = create_nodes(bin_dir, node_count)
    log(f"waiting for {wanted} nodes to be Ready")
    wait_for("nodes Ready", lambda: ready_node_count(bin_dir) >= wanted, 60 + wanted / 10)
    log(f"up in {time.monotonic() - started:.1f} s; KUBECONFIG={STATE / 'kubeconfig'}")


def down(quiet: bool = False) -> None:
    for name, pid in recorded_processes():
        if not quiet:
            log(f"stopping {name} (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            reap(pid)
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(STATE, ignore_errors=True)
    if not quiet:
        log("down")


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def status() -> int:
    running = dict(recorded_processes())
    for name in COMPONENTS:
        print(f"{name:24} {'running, pid ' + str(running[name]) if name in running else 'not running'}")
    if not is_up():
        print("cluster: not ready")
        return 1
    print(f"kube-apiserver           {api_server_url()} ready")
    print(f"KUBECONFIG={STATE / 'kubeconfig'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="cluster")
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start the local control plane (idempotent)")
    up_parser.add_argument(
        "--nodes",
        type=int,
        default=int(os.environ["ECS_SHIM_NODES"]) if os.environ.get("ECS_SHIM_NODES") else None,
        help="number of fake nodes (default: the fleet in cluster/nodes.yaml)",
    )
    commands.add_parser("down", help="stop what `up` started and remove its state")
    commands.add_parser("status", help="say what runs")
    args = parser.parse_args()
    if args.command == "up":
        up(args.nodes)
        return 0
    if args.command == "down":
        down()
        return 0
    return status()


if __name__ == "__main__":
    sys.exit(main())
