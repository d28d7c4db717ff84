"""CloudWatch Logs state kept in Kubernetes: a log group is a `loggroups.ecs.shim.io` object whose
spec is the group record, a log stream a `logstreams.ecs.shim.io` object whose spec is the stream
record with its events (labelled with its group), both cluster-scoped and named after the ECS-side
names (names.dns_label), so every server process finds the same object without coordination.

Reads go to the API server (no cache: the Logs API is read far less often than ECS's, and a
stream's events would make a cache as large as every log kept). Writes replace the object as it
was read and read again on a conflict (another server process wrote first), so appends by several
collectors never lose or duplicate an event. And a container's output comes from `pods/log`."""

from collections.abc import Callable
from typing import Any, cast

from shim.kube.client import KubeClients
from shim.kube.errors import NotFound, StoreError, absent_if_missing, requested, retrying_conflicts
from shim.kube.records import GROUP, VERSION, Record, body
from shim.translate import names

GROUPS = "loggroups"
STREAMS = "logstreams"
LABEL_LOG_GROUP = f"{names.PREFIX}/log-group"
LOG_READ_SECONDS = 10.0


def group_object_name(group: str) -> str:
    return names.dns_label(group)


def stream_object_name(group: str, stream: str) -> str:
    return f"{names.dns_label(group)}.{names.dns_label(stream)}"


class LogStore:
    """Log groups and streams in and out of the API server (errors: the store's, errors.py)."""

    def __init__(self, kube: KubeClients) -> None:
        self.kube = kube

    # Log groups

    def get_group(self, group: str) -> Record | None:
        found = absent_if_missing(self._get, GROUPS, group_object_name(group))
        return _spec_of(found, "logGroupName", group)

    def list_groups(self) -> list[Record]:
        return [cast(Record, item["spec"]) for item in self._list(GROUPS)]

    def create_group(self, record: Record) -> Record:
        """Store a new group (`Conflict`: it exists)."""
        name = group_object_name(record["logGroupName"])
        created = self._create(GROUPS, body("LogGroup", name, None, {names.LABEL_MANAGED: "true"}, record))
        return cast(Record, created["spec"])

    def update_group(self, group: str, change: Callable[[Record], None]) -> Record | None:
        """Apply `change` to the group's record as the API server has it (None: no such group)."""
        return self._update(GROUPS, group_object_name(group), "logGroupName", group, change)

    def delete_group(self, group: str) -> bool:
        """Delete the group and its streams; False when there was no such group."""
        if self.get_group(group) is None:
            return False
        deleted = absent_if_missing(
            self.kube.custom.delete_cluster_custom_object, GROUP, VERSION, GROUPS, group_object_name(group)
        )
        requested(
            self.kube.custom.delete_collection_cluster_custom_object,
            GROUP,
            VERSION,
            STREAMS,
            label_selector=f"{LABEL_LOG_GROUP}={group_object_name(group)}",
        )
        return deleted is not None

    # Log streams

    def get_stream(self, group: str, stream: str) -> Record | None:
        found = absent_if_missing(self._get, STREAMS, stream_object_name(group, stream))
        return _spec_of(found, "logStreamName", stream)

    def list_streams(self, group: str) -> list[Record]:
        selector = f"{LABEL_LOG_GROUP}={group_object_name(group)}"
        return [
            cast(Record, item["spec"])
            for item in self._list(STREAMS, label_selector=selector)
            if item["spec"].get("logGroupName") == group
        ]

    def create_stream(self, record: Record) -> Record:
        """Store a new stream (`Conflict`: it exists)."""
        group, stream = record["logGroupName"], record["logStreamName"]
        labels = {names.LABEL_MANAGED: "true", LABEL_LOG_GROUP: group_object_name(group)}
        created = self._create(STREAMS, body("LogStream", stream_object_name(group, stream), None, labels, record))
        return cast(Record, created["spec"])

    def update_stream(self, group: str, stream: str, change: Callable[[Record], None]) -> Record | None:
        """Apply `change` to the stream's record as the API server has it, again after a conflict
        (None: no such stream)."""
        return self._update(STREAMS, stream_object_name(group, stream), "logStreamName", stream, change)

    # Container output

    def container_log(self, namespace: str, pod: str, container: str, since: str | None) -> str | None:
        """The container's output with the runtime's timestamps (`pods/log?timestamps=true`),
        from `since` (RFC 3339) on; None where the node serves none (a simulated node, a
        container not started yet, a pod gone)."""
        query = [("container", container), ("timestamps", "true")]
        if since:
            query.append(("sinceTime", since))
        method, url, headers, data, _ = self.kube.api.param_serialize(
            method="GET",
            resource_path=f"/api/v1/namespaces/{namespace}/pods/{pod}/log",
            query_params=query,
            header_params={"Accept": "*/*"},
            auth_settings=["BearerToken"],
        )
        try:
            response = requested(self.kube.api.call_api, method, url, headers, data, _request_timeout=LOG_READ_SECONDS)
            text = response.read()
        except (StoreError, OSError):
            return None
        if not 200 <= response.status < 300:
            return None
        return bytes(text).decode(errors="replace")

    # Shared

    def _update(
        self, plural: str, name: str, member: str, expected: str, change: Callable[[Record], None]
    ) -> Record | None:
        def update(_: int) -> Record | None:
            current = absent_if_missing(self._get, plural, name)
            if _spec_of(current, member, expected) is None:
                return None
            assert current is not None
            change(current["spec"])
            replaced = requested(self.kube.custom.replace_cluster_custom_object, GROUP, VERSION, plural, name, current)
            return cast(Record, cast(dict[str, Any], replaced)["spec"])

        try:
            return retrying_conflicts(update, f"update {plural}/{name}")
        except NotFound:
            return None

    def _get(self, plural: str, name: str) -> dict[str, Any]:
        return cast(dict[str, Any], requested(self.kube.custom.get_cluster_custom_object, GROUP, VERSION, plural, name))

    def _list(self, plural: str, **query: Any) -> list[dict[str, Any]]:
        listed = requested(self.kube.custom.list_cluster_custom_object, GROUP, VERSION, plural, **query)
        return cast(list[dict[str, Any]], cast(dict[str, Any], listed)["items"])

    def _create(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        return cast(
            dict[str, Any], requested(self.kube.custom.create_cluster_custom_object, GROUP, VERSION, plural, obj)
        )


def _spec_of(found: dict[str, Any] | None, member: str, expected: str) -> Record | None:
    """The object's record, when it is the one named `expected` (names.dns_label is unique per
    exact name, so this only guards against objects made by hand)."""
    if found is None or found.get("spec", {}).get(member) != expected:
        return None
    return cast(Record, found["spec"])
