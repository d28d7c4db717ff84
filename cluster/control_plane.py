"""The local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, run as plain processes on loopback ports, with fake nodes from
cluster/nodes.yaml, an image registry behind the ECR API (cluster/registry.py), a metrics
pipeline (cluster/metrics_pipeline.py) and, when run as root, one real node
(cluster/real_node.py). Used by cluster/up, cluster/down and cluster/status.

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
sys.path.insert(0, str(HERE))  # the sibling modules, however this file is loaded
import images  # noqa: E402
import metrics_pipeline  # noqa: E402
import real_node  # noqa: E402
import registry  # noqa: E402

ROOT = HERE.parent
STATE = Path(os.environ.get("ECS_SHIM_CLUSTER_DIR", ROOT / ".cluster")).resolve()
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
ALL_COMPONENTS = (*COMPONENTS, registry.NAME, registry.GATE, metrics_pipeline.NAME, *real_node.COMPONENTS)
SERVICE_CIDR = "10.96.0.0/16"


def log(message: str) -> None:
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_binaries(with_real_node: bool) -> Path:
    environment = {**os.environ, real_node.ENABLED: "1" if with_real_node else "0"}
    result = subprocess.run([str(HERE / "build")], check=True, stdout=subprocess.PIPE, text=True, env=environment)
    return Path(result.stdout.strip().splitlines()[-1])


def containerd_dir(bin_dir: Path) -> Path:
    """Where cluster/build puts containerd: beside the control plane's folder."""
    return bin_dir.parent / f"containerd-{images.versions()['CONTAINERD_VERSION']}"


def registry_dir(bin_dir: Path) -> Path:
    """Where cluster/build puts the registry: beside the control plane's folder."""
    return bin_dir.parent / f"registry-{images.versions()['REGISTRY_VERSION']}"


def metrics_server_binary(bin_dir: Path) -> Path:
    """Where cluster/build puts metrics-server: beside the control plane's folder."""
    return bin_dir.parent / f"metrics-server-{images.versions()['METRICS_SERVER_VERSION']}" / "metrics-server"


def images_cache(bin_dir: Path) -> Path:
    return bin_dir.parent.parent / "images"


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
    # The controller manager under its own name, as kubeadm names it.
    issue_certificate(
        pki, "controller-manager", "/O=system:masters/CN=system:kube-controller-manager", client_extensions
    )
    # The API server's identity towards kubelets (logs, exec, port-forward).
    issue_certificate(
        pki, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", client_extensions
    )
    # The aggregation layer's identity towards metrics-server, and metrics-server's own.
    issue_certificate(pki, "front-proxy-client", "/CN=front-proxy-client", client_extensions)
    metrics_extensions = pki / "metrics-server.ext"
    metrics_extensions.write_text(metrics_pipeline.serving_extensions())
    issue_certificate(pki, metrics_pipeline.NAME, "/CN=metrics-server", metrics_extensions)
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


