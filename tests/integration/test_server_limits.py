"""The server under a silent API server, slow or oversized clients, and next to another server:
every request ends in bounded time with an answer in the AWS JSON error format."""

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shim.kube.client import KubeClients
from tests.integration.conftest import (
    JSON_1_1,
    TARGET_PREFIX,
    ShimServer,
    call_wire,
    eventually,
    unique_name,
)

REQUEST_ID_HEADER = "x-amzn-RequestId"


class SilenceableRelay:
    """A TCP relay on loopback to the API server that can fall silent: then it accepts
    connections and reads requests but never answers, as an API server that hangs does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.silent = threading.Event()
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(client)
            if self.silent.is_set():
                continue
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            self.sockets.append(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.silent.is_set():
                    sink.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self.closed.set()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def relay(kube: KubeClients) -> Iterator[SilenceableRelay]:
    api_server = kube.api.configuration.host.removeprefix("https://")
    host, port = api_server.rsplit(":", 1)
    relay = SilenceableRelay((host, int(port)))
    yield relay
    relay.close()


def kubeconfig_through(relay: SilenceableRelay, directory: Path) -> Path:
    """A copy of the test cluster's kubeconfig whose API server is `relay`."""
    kubeconfig = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    for cluster in kubeconfig["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{relay.port}"
    copy = directory / "kubeconfig"
    copy.write_text(yaml.safe_dump(kubeconfig))
    return copy


def readyz(server: ShimServer) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}/readyz", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_a_silent_api_server_fails_requests_quickly_and_readiness(relay: SilenceableRelay, tmp_path: Path) -> None:
    server = ShimServer("--kubeconfig", str(kubeconfig_through(relay, tmp_path))).start()
    try:
        eventually(lambda: readyz(server) == 200, timeout=30)
        family = unique_name("silent")
        registered = call_wire(
            server.url,
            "RegisterTaskDefinition",
            {"family": family, "containerDefinitions": [{"name": "c", "image": "busybox", "memory": 8}]},
        )
        assert registered.status == 200, registered.body
        relay.silent.set()

        started = time.monotonic()
        created = call_wire(server.url, "CreateCluster", {"clusterName": unique_name("silent")})
        assert created.status == 500 and created.error_code == "ServerException", created.body
        assert created.headers[REQUEST_ID_HEADER]
        assert time.monotonic() - started < 20

        started = time.monotonic()
        ran = call_wire(server.url, "RunTask", {"taskDefinition": family})
        assert ran.status == 500 and ran.error_code == "ServerException", ran.body
        assert time.monotonic() - started < 20

        assert readyz(server) == 503
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        relay.close()
        server.stop()


def raw_exchange(server: ShimServer, request: bytes, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """Send `request` bytes as they are; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def request_head(server: ShimServer, content_length: int, extra: str = "") -> bytes:
    return (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: {JSON_1_1}\r\n"
        f"X-Amz-Target: {TARGET_PREFIX}.ListClusters\r\nContent-Length: {content_length}\r\n{extra}\r\n"
    ).encode()


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected_status: int) -> None:
    assert status == expected_status, body
    assert headers["content-type"] == JSON_1_1
    assert headers[REQUEST_ID_HEADER.lower()]
    error = json.loads(body)
    assert error["__type"] and error["message"]


def test_an_oversized_header_gets_a_json_error(shim: ShimServer) -> None:
    status, headers, body = raw_exchange(shim, request_head(shim, 2, f"X-Padding: {'a' * 20000}\r\n") + b"{}")
    assert_json_error(status, headers, body, 431)


def test_an_oversized_body_is_refused_unread(shim: ShimServer) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", shim.port), timeout=30) as sock:
        sock.sendall(request_head(shim, 100 * 1024 * 1024) + b"{" + b" " * 65536)
        status, headers, body = read_response(sock)
    assert_json_error(status, headers, body, 413)
    assert json.loads(body)["__type"] == "RequestEntityTooLargeException"
    assert time.monotonic() - started < 5


def test_a_body_shorter_than_its_content_length_is_cut_off(shim: ShimServer) -> None:
    started = time.monotonic()
    status, headers, body = raw_exchange(shim, request_head(shim, 1000) + b"{}")
    assert_json_error(status, headers, body, 408)
    assert time.monotonic() - started < 20


def test_slow_clients_are_cut_off_while_others_are_served(shim: ShimServer) -> None:
    """More clients than the server has threads, each sending a header line a second."""
    slow = [socket.create_connection(("127.0.0.1", shim.port), timeout=30) for _ in range(24)]
    cut_off: list[float] = []
    started = time.monotonic()

    def dribble(sock: socket.socket) -> None:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{shim.port}\r\n".encode())
        try:
            for line in range(40):
                time.sleep(1)
                sock.sendall(f"X-Slow-{line}: 1\r\n".encode())
        except OSError:
            cut_off.append(time.monotonic() - started)

    threads = [threading.Thread(target=dribble, args=(sock,), daemon=True) for sock in slow]
    try:
        for thread in threads:
            thread.start()
        time.sleep(2)
        served = call_wire(shim.url, "ListClusters", {})
        assert served.status == 200, served.body
        assert time.monotonic() - started < 20
        for thread in threads:
            thread.join(timeout=45)
        assert len(cut_off) == len(slow)
        assert max(cut_off) < 25
    finally:
        for sock in slow:
            sock.close()


def test_a_signed_header_the_request_does_not_carry_is_refused(tmp_path: Path) -> None:
    key = ("AKIDSIGNEDHEADERS", "a-secret")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[ci]\naws_access_key_id = {key[0]}\naws_secret_access_key = {key[1]}\n")
    server = ShimServer("--credentials", str(credentials)).start()
    try:
        payload = b"{}"
        signed = AWSRequest(
            method="POST",
            url=f"{server.url}/",
            data=payload,
            headers={"Content-Type": JSON_1_1, "X-Amz-Target": f"{TARGET_PREFIX}.ListClusters"},
        )
        SigV4Auth(Credentials(*key), "ecs", "us-east-1").add_auth(signed)
        # A valid signature over the headers sent, claiming to cover one more that is not sent.
        authorization = signed.headers["Authorization"]
        signed_headers = authorization.split("SignedHeaders=")[1].split(",")[0]
        signed.headers.replace_header(
            "Authorization", authorization.replace(signed_headers, f"{signed_headers};x-extra")
        )
        sent = dict(signed.headers.items())
        response = requests.post(signed.url, data=payload, headers=sent, timeout=30)
        assert response.status_code == 403, response.text
        assert response.json()["__type"] == "InvalidSignatureException"
    finally:
        server.stop()


def test_two_servers_on_one_host_share_no_control_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two servers on one host (one home directory): gunicorn would give both one control socket
    there, and the first to stop removed it under the other."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    first, second = ShimServer().start(), ShimServer().start()
    try:
        assert not list(tmp_path.rglob("*.ctl")), "a control socket shared in the home directory"
        first.stop()
        assert call_wire(second.url, "ListClusters", {}).status == 200
    finally:
        first.stop()
        second.stop()
