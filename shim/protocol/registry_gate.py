"""The registry gate: the address OCI clients (Docker, crane, containerd) push to and pull from,
in front of the image registry. It passes every request on as it came (the registry itself
authenticates it) and streams the answer back, except that a push ECR would refuse never
reaches the registry: starting a blob upload and storing a manifest are first put to the
`PushRules` (no such repository, an immutable tag), and the refusal is answered in the
distribution API's error shape, `{"errors": [{"code", "message", "detail"}]}`, which clients print
as ECR's are printed ("name unknown: The repository with name 'x' does not exist...").

Rules are asked only on behalf of a client the registry accepts (a GET /v2/ with the client's
Authorization header answers 200, remembered for AUTHORIZED_SECONDS), so an unauthenticated
client learns nothing of repositories: it gets the registry's 401.
"""

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import IO

import urllib3
from flask import Flask, Response, request

from shim.image_pushes import PushRefused, PushRules

log = logging.getLogger(__name__)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
MANIFEST_LIMIT_BYTES = 4 * 2**20
"""ECR's largest manifest."""
AUTHORIZED_SECONDS = 60.0
CHUNK_BYTES = 2**16
UPSTREAM_TIMEOUT = urllib3.Timeout(connect=5.0, read=300.0)
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding"}
    | {"upgrade", "host"}
)
_CHECKED_PATH = re.compile(r"(?P<repository>.+?)/(?P<kind>manifests|blobs/uploads)/(?P<reference>[^/]*)")
_CHECKED_REQUESTS = {("POST", "blobs/uploads"), ("PUT", "manifests")}
"""Starting a blob upload (or mounting a blob from another repository), storing a manifest."""


def create_gate_app(upstream: str, rules: PushRules, ca_file: str | None = None) -> Flask:
    """The gate in front of the registry at `upstream` (http(s)://host:port; TLS trusting
    `ca_file`)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = None
    gate = _Gate(upstream.rstrip("/"), rules, urllib3.PoolManager(maxsize=16, ca_certs=ca_file))
    app.add_url_rule(
        "/v2/", "root", gate.handle, methods=METHODS, defaults={"path": ""}, provide_automatic_options=False
    )
    app.add_url_rule("/v2/<path:path>", "api", gate.handle, methods=METHODS, provide_automatic_options=False)
    return app


class _Gate:
    def __init__(self, upstream: str, rules: PushRules, pool: urllib3.PoolManager) -> None:
        self.upstream = upstream
        self.rules = rules
        self.pool = pool
        self.authorized_until: dict[str, float] = {}
        self.manifest_locks: dict[str, threading.Lock] = {}
        self.lock = threading.Lock()

    def handle(self, path: str) -> Response:
        try:
            return self.gated(path)
        except urllib3.exceptions.HTTPError as error:
            return refusal(PushRefused(503, "UNAVAILABLE", f"The image registry does not answer: {error}"))

    def gated(self, path: str) -> Response:
        checked = _CHECKED_PATH.fullmatch(path)
        if checked is None or (request.method, checked["kind"]) not in _CHECKED_REQUESTS or not self.authorized():
            return self.forward(None if request.method in ("GET", "HEAD") else request.stream)
        if checked["kind"] == "manifests":
            return self.put_manifest(checked["repository"], checked["reference"])
        try:
            self.rules.check_repository(checked["repository"])
        except PushRefused as refused:
            return refusal(refused)
        return self.forward(request.stream)

    def put_manifest(self, repository: str, reference: str) -> Response:
        manifest = request.stream.read(MANIFEST_LIMIT_BYTES + 1)
        if len(manifest) > MANIFEST_LIMIT_BYTES:
            return refusal(PushRefused(400, "MANIFEST_INVALID", "The manifest is larger than 4 MiB."))
        with self.manifest_lock(repository):  # two pushes of one tag are checked one after the other
            try:
                digests = self.rules.check_manifest(repository, reference, manifest)
            except PushRefused as refused:
                return refusal(refused)
            answer = self.forward(manifest)
        if answer.status_code == 201:
            try:
                self.rules.remember(repository, digests)
            except Exception:  # the image is stored: the server sees it at its next read instead
                log.warning("could not remember the push of %s to %s", digests, repository, exc_info=True)
        return answer

    def manifest_lock(self, repository: str) -> threading.Lock:
        with self.lock:
            return self.manifest_locks.setdefault(repository, threading.Lock())

    def authorized(self) -> bool:
        """Whether the registry accepts the client's credentials (see the module's docstring)."""
        header = request.headers.get("Authorization")
        if not header:
            return False
        now = time.monotonic()
        with self.lock:
            if self.authorized_until.get(header, 0.0) > now:
                return True
        answer = self.pool.request(
            "GET", f"{self.upstream}/v2/", headers={"Authorization": header}, retries=False, timeout=UPSTREAM_TIMEOUT
        )
        if answer.status != 200:
            return False
        with self.lock:
            self.authorized_until = {h: t for h, t in self.authorized_until.items() if t > now}
            self.authorized_until[header] = now + AUTHORIZED_SECONDS
        return True

    def forward(self, body: bytes | IO[bytes] | None) -> Response:
        """The request passed on to the registry as it came, with `body`, and its answer streamed."""
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _HOP_BY_HOP}
        chunked = body is not None and not isinstance(body, bytes) and "Content-Length" not in headers
        target = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
        answer = self.pool.urlopen(
            request.method,
            f"{self.upstream}{target}",
            body=body,
            headers=headers,
            chunked=chunked,
            preload_content=False,
            decode_content=False,
            redirect=False,
            retries=False,
            timeout=UPSTREAM_TIMEOUT,
        )
        response = Response(
            _streamed(answer),
            status=f"{answer.status} {answer.reason or ''}".strip(),
            headers=[(name, value) for name, value in answer.headers.iteritems() if name.lower() not in _HOP_BY_HOP],
            direct_passthrough=True,
        )
        response.call_on_close(answer.release_conn)
        return response


def _streamed(answer: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    yield from answer.stream(CHUNK_BYTES, decode_content=False)


def refusal(refused: PushRefused) -> Response:
    body = {"errors": [{"code": refused.code, "message": refused.message, "detail": None}]}
    return Response(json.dumps(body), status=refused.status, content_type="application/json; charset=utf-8")
