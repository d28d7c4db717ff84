"""ECR repositories kept in Kubernetes: a repository is a `repositories.ecs.shim.io` object whose
spec is the repository record (name, creation time, tag mutability, tags, lifecycle policy, the
image digests seen in it), cluster-scoped and named after the repository (names.dns_label), so
every server process finds the same object without coordination. The images are the registry's
(shim/registry.py).

Reads go to the API server (no cache: ECR is called far less often than ECS). Writes replace the
object as it was read and read again on a conflict, as the Logs store does."""

from collections.abc import Callable
from typing import Any, cast

from shim.kube.client import KubeClients
from shim.kube.errors import NotFound, absent_if_missing, requested, retrying_conflicts
from shim.kube.records import GROUP, VERSION, Record, body
from shim.translate import names

REPOSITORIES = "repositories"


def repository_object_name(repository: str) -> str:
    return names.dns_label(repository)


class RepositoryStore:
    """ECR repositories in and out of the API server (errors: the store's, errors.py)."""

    def __init__(self, kube: KubeClients) -> None:
        self.kube = kube

    def get(self, repository: str) -> Record | None:
        found = absent_if_missing(self._get, repository_object_name(repository))
        if found is None or found.get("spec", {}).get("repositoryName") != repository:
            return None
        return cast(Record, found["spec"])

    def list(self) -> list[Record]:
        listed = requested(self.kube.custom.list_cluster_custom_object, GROUP, VERSION, REPOSITORIES)
        return [cast(Record, item["spec"]) for item in cast(dict[str, Any], listed)["items"]]

    def check_readable(self) -> None:
        """Raise Forbidden unless the caller (Store.acting_as) may list repositories."""
        requested(self.kube.custom.list_cluster_custom_object, GROUP, VERSION, REPOSITORIES, limit=1)

    def create(self, record: Record) -> Record:
        """Store a new repository (`Conflict`: it exists)."""
        name = repository_object_name(record["repositoryName"])
        obj = body("Repository", name, None, {names.LABEL_MANAGED: "true"}, record)
        created = requested(self.kube.custom.create_cluster_custom_object, GROUP, VERSION, REPOSITORIES, obj)
        return cast(Record, cast(dict[str, Any], created)["spec"])

    def update(self, repository: str, change: Callable[[Record], None]) -> Record | None:
        """Apply `change` to the repository's record as the API server has it, again after a
        conflict (None: no such repository)."""
        name = repository_object_name(repository)

        def update(_: int) -> Record | None:
            current = absent_if_missing(self._get, name)
            if current is None or current.get("spec", {}).get("repositoryName") != repository:
                return None
            change(current["spec"])
            replaced = requested(
                self.kube.custom.replace_cluster_custom_object, GROUP, VERSION, REPOSITORIES, name, current
            )
            return cast(Record, cast(dict[str, Any], replaced)["spec"])

        try:
            return retrying_conflicts(update, f"update {REPOSITORIES}/{name}")
        except NotFound:
            return None

    def delete(self, repository: str) -> bool:
        """False when there was no such repository."""
        if self.get(repository) is None:
            return False
        deleted = absent_if_missing(
            self.kube.custom.delete_cluster_custom_object,
            GROUP,
            VERSION,
            REPOSITORIES,
            repository_object_name(repository),
        )
        return deleted is not None

    def _get(self, name: str) -> dict[str, Any]:
        return cast(
            dict[str, Any], requested(self.kube.custom.get_cluster_custom_object, GROUP, VERSION, REPOSITORIES, name)
        )
