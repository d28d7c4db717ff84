"""The local cluster's one real node: containerd, kubelet and kube-proxy on this machine, joined
to the local control plane, running real containers (runc, a CNI bridge) from images built on
the machine (cluster/images.py). It needs root; ECS_SHIM_REAL_NODE=0 or `cluster/up
--no-real-node` leaves it out (the benchmark does), and only one can run on a host.

The node is a container instance of the ECS cluster `real` only: it carries the pinning label
ecs.shim.io/cluster=real and the taint ecs.shim.io/cluster=real:NoSchedule.

What it writes lives under <cluster state>/real-node/ where the tools allow it. What they write
elsewhere (sysctls, iptables chains, the bridge, cgroups, /run/containerd, /var/log/containers...)
is recorded before the node starts and undone by `clean_host` after it stops.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import host_state
import images
import registry
import yaml

CLUSTER = "real"
CLUSTER_LABEL = "ecs.shim.io/cluster"
NAME = "i-0" + hashlib.sha256(b"ecs-shim-real-node").hexdigest()[:16]
REGION = "us-east-1"
ZONE = "us-east-1a"
INSTANCE_TYPE = "local.real"
POD_CIDR = "10.88.0.0/24"
"""The bridge's pod addresses: outside kwok's 10.64.0.0/12 and the services' 10.96.0.0/16."""
BRIDGE = "ecsshim0"
COMPONENTS = ("containerd", "kubelet", "kube-proxy")
PORTS = ("kubelet", "kubelet-healthz", "kube-proxy-healthz", "kube-proxy-metrics", "containerd-streaming")
CNI_PLUGINS = Path("/usr/lib/cni")
CHAIN_PREFIXES = ("KUBE-", "CNI-")
ENABLED = "ECS_SHIM_REAL_NODE"
LOCK = Path("/run/ecs-shim-real-node")
"""Names the cluster state folder whose real node runs: the one real node a host can hold."""