def write_kubeconfig(path: Path, server: str, pki: Path, user: str = "admin") -> None:
    """A kubeconfig that signs in with pki/<user>.crt."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "ecs-shim-local", "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}
        ],
        "users": [
            {
                "name": "ecs-shim-admin",
                "user": {"client-certificate": str(pki / f"{user}.crt"), "client-key": str(pki / f"{user}.key")},
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
            "--authorization-mode=Node,RBAC",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--allow-privileged=true",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'serving.crt'}",
            f"--tls-private-key-file={pki / 'serving.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki / 'service-account.pub'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            *metrics_pipeline.api_server_flags(pki),
            "--max-requests-inflight=2000",
            "--max-mutating-requests-inflight=1000",
            "--profiling=false",
        ],
        "kube-controller-manager": [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={STATE / 'controller-manager.kubeconfig'}",
            # Each controller under its own service account, as kubeadm runs them: ecs-shim's
            # task protection policy refuses pod deletions by the workload controllers alone.
            "--use-service-account-credentials",
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
            # Services' HorizontalPodAutoscalers (Application Auto Scaling) act within seconds.
            "--horizontal-pod-autoscaler-sync-period=5s",
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
            *([f"--config={metrics_pipeline.KWOK_CONFIG}"] if metrics_pipeline.wanted() else []),
            f"--server-address=127.0.0.1:{ports['kwok']}",
            # Fake nodes' kubelet address: kwok's own server, which serves their metrics.
            "--node-ip=127.0.0.1",
            f"--node-port={ports['kwok']}",
        ],
    }


def start(name: str, command: list[str], environment: dict[str, str] | None = None) -> None:
    logs = STATE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=environment,
        )
    (STATE / "pids").mkdir(exist_ok=True)
    (STATE / "pids" / f"{name}.pid").write_text(f"{process.pid}\n{command[0]}\n")


def recorded_processes() -> Iterator[tuple[str, int]]:
    """(component, pid) of each recorded process that still runs the binary it was started as."""
    for name in reversed(ALL_COMPONENTS):
        record = STATE / "pids" / f"{name}.pid"
        if not record.exists():
            continue
        pid_text, binary = record.read_text().split("\n")[:2]
        try:
            executable = os.readlink(f"/proc/{int(pid_text)}/exe")
        except OSError:
            continue
        if executable == os.path.realpath(binary):
            yield name, int(pid_text)


def started_components() -> set[str]:
    return {record.stem for record in (STATE / "pids").glob("*.pid")}


def recorded_binary(name: str) -> Path | None:
    """The binary a component was started from, as recorded (whether or not it still runs)."""
    record = STATE / "pids" / f"{name}.pid"
    return Path(record.read_text().split("\n")[1]) if record.exists() else None


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
    if not running >= set(COMPONENTS) | started_components():
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
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
                **metrics_pipeline.node_annotations(instance_id),
            },
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


def ready_nodes(bin_dir: Path) -> set[str]:
    nodes = json.loads(kubectl(bin_dir, "get", "nodes", "-o", "json"))["items"]
    return {
        node["metadata"]["name"]
        for node in nodes
        for condition in node.get("status", {}).get("conditions", [])
        if condition["type"] == "Ready" and condition["status"] == "True"
    }


def apply_crds(bin_dir: Path) -> None:
    crds = ROOT / "shim" / "kube" / "crds"
    if any(crds.glob("*.yaml")):
        kubectl(bin_dir, "apply", "--server-side", "-f", str(crds))
        kubectl(bin_dir, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


def up(node_count: int | None, with_real_node: bool) -> None:
    started = time.monotonic()
    with_real_node = real_node.wanted(with_real_node)
    holder = real_node.holder()
    if with_real_node and holder not in (None, STATE):
        log(f"the host's real node belongs to the cluster in {holder}: starting without it")
        with_real_node = False
    bin_dir = build_binaries(with_real_node)
    layout = real_node.Layout(STATE / "real-node")
    if is_up():
        log(f"already running at {api_server_url()}")
        if registry.NAME not in started_components():
            start_registry(bin_dir)
        if metrics_pipeline.wanted() and metrics_pipeline.NAME not in started_components():
            if (STATE / "pki" / "front-proxy-client.crt").exists():
                start_metrics_server(bin_dir)
            else:
                log("this control plane predates the metrics pipeline (cluster/down, then cluster/up adds it)")
        if with_real_node and "kubelet" not in started_components():
            if (STATE / "pki" / "apiserver-kubelet-client.crt").exists():
                start_runtime(bin_dir, layout)
                start_kubelet(bin_dir, layout)
            else:
                log("this control plane predates the real node (cluster/down, then cluster/up adds it)")
    else:
        down(quiet=True)
        STATE.mkdir(parents=True, exist_ok=True)
        log("generating certificates")
        make_certificates(STATE / "pki")
        ports = {name: free_port() for name in (*COMPONENTS, "etcd-peer")}
        (STATE / "ports.json").write_text(json.dumps(ports))
        write_kubeconfig(STATE / "kubeconfig", api_server_url(), STATE / "pki")
        write_kubeconfig(STATE / "controller-manager.kubeconfig", api_server_url(), STATE / "pki", "controller-manager")
        start_registry(bin_dir)
        if with_real_node:
            start_runtime(bin_dir, layout)
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
                if with_real_node:
                    start_kubelet(bin_dir, layout)
        if metrics_pipeline.wanted():
            start_metrics_server(bin_dir)
    apply_crds(bin_dir)
    wanted = create_nodes(bin_dir, node_count)
    real = {real_node.NAME} if "kubelet" in started_components() else set()
    log(f"waiting for {wanted + len(real)} nodes to be Ready" + (f" (real node {real_node.NAME})" if real else ""))
    wait_for(
        "nodes Ready",
        lambda: len((ready := ready_nodes(bin_dir)) - real) >= wanted and real <= ready,
        60 + wanted / 10,
    )
    log(f"up in {time.monotonic() - started:.1f} s; KUBECONFIG={STATE / 'kubeconfig'}")


def start_registry(bin_dir: Path) -> None:
    """The image registry behind the ECR API, on its fixed address (cluster/registry.py), unless
    another cluster's registry has that address."""
    if registry.port_taken():
        log(f"{registry.address()} is taken (another cluster's image registry?): starting without a registry")
        return
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        log("no virtual environment for the registry gate (make venv): starting without a registry")
        return
    log(f"starting the image registry on {registry.address()}")
    pki = STATE / "pki"

    def issue(name: str, subject: str, extensions: str) -> None:
        (pki / f"{name}.ext").write_text(extensions)
        issue_certificate(pki, name, subject, pki / f"{name}.ext")

    registry.prepare(STATE, issue, free_port())
    start(registry.NAME, registry.command(registry_dir(bin_dir), STATE), registry.environment())
    start(registry.GATE, registry.gate_command(python, STATE))
    wait_for("the image registry", lambda: registry.serving(STATE), 30)


