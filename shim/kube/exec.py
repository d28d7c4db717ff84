"""ECS Exec on Kubernetes: a command run in a pod's container through the API server's `exec`
subresource (what `kubectl exec -it` does), and the key that signs exec sessions' tokens.

The key is a Secret in the ECS cluster's Namespace, made by the first server that needs it
(the API server lets one create win; the others read it), so every server process signs and
checks tokens alike without sharing anything else. The server reads and makes it as itself: a
caller allowed to exec (RBAC's `pods/exec`) is not thereby allowed to read Secrets."""

import base64
import contextlib
import json
import secrets
import threading

from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.stream import stream
from kubernetes.stream.ws_client import RESIZE_CHANNEL, STDERR_CHANNEL, STDOUT_CHANNEL, WSClient

from shim.kube.access import acting_as
from shim.kube.client import KubeClients
from shim.kube.errors import Conflict, absent_if_missing, requested
from shim.translate import names

SIGNING_KEY_SECRET = "ecs-exec-signing-key"
SIGNING_KEY_FIELD = "key"


class ExecKeys:
    """The signing key of each ECS cluster's exec sessions, read once per process."""

    def __init__(self, kube: KubeClients) -> None:
        self.kube = kube
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key(self, namespace: str) -> bytes:
        with self._lock:
            known = self._keys.get(namespace)
        if known is not None:
            return known
        with acting_as(None):  # the server's own key, whoever asks for a session
            found = self._read(namespace) or self._create(namespace)
        with self._lock:
            self._keys[namespace] = found
        return found

    def _read(self, namespace: str) -> bytes | None:
        secret = absent_if_missing(self.kube.core.read_namespaced_secret, SIGNING_KEY_SECRET, namespace)
        data = (secret.data or {}) if secret is not None else {}
        encoded = data.get(SIGNING_KEY_FIELD)
        return base64.b64decode(encoded) if encoded else None

    def _create(self, namespace: str) -> bytes:
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=SIGNING_KEY_SECRET, namespace=namespace, labels={names.LABEL_MANAGED: "true"}
            ),
            string_data={SIGNING_KEY_FIELD: secrets.token_urlsafe(32)},
        )
        with contextlib.suppress(Conflict):  # another server made it first: its key is the one
            requested(self.kube.core.create_namespaced_secret, namespace, body)
        key = self._read(namespace)
        if key is None:
            raise RuntimeError(f"the exec signing key of {namespace} vanished as it was made")
        return key


class PodCommand:
    """A command running with a terminal in a pod's container, through the API server."""

    def __init__(self, kube: KubeClients, namespace: str, pod: str, container: str, command: list[str]) -> None:
        # A client of its own: `stream` swaps the API client's transport while it connects.
        core = client.CoreV1Api(client.ApiClient(kube.api.configuration))
        try:
            self._socket: WSClient = stream(
                core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                container=container,
                command=command,
                stdin=True,
                stdout=True,
                stderr=True,
                tty=True,
                binary=True,
                _preload_content=False,
            )
        except ApiException as error:
            raise ExecFailed(str(error.reason or error)) from None
        self._write_lock = threading.Lock()

    def read(self, timeout: float) -> bytes | None:
        if self._socket.is_open():
            self._socket.update(timeout=timeout)
        output = self._socket.read_channel(STDOUT_CHANNEL) + self._socket.read_channel(STDERR_CHANNEL)
        if output or self._socket.is_open():
            return bytes(output)
        return None

    def write(self, data: bytes) -> None:
        with self._write_lock:
            if self._socket.is_open():
                self._socket.write_stdin(data)

    def resize(self, columns: int, rows: int) -> None:
        with self._write_lock:
            if self._socket.is_open():
                self._socket.write_channel(RESIZE_CHANNEL, json.dumps({"Width": columns, "Height": rows}))

    def exit_code(self) -> int | None:
        if self._socket.is_open():
            return None
        try:
            code = self._socket.returncode
        except (TypeError, KeyError, IndexError, ValueError):
            return None  # the API server closed the stream without a status
        return int(code) if code is not None else None

    def close(self) -> None:
        self._socket.close()


class ExecFailed(Exception):
    """The API server would not run the command (the pod or container is gone, or its node
    cannot run commands)."""