def log(message: str) -> None:
    print(f"cluster: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Layout:
    """The real node's files under the cluster state folder."""

    root: Path

    @property
    def containerd(self) -> Path:
        return self.root / "containerd"

    @property
    def socket(self) -> Path:
        return self.containerd / "containerd.sock"

    @property
    def kubelet(self) -> Path:
        return self.root / "kubelet"

    @property
    def cni(self) -> Path:
        return self.root / "cni"

    @property
    def registry_hosts(self) -> Path:
        """containerd's registry hosts folder (`config_path`): the local registry's hosts.toml."""
        return self.containerd / "certs.d"

    @property
    def saved_host(self) -> Path:
        return self.root / "host.json"


def wanted(flag: bool) -> bool:
    """Whether `up` starts the real node: on unless turned off, and only as root (an explicit
    ECS_SHIM_REAL_NODE=1 without root is an error, an unset one a notice)."""
    setting = os.environ.get(ENABLED, "")
    if not flag or setting == "0":
        return False
    if os.geteuid() != 0:
        if setting == "1":
            raise SystemExit(f"cluster: the real node needs root; run as root or set {ENABLED}=0")
        log(f"not root: starting without the real node ({ENABLED}=0 says so quietly)")
        return False
    return True


def holder() -> Path | None:
    """The state folder of the cluster whose real node runs on this host, if one does."""
    with contextlib.suppress(OSError):
        state = Path(LOCK.read_text().strip())
        if (state / "real-node").exists():
            return state
    return None


def node_ip() -> str:
    """The host's address on its default route (no packet is sent), else loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def certificates(issue: Callable[[str, str, str], None], ip: str) -> None:
    """The node's client certificate (the Node authorizer knows it by its name), the kubelet's
    serving certificate and kube-proxy's client certificate, from the cluster's CA.
    `issue(name, subject, extensions)` signs one."""
    client = "extendedKeyUsage=clientAuth\n"
    issue("node", f"/O=system:nodes/CN=system:node:{NAME}", client)
    issue(
        "kubelet-serving",
        f"/O=system:nodes/CN=system:node:{NAME}",
        f"subjectAltName=DNS:{NAME},DNS:localhost,IP:{ip},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    issue("kube-proxy", "/CN=system:kube-proxy", client)


def containerd_config(layout: Layout, ports: dict[str, int]) -> str:
    """containerd's configuration. Its streaming server (exec, attach, port-forward) gets a port
    chosen with the others: left to pick its own, it can take one the control plane is about to
    listen on."""
    state = layout.containerd / "state"
    runc = shutil.which("runc") or "runc"
    return f"""version = 3
root = "{layout.containerd / "root"}"
state = "{state}"
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "{layout.socket}"

[plugins.'io.containerd.internal.v1.opt']
  path = "{layout.containerd / "opt"}"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "{ports["containerd-streaming"]}"

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = "{layout.registry_hosts}"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "{images.PAUSE_TAG}"

[plugins.'io.containerd.cri.v1.runtime']
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails to lower its OOM score.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = "{runc}"

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["{CNI_PLUGINS}"]
  conf_dir = "{layout.cni / "net.d"}"
"""


def cni_config(layout: Layout) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "ecs-shim",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.cni / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(layout: Layout, pki: Path, ports: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node_ip(),
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet-healthz"],
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "containerRuntimeEndpoint": f"unix://{layout.socket}",
        "podLogsDir": str(layout.root / "pod-logs"),
        "providerID": f"aws:///{ZONE}/{NAME}",
        "registerWithTaints": [{"key": CLUSTER_LABEL, "value": CLUSTER, "effect": "NoSchedule"}],
        "failCgroupV1": False,
        "failSwapOn": False,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "shutdownGracePeriod": "0s",
        "nodeStatusUpdateFrequency": "5s",
    }


def write_configs(layout: Layout, pki: Path, ports: dict[str, int], kubeconfig: Callable[[Path, str], None]) -> None:
    """containerd's (with the local registry's hosts.toml), the kubelet's and the CNI
    configuration, and the node's and kube-proxy's kubeconfigs (`kubeconfig(path, user)` writes
    one for a certificate in pki/)."""
    (layout.cni / "net.d").mkdir(parents=True, exist_ok=True)
    (layout.containerd).mkdir(parents=True, exist_ok=True)
    (layout.containerd / "config.toml").write_text(containerd_config(layout, ports))
    (layout.cni / "net.d" / "10-ecs-shim.conflist").write_text(json.dumps(cni_config(layout), indent=1))
    (layout.root / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(layout, pki, ports)))
    registry.containerd_hosts(layout.registry_hosts, layout.root.parent)
    kubeconfig(layout.root / "node.kubeconfig", "node")
    kubeconfig(layout.root / "kube-proxy.kubeconfig", "kube-proxy")


def commands(layout: Layout, bin_dir: Path, containerd_dir: Path, ports: dict[str, int]) -> dict[str, list[str]]:
    labels = {
        "node.kubernetes.io/instance-type": INSTANCE_TYPE,
        "topology.kubernetes.io/region": REGION,
        "topology.kubernetes.io/zone": ZONE,
        CLUSTER_LABEL: CLUSTER,
    }
    return {
        "containerd": [str(containerd_dir / "containerd"), f"--config={layout.containerd / 'config.toml'}"],
        "kubelet": [
            str(bin_dir / "kubelet"),
            f"--config={layout.root / 'kubelet.yaml'}",
            f"--kubeconfig={layout.root / 'node.kubeconfig'}",
            f"--root-dir={layout.kubelet}",
            f"--hostname-override={NAME}",
            f"--node-ip={node_ip()}",
            "--node-labels=" + ",".join(f"{key}={value}" for key, value in labels.items()),
        ],
        "kube-proxy": [
            str(bin_dir / "kube-proxy"),
            f"--kubeconfig={layout.root / 'kube-proxy.kubeconfig'}",
            f"--hostname-override={NAME}",
            "--proxy-mode=iptables",
            f"--cluster-cidr={POD_CIDR}",
            f"--healthz-bind-address=127.0.0.1:{ports['kube-proxy-healthz']}",
            f"--metrics-bind-address=127.0.0.1:{ports['kube-proxy-metrics']}",
            "--iptables-localhost-nodeports=false",
            # No conntrack sysctl changes: all zero leaves the host's settings alone.
            "--conntrack-max-per-core=0",
            "--conntrack-min=0",
            "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
        ],
    }


def environment(containerd_dir: Path) -> dict[str, str]:
    """containerd finds its runc shim on PATH."""
    return {**os.environ, "PATH": f"{containerd_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}


def save_host(layout: Layout) -> None:
    """Record what the node will change outside its folder, for `clean_host`, and take the lock."""
    layout.root.mkdir(parents=True, exist_ok=True)
    saved = {
        "sysctls": host_state.sysctls(),
        "paths": [path for path in host_state.FIXED_PATHS if os.path.lexists(path)],
    }
    layout.saved_host.write_text(json.dumps(saved))
    LOCK.write_text(f"{layout.root.parent}\n")


def ctr(containerd_dir: Path, layout: Layout, *args: str) -> None:
    subprocess.run(
        [str(containerd_dir / "ctr"), f"--address={layout.socket}", "--namespace=k8s.io", *args],
        check=True,
        capture_output=True,
    )


def serving(layout: Layout, containerd_dir: Path) -> bool:
    """Whether containerd answers on its socket."""
    command = [str(containerd_dir / "ctr"), f"--address={layout.socket}", "version"]
    return layout.socket.exists() and subprocess.run(command, capture_output=True).returncode == 0


def import_images(layout: Layout, containerd_dir: Path, images_dir: Path) -> None:
    for image in images.IMAGES:
        ctr(containerd_dir, layout, "images", "import", str(images_dir / f"{image.name}.tar"))


def drain(kubectl: Callable[..., str]) -> None:
    """Delete the node's pods while its kubelet still runs, so it stops their containers and
    tears down their network; then the node."""
    with contextlib.suppress(subprocess.CalledProcessError):
        kubectl(
            "delete",
            "pods",
            "--all-namespaces",
            f"--field-selector=spec.nodeName={NAME}",
            "--grace-period=1",
            "--timeout=30s",
            "--wait=true",
        )
    with contextlib.suppress(subprocess.CalledProcessError):
        kubectl("delete", "node", NAME, "--wait=false")


def clean_host(layout: Layout, kube_proxy: Path | None) -> None:
    """Undo what the stopped node did to the host: kube-proxy's rules, the containers left
    (processes in the kubepods cgroups, their runc shims), KUBE-*/CNI-* chains, the bridge,
    mounts under the state folder, the kubepods cgroups, the sysctls and the fixed folders."""
    if kube_proxy is not None:
        subprocess.run([str(kube_proxy), "--cleanup"], capture_output=True)
    kill_containers()
    kill_shims(layout)
    for command in ("iptables", "ip6tables"):
        remove_chains(command)
    subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True)
    unmount_under(layout.root)
    unmount_under(Path("/run/netns"), prefix="cni-")
    remove_cgroups()
    if layout.saved_host.exists():
        saved = json.loads(layout.saved_host.read_text())
        restore_sysctls(saved["sysctls"])
        for path in host_state.FIXED_PATHS:
            if path not in saved["paths"] and path != str(LOCK) and os.path.lexists(path):
                unmount_under(Path(path))
                shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        if holder() in (None, layout.root.parent):
            LOCK.unlink()


def kubepods_cgroups() -> list[Path]:
    """The kubepods cgroup folders of every hierarchy, deepest first."""
    root = Path("/sys/fs/cgroup")
    tops = [*root.glob("kubepods*"), *root.glob("*/kubepods*")]
    found = [path for top in tops if top.is_dir() for path in top.rglob("*") if path.is_dir()] + tops
    return sorted(found, key=lambda path: len(path.parts), reverse=True)


def kill_containers() -> None:
    """SIGKILL every process left in a kubepods cgroup, until none is."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = {
            int(pid)
            for cgroup in kubepods_cgroups()
            for pid in read_lines(cgroup / "cgroup.procs")
            if pid.strip().isdigit()
        }
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def kill_shims(layout: Layout) -> None:
    """SIGKILL the runc shims this node's containerd started (they outlive containerd)."""
    for pid, program in host_state.our_processes():
        if program != "containerd-shim-runc-v2":
            continue
        with contextlib.suppress(OSError):
            if str(layout.socket).encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                os.kill(pid, signal.SIGKILL)


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def remove_chains(command: str) -> None:
    """Delete the KUBE-* and CNI-* chains and every rule that jumps to them, table by table."""
    if shutil.which(command) is None:
        return
    for table in host_state.IPTABLES_TABLES:
        result = subprocess.run([command, "-t", table, "-S"], capture_output=True, text=True)
        if result.returncode != 0:
            continue
        ours = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("-N ")]
        ours = [chain for chain in ours if chain.startswith(CHAIN_PREFIXES)]
        jumps = [
            "-D" + line[2:]
            for line in result.stdout.splitlines()
            if line.startswith("-A ")
            and not line.split()[1].startswith(CHAIN_PREFIXES)
            and any(f"-j {chain}" in line or f"-g {chain}" in line for chain in ours)
        ]
        if not ours:
            continue
        script = [f"*{table}", *jumps, *(f"-F {chain}" for chain in ours), *(f"-X {chain}" for chain in ours), "COMMIT"]
        subprocess.run(
            [f"{command}-restore", "--noflush"], input="\n".join(script) + "\n", capture_output=True, text=True
        )


def unmount_under(folder: Path, prefix: str = "") -> None:
    """Unmount every mount at or below `folder` (whose name starts with `prefix`), deepest first."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    inside = [
        mount
        for mount in mounts
        if Path(mount).is_relative_to(folder) and (not prefix or Path(mount).name.startswith(prefix))
    ]
    for mount in sorted(set(inside), key=len, reverse=True):
        if subprocess.run(["umount", mount], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", mount], capture_output=True)
        if prefix:
            with contextlib.suppress(OSError):
                Path(mount).unlink()


def remove_cgroups() -> None:
    for cgroup in kubepods_cgroups():
        with contextlib.suppress(OSError):
            cgroup.rmdir()


def restore_sysctls(saved: dict[str, str]) -> None:
    """Write back each saved sysctl the node changed (the kubelet sets vm.overcommit_memory,
    kernel.panic and kernel.panic_on_oops, the bridge plugin net.ipv4.ip_forward)."""
    now = host_state.sysctls()
    for key, value in saved.items():
        if key in now and now[key] != value:
            path = host_state.SYSCTL_ROOT.joinpath(*key.split("."))
            try:
                path.write_text(value)
            except OSError as error:
                log(f"could not restore sysctl {key}={value}: {error}")
