"""The real node's preloaded images, built on this machine (there is no internet to pull them
from): docker-archive tars (the format `docker save` writes and `ctr images import` reads).

- busybox: Debian's static busybox with a link per applet (sh, sleep, nc, httpd, cat, env...),
  /etc/passwd and /etc/group as in Docker Hub's busybox (root, www-data, nobody...), and /tmp.
- pause: the pod sandbox image, Kubernetes' own build/pause/linux/pause.c compiled with
  `gcc -static` (from the k8s.io/kubernetes module the control plane is built from), or, without
  gcc, a busybox shell that waits for SIGTERM.

The tars are deterministic (fixed owners and times, sorted entries) and cached in a folder keyed
by this script, the busybox binary and pause.c, so a rebuild imports the same digests.
Usage: images.py CACHE_FOLDER  (prints the folder holding the tars)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PAUSE_TAG = "ecs-shim.local/pause:1"
PAUSE_SOURCE = "build/pause/linux/pause.c"
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done"
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}
PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
mail:x:8:
wheel:x:10:root
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
"""
"""The users and groups of Docker Hub's busybox image (buildroot's skeleton), so that a task's
`user` names resolve as they do there."""


@dataclass(frozen=True)
class Image:
    name: str
    tags: tuple[str, ...]
    """The names it is imported under: what a task definition may say (busybox, busybox:latest)
    and the fully qualified name the container runtime normalizes them to."""


BUSYBOX_IMAGE = Image("busybox", ("docker.io/library/busybox:latest", "busybox:latest", "busybox"))
PAUSE_IMAGE = Image("pause", (PAUSE_TAG,))
IMAGES = (BUSYBOX_IMAGE, PAUSE_IMAGE)


def architecture() -> str:
    return ARCHITECTURES.get(platform.machine(), platform.machine())


def is_static(binary: Path) -> bool:
    """An ELF executable without a program interpreter (PT_INTERP) needs no shared libraries."""
    result = subprocess.run(["readelf", "-l", str(binary)], capture_output=True, text=True)
    if result.returncode != 0:
        return b"ld-linux" not in binary.read_bytes()
    return "INTERP" not in result.stdout


def applets() -> list[str]:
    """The paths (bin/sh, usr/bin/env...) busybox installs its applets under."""
    listing = subprocess.run([str(BUSYBOX), "--list-full"], check=True, capture_output=True, text=True).stdout
    return sorted({line.strip() for line in listing.splitlines() if line.strip() and line.strip() != "bin/busybox"})


def versions() -> dict[str, str]:
    """The pinned versions of cluster/versions.env."""
    lines = Path(__file__).with_name("versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def pause_source() -> Path | None:
    module_cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True).stdout.strip()
    source = Path(module_cache) / f"k8s.io/kubernetes@{versions()['KUBERNETES_VERSION']}" / PAUSE_SOURCE
    return source if module_cache and source.exists() and shutil.which("gcc") else None


def cache_key(pause: Path | None) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(BUSYBOX.read_bytes())
    digest.update(pause.read_bytes() if pause else b"busybox pause")
    return f"{architecture()}-{digest.hexdigest()[:16]}"


class Layer:
    """One deterministic layer tar: entries in the order added, owned by root, dated 1970."""

    def __init__(self) -> None:
        self.entries: list[tuple[tarfile.TarInfo, bytes]] = []

    def add(self, path: str, kind: bytes, mode: int, data: bytes = b"", target: str = "") -> None:
        info = tarfile.TarInfo(path)
        info.type, info.mode, info.linkname, info.size = kind, mode, target, len(data)
        self.entries.append((info, data))

    def directory(self, path: str, mode: int = 0o755) -> None:
        self.add(path, tarfile.DIRTYPE, mode)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.add(path, tarfile.REGTYPE, mode, data)

    def symlink(self, path: str, target: str) -> None:
        self.add(path, tarfile.SYMTYPE, 0o777, target=target)

    def close(self) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for info, data in self.entries:
                tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
        return buffer.getvalue()


def busybox_layer() -> bytes:
    layer = Layer()
    paths = applets()
    parents = {str(parent) for path in paths for parent in Path(path).parents if parent != Path(".")}
    directories = sorted(parents | {"bin", "etc", "home", "root", "tmp", "var", "var/www"})
    for directory in directories:
        layer.directory(directory, 0o1777 if directory == "tmp" else 0o755)
    layer.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    layer.file("etc/passwd", PASSWD.encode())
    layer.file("etc/group", GROUP.encode())
    for path in paths:
        layer.symlink(path, "/bin/busybox")
    return layer.close()


def pause_layer(source: Path | None) -> tuple[bytes, list[str]]:
    """The pause layer and its entrypoint."""
    if source is None:
        return busybox_layer(), ["/bin/sh", "-c", PAUSE_SCRIPT]
    with tempfile.TemporaryDirectory() as scratch:
        binary = Path(scratch) / "pause"
        subprocess.run(
            ["gcc", "-Os", "-static", "-DVERSION=ecs-shim", "-o", str(binary), str(source)],
            check=True,
            capture_output=True,
        )
        layer = Layer()
        layer.file("pause", binary.read_bytes(), 0o755)
        return layer.close(), ["/pause"]


def write_archive(path: Path, image: Image, layer: bytes, entrypoint: list[str] | None, cmd: list[str] | None) -> None:
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": architecture(),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": [PATH], "Entrypoint": entrypoint, "Cmd": cmd, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "cluster/images.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": list(image.tags), "Layers": [f"{layer_digest}/layer.tar"]}]
    archive = Layer()
    archive.directory(layer_digest)
    archive.file(f"{layer_digest}/layer.tar", layer)
    archive.file(config_name, config_bytes)
    archive.file("manifest.json", json.dumps(manifest).encode())
    partial = path.with_suffix(".partial")
    partial.write_bytes(archive.close())
    partial.rename(path)


def build(cache: Path) -> Path:
    """The folder holding <image name>.tar for each image, built unless cached."""
    if not BUSYBOX.exists() or not is_static(BUSYBOX):
        raise SystemExit(f"images: {BUSYBOX} must be a static busybox (Debian package busybox-static)")
    pause = pause_source()
    folder = cache / cache_key(pause)
    if all((folder / f"{image.name}.tar").exists() for image in IMAGES):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    write_archive(folder / "busybox.tar", BUSYBOX_IMAGE, busybox_layer(), None, ["sh"])
    layer, entrypoint = pause_layer(pause)
    write_archive(folder / "pause.tar", PAUSE_IMAGE, layer, entrypoint, None)
    return folder


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(build(Path(os.path.expanduser(sys.argv[1]))))
