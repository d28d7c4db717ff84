"""What an image push is to the protocol layer, whose registry gate passes OCI clients' requests
on to the image registry, and to the ECR handlers, which know the repositories: the contract
between them. It imports no layer, so both can."""

from typing import Protocol


class PushRefused(Exception):
    """A push ECR would refuse, as the distribution API tells an OCI client: an HTTP status and
    an error code (`NAME_UNKNOWN`, `TAG_INVALID`...) with ECR's message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class PushRules(Protocol):
    """ECR's rules for what a client pushes to a repository."""

    def check_repository(self, repository: str) -> None:
        """Raise PushRefused unless blobs may be pushed to `repository`."""
        ...

    def check_manifest(self, repository: str, reference: str, manifest: bytes) -> list[str]:
        """Raise PushRefused unless `manifest` may be stored under `reference` (a tag or a
        digest); else the digests to remember once it is (see `remember`)."""
        ...

    def remember(self, repository: str, digests: list[str]) -> None:
        """The repository's images include `digests` from now on (the image pushed, and the one
        its tag moved away from, which stays as an untagged image)."""
        ...
