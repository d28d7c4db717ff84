"""The image registry behind the ECR API, through its HTTP API v2 (the OCI distribution
specification): the only code that talks to it. Image data (tags, manifests, layers) lives in the
registry alone; repository settings live in Kubernetes (shim/kube/ecr.py).

The server reads and writes with the registry's own credentials, named with its endpoint and CA
in a JSON file (`ecs-shim serve --registry FILE`; cluster/up writes .cluster/registry/shim.json):
`{"endpoint": "https://127.0.0.1:5000", "ca": "...", "username": "AWS", "password": "..."}`.
"""

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
TIMEOUT_SECONDS = 10.0


class RegistryError(Exception):
    """The registry did not answer, or answered what its API does not allow."""


@dataclass(frozen=True)
class Manifest:
    """One manifest as the registry serves it."""

    digest: str
    media_type: str
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def size(self) -> int:
        """The image's size as ECR counts it: its layers and config (for an index, its manifests)."""
        document = self.document
        parts = [*document.get("layers", []), document.get("config") or {}, *document.get("manifests", [])]
        return sum(int(part.get("size", 0)) for part in parts)


@dataclass(frozen=True)
class Registry:
    endpoint: str
    """https://host:port"""
    username: str
    password: str
    ca: str | None = None

    @classmethod
    def from_file(cls, path: str) -> "Registry":
        config = json.loads(Path(path).read_text())
        return cls(config["endpoint"].rstrip("/"), config["username"], config["password"], config.get("ca"))

    @property
    def host(self) -> str:
        """host:port, as image names begin."""
        return urllib.parse.urlsplit(self.endpoint).netloc

    @property
    def authorization(self) -> str:
        """`username:password`, base64: the token ECR's GetAuthorizationToken hands out."""
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def tags(self, repository: str) -> list[str]:
        """The repository's tags; none when the registry has never seen the repository."""
        status, _, body = self._request("GET", f"/v2/{repository}/tags/list")
        if status == 404:
            return []
        self._check(status, "list the tags of", repository)
        return sorted(json.loads(body).get("tags") or [])

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest a tag or digest names (None: no such image)."""
        status, headers, body = self._request(
            "GET", f"/v2/{repository}/manifests/{reference}", {"Accept": ", ".join(MANIFEST_TYPES)}
        )
        if status == 404:
            return None
        self._check(status, "read a manifest of", repository)
        digest = headers.get("Docker-Content-Digest") or reference
        media_type = headers.get("Content-Type") or json.loads(body).get("mediaType", "")
        return Manifest(digest, media_type.split(";")[0], body)

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """Store a manifest under a tag (or its digest); returns its digest. Its blobs must be in
        the repository already (RegistryError otherwise)."""
        status, headers, answer = self._request(
            "PUT", f"/v2/{repository}/manifests/{reference}", {"Content-Type": media_type}, body
        )
        self._check(status, "store a manifest in", repository, answer)
        return str(headers.get("Docker-Content-Digest", ""))

    def delete(self, repository: str, reference: str) -> bool:
        """Delete a tag (the image stays) or a digest (the image and every tag on it); False when
        there was no such tag or image."""
        status, _, body = self._request("DELETE", f"/v2/{repository}/manifests/{reference}")
        if status == 404:
            return False
        self._check(status, "delete from", repository, body)
        return True

    def _check(self, status: int, doing: str, repository: str, body: bytes = b"") -> None:
        if not 200 <= status < 300:
            detail = body.decode(errors="replace")[:300]
            raise RegistryError(f"the registry refused to {doing} {repository} (HTTP {status}) {detail}".strip())

    def _request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            f"{self.endpoint}{path}",
            data=body,
            method=method,
            headers={"Authorization": f"Basic {self.authorization}", **(headers or {})},
        )
        context = ssl.create_default_context(cafile=self.ca)
        try:
            with urllib.request.urlopen(request, context=context, timeout=TIMEOUT_SECONDS) as response:
                return int(response.status), dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return int(error.code), dict(error.headers.items()), error.read()
        except OSError as error:
            raise RegistryError(f"the registry at {self.endpoint} does not answer: {error}") from None
