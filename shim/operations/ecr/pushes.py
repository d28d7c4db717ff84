"""ECR's rules for pushes, which the registry gate (shim/protocol/registry_gate.py) applies to
what Docker, crane or containerd send the registry: no push to a repository that does not exist
(`NAME_UNKNOWN`, 404), no tag of an immutable repository moved or pushed again (`TAG_INVALID`,
400, as ECR refuses a second push of an immutable tag even of the same image), and every pushed
image remembered at the moment of its push (its `imagePushedAt`)."""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from shim.image_pushes import PushRefused
from shim.kube.ecr import RepositoryStore
from shim.kube.errors import StoreError
from shim.kube.records import Record
from shim.operations.ecr.images import remember_images
from shim.registry import Registry, RegistryError
from shim.translate.ecr import (
    immutable_tag_message,
    is_digest,
    repository_not_found_message,
    repository_tag_is_immutable,
)


class RepositoryPushRules:
    """The `PushRules` of repositories kept in Kubernetes over images in `registry`."""

    def __init__(self, store: RepositoryStore, registry: Registry, account: str) -> None:
        self.store = store
        self.registry = registry
        self.account = account

    def check_repository(self, repository: str) -> None:
        with _unavailable_when_failing():
            self._record(repository)

    def check_manifest(self, repository: str, reference: str, manifest: bytes) -> list[str]:
        with _unavailable_when_failing():
            record = self._record(repository)
            current = None if is_digest(reference) else self.registry.manifest(repository, reference)
        digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
        if current is None:
            return [digest]
        if repository_tag_is_immutable(record, reference):
            raise PushRefused(400, "TAG_INVALID", immutable_tag_message(repository, reference))
        return [digest, current.digest]

    def remember(self, repository: str, digests: list[str]) -> None:
        self.store.update(repository, partial(remember_images, digests))

    def _record(self, repository: str) -> Record:
        record = self.store.get(repository)
        if record is None:
            raise PushRefused(404, "NAME_UNKNOWN", repository_not_found_message(repository, self.account))
        return record


@contextmanager
def _unavailable_when_failing() -> Iterator[None]:
    """The API server or the registry failing to answer: the push is refused as unavailable
    (503, which clients retry), never let through unchecked."""
    try:
        yield
    except (StoreError, RegistryError) as error:
        raise PushRefused(503, "UNAVAILABLE", f"The push could not be checked: {error}") from None
