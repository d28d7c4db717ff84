"""What the local cluster could leave behind on this machine, as one JSON document: sysctls,
iptables chains and rules, network links and routes, mounts, top-level cgroups, listening ports
and processes of the cluster's binaries, and the fixed paths a kubelet or containerd writes to.

`host-state snapshot > before.json` records it; `host-state compare before.json` prints what
differs from now and exits 1 if anything does (scripts/test runs it around `up; down`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SYSCTL_ROOT = Path("/proc/sys")
VOLATILE_SYSCTLS = (
    "kernel.random.",
    "kernel.ns_last_pid",
    "kernel.pty.nr",
    "kernel.tainted",
    "fs.dentry-state",
    "fs.file-nr",
    "fs.inode-nr",
    "fs.inode-state",
    "fs.quota.",
    "fs.aio-nr",
    "net.netfilter.nf_conntrack_count",
    "vm.stat_refresh",
    "vm.drop_caches",
    "vm.compact_memory",
)
"""Counters and triggers that change on their own (or on being read)."""

PER_INTERFACE = ("net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh.")
SHARED_INTERFACE_KEYS = ("all", "default", "lo")

BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "registry",
    "kubelet",
    "kube-proxy",
    "containerd",
    "containerd-shim-runc-v2",
    "runc",
)
"""The programs the local cluster runs: none of them may outlive `cluster/down`."""
REGISTRY_GATE = "registry-gate"

FIXED_PATHS = (
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/var/lib/containerd",
    "/run/containerd",
    "/run/netns",
    "/run/nri",
    "/var/run/nri",
    "/opt/containerd",
    "/etc/cni",
    "/etc/kubernetes",
    "/run/ecs-shim-real-node",
)
"""Where kubelet, containerd and the CNI plugins write by default or unconditionally."""

IPTABLES_TABLES = ("filter", "nat", "mangle", "raw")


def sysctls() -> dict[str, str]:
    """Every readable sysctl but the volatile ones and those of interfaces that come and go."""
    values: dict[str, str] = {}
    for path in SYSCTL_ROOT.rglob("*"):
        key = ".".join(path.relative_to(SYSCTL_ROOT).parts)
        if key.startswith(VOLATILE_SYSCTLS) or not path.is_file() or not os.access(path, os.R_OK):
            continue
        if key.startswith(PER_INTERFACE) and key.split(".")[3] not in SHARED_INTERFACE_KEYS:
            continue
        try:
            values[key] = " ".join(path.read_text().split())
        except OSError:
            continue
    return values


def iptables_rules(command: str) -> dict[str, list[str]]:
    """Per table, its chains (`:NAME`) and rules, without packet counters."""
    if shutil.which(command) is None:
        return {}
    tables: dict[str, list[str]] = {}
    for table in IPTABLES_TABLES:
        result = subprocess.run([command, "-t", table, "-S"], capture_output=True, text=True)
        if result.returncode == 0:
            tables[table] = sorted(result.stdout.splitlines())
    return tables


def ip_json(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(["ip", "-j", *args], capture_output=True, text=True)
    return json.loads(result.stdout or "[]") if result.returncode == 0 else []


def links() -> list[str]:
    return sorted(f"{link['ifname']} {link.get('link_type', '')}" for link in ip_json("link", "show"))


def routes() -> list[str]:
    return sorted(f"{route.get('dst')} dev {route.get('dev')}" for route in ip_json("route", "show", "table", "all"))


def mounts() -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return sorted({f"{line.split()[4]} {line.split(' - ')[1].split()[0]}" for line in lines})


def cgroups() -> list[str]:
    """The folders at the top of each cgroup hierarchy (kubepods is one the kubelet makes)."""
    root = Path("/sys/fs/cgroup")
    pattern = "*" if (root / "cgroup.procs").exists() else "*/*"
    return sorted(str(path.relative_to(root)) for path in root.glob(pattern) if path.is_dir() and not path.is_symlink())


def our_processes() -> Iterator[tuple[int, str]]:
    """(pid, program) of each running process of one of the cluster's BINARIES, and of the
    registry gate (a Python program: `ecs-shim registry-gate`)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            program = Path(os.readlink(proc / "exe")).name.removesuffix(" (deleted)")
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if program in BINARIES:
            yield int(proc.name), program
        elif REGISTRY_GATE.encode() in arguments:
            yield int(proc.name), REGISTRY_GATE


def socket_owners(pids: dict[int, str]) -> dict[str, str]:
    """socket inode -> program, for the given processes."""
    owners: dict[str, str] = {}
    for pid, program in pids.items():
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[target[8:-1]] = program
    return owners


def listening_ports(pids: dict[int, str]) -> list[str]:
    """`program address:port` of each TCP or UDP socket the cluster's processes listen on."""
    owners = socket_owners(pids)
    found = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            listening = fields[3] == "0A" if table.startswith("tcp") else fields[3] == "07"
            if listening and fields[9] in owners:
                found.add(f"{owners[fields[9]]} {table} {fields[1]}")
    return sorted(found)


def snapshot() -> dict[str, Any]:
    pids = dict(our_processes())
    return {
        "sysctls": sysctls(),
        "iptables": iptables_rules("iptables"),
        "ip6tables": iptables_rules("ip6tables"),
        "links": links(),
        "routes": routes(),
        "mounts": mounts(),
        "cgroups": cgroups(),
        "processes": sorted(set(pids.values())),
        "listening": listening_ports(pids),
        "paths": sorted(path for path in FIXED_PATHS if os.path.lexists(path)),
    }


def differences(before: Any, after: Any, where: str = "") -> Iterator[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            yield from differences(before.get(key), after.get(key), f"{where}.{key}" if where else key)
    elif isinstance(before, list) and isinstance(after, list):
        for item in sorted(set(after) - set(before)):
            yield f"{where}: + {item}"
        for item in sorted(set(before) - set(after)):
            yield f"{where}: - {item}"
    elif before != after:
        yield f"{where}: {before!r} -> {after!r}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="host-state", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("snapshot", help="print the host's state as JSON")
    compare = commands.add_parser("compare", help="print what changed since a snapshot; exit 1 if anything did")
    compare.add_argument("before", type=Path)
    args = parser.parse_args()
    if args.command == "snapshot":
        json.dump(snapshot(), sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    changes = list(differences(json.loads(args.before.read_text()), snapshot()))
    for change in changes:
        print(f"host-state: changed since {args.before}: {change}", file=sys.stderr)
    if not changes:
        print("host-state: unchanged", file=sys.stderr)
    return 1 if changes else 0


if __name__ == "__main__":
    sys.exit(main())
