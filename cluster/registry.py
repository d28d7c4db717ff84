"""The local cluster's image registry: the CNCF distribution registry (the storage behind the
ECR API that ecs-shim serves), one process on a fixed loopback address, TLS from the cluster's CA,
htpasswd authentication for the one user ECR knows, `AWS`.

Its password is a random secret made at `cluster/up`, kept under <state>/registry/ and handed to
the server in <state>/registry/shim.json (`ecs-shim serve --registry FILE`): GetAuthorizationToken
returns it (base64 `AWS:<password>`), the server reads the registry's API with it, and the real
node's containerd pulls with it (its hosts.toml sends it). The registry and its images live as
long as the cluster: `cluster/down` removes them with the rest of <state>.

Clients reach it through the registry gate (`ecs-shim registry-gate`, shim/protocol/
registry_gate.py), which refuses the pushes ECR refuses (no such repository, an immutable tag)
and passes everything else on: the gate listens on 127.0.0.1:5000 (ECS_SHIM_REGISTRY_PORT names
another port) over TLS, an address the real node's containerd (on the host's network) reaches and
trusts through a hosts.toml naming the cluster's CA; images are named
`127.0.0.1:5000/<repository>:<tag>`. The registry itself listens on another loopback port, over
plain HTTP, for the gate alone (<state>/registry/upstream.json names it). One cluster per host
has them: a cluster started while that address is taken has no registry (and its server no ECR).
The gate runs from the project's virtual environment (`make venv`); without one, no registry.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import secrets
import socket
import ssl
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

NAME = "registry"
GATE = "registry-gate"
USER = "AWS"
DEFAULT_PORT = 5000
PORT_VARIABLE = "ECS_SHIM_REGISTRY_PORT"


def address() -> str:
    """host:port of the registry, fixed per host so that image names stay valid across restarts."""
    return f"127.0.0.1:{int(os.environ.get(PORT_VARIABLE, DEFAULT_PORT))}"


def port_taken() -> bool:
    """Whether something (another local cluster's registry: there is one per host) listens on
    the registry's address already."""
    host, port = address().split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) == 0


def bcrypt(password: str) -> str:
    """A bcrypt hash of `password` (the only kind the registry's htpasswd accepts), from the C
    library's crypt, so that no Python package is needed."""
    library = ctypes.CDLL("libcrypt.so.1")
    library.crypt_gensalt.restype = ctypes.c_char_p
    library.crypt.restype = ctypes.c_char_p
    salt = library.crypt_gensalt(b"$2b$", 10, None, 0)
    hashed = library.crypt(password.encode(), salt)
    if not salt or not hashed or not hashed.startswith(b"$2"):
        raise SystemExit("cluster: this C library's crypt cannot make bcrypt hashes for the registry's htpasswd")
    return str(hashed.decode())


def prepare(state: Path, issue: Callable[[str, str, str], None], upstream_port: int) -> dict[str, str]:
    """The gate's certificate (`issue(name, subject, extensions)` signs one with the cluster's
    CA), the registry's password, htpasswd and configuration (on `upstream_port`), the gate's view
    of it (upstream.json) and the server's view of the gate (shim.json)."""
    root = state / NAME
    (root / "data").mkdir(parents=True, exist_ok=True)
    issue(
        "registry",
        "/CN=ecs-shim-registry",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    password = secrets.token_urlsafe(32)
    (root / "htpasswd").write_text(f"{USER}:{bcrypt(password)}\n")
    pki = state / "pki"
    config = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
        # Relative upload locations: the client follows them at the gate's address.
        "http": {"addr": f"127.0.0.1:{upstream_port}", "secret": secrets.token_urlsafe(32), "relativeurls": True},
        "auth": {"htpasswd": {"realm": "ecs-shim", "path": str(root / "htpasswd")}},
    }
    (root / "config.yml").write_text(yaml.safe_dump(config))
    shim = {
        "endpoint": f"https://{address()}",
        "ca": str(pki / "ca.crt"),
        "username": USER,
        "password": password,
    }
    upstream = {"endpoint": f"http://127.0.0.1:{upstream_port}", "username": USER, "password": password}
    for name, content in (("shim.json", shim), ("upstream.json", upstream)):
        (root / name).write_text(json.dumps(content, indent=1))
        os.chmod(root / name, 0o600)
    return shim


def command(registry_dir: Path, state: Path) -> list[str]:
    return [str(registry_dir / "registry"), "serve", str(state / NAME / "config.yml")]


def gate_command(python: Path, state: Path) -> list[str]:
    pki = state / "pki"
    return [
        *(str(python), "-m", "shim", "registry-gate", "--listen", address()),
        *("--upstream", str(state / NAME / "upstream.json"), "--kubeconfig", str(state / "kubeconfig")),
        *("--certfile", str(pki / "registry.crt"), "--keyfile", str(pki / "registry.key")),
    ]


def environment() -> dict[str, str]:
    """No OpenTelemetry exporter: there is no collector to send traces to."""
    return {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"}


def shim_config(state: Path) -> dict[str, str] | None:
    path = state / NAME / "shim.json"
    return json.loads(path.read_text()) if path.exists() else None


def serving(state: Path) -> bool:
    """Whether the registry answers its API with the server's credentials (GET /v2/ -> 200)."""
    config = shim_config(state)
    if config is None:
        return False
    context = ssl.create_default_context(cafile=config["ca"])
    token = base64.b64encode(f"{config['username']}:{config['password']}".encode()).decode()
    request = urllib.request.Request(f"{config['endpoint']}/v2/", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, context=context, timeout=2) as response:
        return int(response.status) == 200


def containerd_hosts(folder: Path, state: Path) -> None:
    """containerd's hosts.toml for the registry (its `config_path` is `folder`): pull and resolve
    there over TLS, trusting the cluster's CA, with the registry's credentials (the node's own,
    as an EKS node pulls from ECR with its instance role); none without a registry."""
    folder.mkdir(parents=True, exist_ok=True)
    config = shim_config(state)
    if config is None:
        return
    host = folder / address()
    host.mkdir(parents=True, exist_ok=True)
    basic = base64.b64encode(f"{config['username']}:{config['password']}".encode()).decode()
    (host / "hosts.toml").write_text(
        f'server = "https://{address()}"\n\n'
        f'[host."https://{address()}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
        f'  ca = "{config["ca"]}"\n'
        f'  [host."https://{address()}".header]\n'
        f'    Authorization = "Basic {basic}"\n'
    )
    (host / "hosts.toml").chmod(0o600)