def start_metrics_server(bin_dir: Path) -> None:
    """metrics-server on a loopback port, registered as the metrics.k8s.io APIService (it becomes
    Available a few seconds later: nothing waits for it)."""
    log("starting metrics-server")
    port = free_port()
    ports = json.loads((STATE / "ports.json").read_text())
    (STATE / "ports.json").write_text(json.dumps({**ports, metrics_pipeline.NAME: port}))
    pki = STATE / "pki"
    start(
        metrics_pipeline.NAME, metrics_pipeline.command(metrics_server_binary(bin_dir), port, pki, STATE / "kubeconfig")
    )
    listed = {
        "apiVersion": "v1",
        "kind": "List",
        "items": metrics_pipeline.manifests(port, (pki / "ca.crt").read_bytes()),
    }
    kubectl(bin_dir, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(listed))


def start_runtime(bin_dir: Path, layout: real_node.Layout) -> None:
    """The real node's containerd, with the preloaded images imported."""
    log("starting containerd (real node)")
    real_node.save_host(layout)
    ports = {name: free_port() for name in real_node.PORTS}
    (layout.root / "ports.json").write_text(json.dumps(ports))
    pki = STATE / "pki"

    def issue(name: str, subject: str, extensions: str) -> None:
        (pki / f"{name}.ext").write_text(extensions)
        issue_certificate(pki, name, subject, pki / f"{name}.ext")

    def kubeconfig(path: Path, user: str) -> None:
        write_kubeconfig(path, api_server_url(), pki, user)

    real_node.certificates(issue, real_node.node_ip())
    real_node.write_configs(layout, pki, ports, kubeconfig)
    containerd = containerd_dir(bin_dir)
    commands = real_node.commands(layout, bin_dir, containerd, ports)
    start("containerd", commands["containerd"], real_node.environment(containerd))
    wait_for("containerd", lambda: real_node.serving(layout, containerd), 30)
    real_node.import_images(layout, containerd, images.build(images_cache(bin_dir)))


def start_kubelet(bin_dir: Path, layout: real_node.Layout) -> None:
    """The real node's kubelet and kube-proxy, once the API server serves."""
    log(f"starting kubelet and kube-proxy (real node {real_node.NAME})")
    ports = json.loads((layout.root / "ports.json").read_text())
    commands = real_node.commands(layout, bin_dir, containerd_dir(bin_dir), ports)
    for name in ("kubelet", "kube-proxy"):
        start(name, commands[name])


def down(quiet: bool = False) -> None:
    layout = real_node.Layout(STATE / "real-node")
    api_server = recorded_binary("kube-apiserver")
    running = dict(recorded_processes())
    if layout.root.exists() and {"kubelet", "kube-apiserver"} <= running.keys() and api_server:
        if not quiet:
            log(f"deleting the pods of the real node {real_node.NAME}")
        real_node.drain(lambda *args: kubectl(api_server.parent, *args))
    stopped = []
    for name, pid in recorded_processes():
        if not quiet:
            log(f"stopping {name} (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while alive(pid) and time.monotonic() < deadline:
            reap(pid)
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        stopped.append(pid)
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in stopped) and time.monotonic() < deadline:
        time.sleep(0.05)  # until their parent has reaped them all
    kube_proxy = recorded_binary("kube-proxy")
    if layout.root.exists():
        if not quiet:
            log("putting the host back as the real node found it")
        real_node.clean_host(layout, kube_proxy)
    shutil.rmtree(STATE, ignore_errors=True)
    if not quiet:
        log("down")


def alive(pid: int) -> bool:
    """Whether the process runs: an exited one stays a zombie until its parent (often init,
    which may take a second) reaps it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def status() -> int:
    running = dict(recorded_processes())
    started = started_components()
    optional = (registry.NAME, registry.GATE, *real_node.COMPONENTS)
    for name in (*COMPONENTS, *(name for name in optional if name in started)):
        print(f"{name:24} {'running, pid ' + str(running[name]) if name in running else 'not running'}")
    if not is_up():
        print("cluster: not ready")
        return 1
    print(f"kube-apiserver           {api_server_url()} ready")
    if registry.NAME in running:
        shim_config = STATE / registry.NAME / "shim.json"
        print(f"image registry           https://{registry.address()} (ecs-shim serve --registry {shim_config})")
    if "kubelet" in started:
        binary = recorded_binary("kube-apiserver")
        ready = binary is not None and real_node.NAME in ready_nodes(binary.parent)
        readiness = "Ready" if ready else "not Ready"
        print(f"real node                {real_node.NAME} {readiness} (ECS cluster {real_node.CLUSTER})")
    else:
        print("real node                none")
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
    up_parser.add_argument(
        "--no-real-node",
        dest="real_node",
        action="store_false",
        help=f"no real node (as {real_node.ENABLED}=0); it needs root, and one host holds one",
    )
    commands.add_parser("down", help="stop what `up` started, remove its state and put the host back")
    commands.add_parser("status", help="say what runs")
    args = parser.parse_args()
    if args.command == "up":
        up(args.nodes, args.real_node)
        return 0
    if args.command == "down":
        down()
        return 0
    return status()


if __name__ == "__main__":
    sys.exit(main())
