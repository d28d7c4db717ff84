"""Cloud Map kept in Kubernetes: cluster-scoped objects (account-wide, as Cloud Map's resources
are) whose spec is the record (shim/translate/cloud_map.py):
- `cloudmapnamespaces`, named after the namespace's name (names.dns_label), so that two
  creations of one name cannot both succeed, labelled with the namespace's id;
- `cloudmapservices`, named after the namespace's id and the service's name (one service of a
  name per namespace, the same way), labelled with the service's id and its namespace's;
- `cloudmapoperations`, named after the operation's id.

Reads go to the API server (no cache: Cloud Map is called far less often than ECS). Writes
replace the object as it was read and read again on a conflict, as the other stores do."""

import re
from collections.abc import Callable
from typing import Any, cast

from shim.kube.client import KubeClients
from shim.kube.errors import NotFound, absent_if_missing, requested, retrying_conflicts
from shim.kube.records import GROUP, VERSION, Record, body
from shim.translate import names

NAMESPACES = "cloudmapnamespaces"
SERVICES = "cloudmapservices"
OPERATIONS = "cloudmapoperations"
LABEL_ID = f"{names.PREFIX}/cloud-map-id"
LABEL_NAMESPACE = f"{names.PREFIX}/cloud-map-namespace"
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?")


def namespace_object_name(name: str) -> str:
    return names.dns_label(name)


def service_object_name(namespace_id: str, name: str) -> str:
    return names.dns_label(f"{namespace_id}.{name}")


class _Objects:
    """The objects of one kind, by object name or label."""

    def __init__(self, kube: KubeClients, plural: str, kind: str) -> None:
        self.kube, self.plural, self.kind = kube, plural, kind

    def get(self, name: str) -> Record | None:
        found = absent_if_missing(self.kube.custom.get_cluster_custom_object, GROUP, VERSION, self.plural, name)
        return None if found is None else cast(Record, cast(dict[str, Any], found)["spec"])

    def listed(self, **labels: str) -> list[Record]:
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        listed = requested(
            self.kube.custom.list_cluster_custom_object, GROUP, VERSION, self.plural, label_selector=selector
        )
        return [cast(Record, item["spec"]) for item in cast(dict[str, Any], listed)["items"]]

    def create(self, name: str, labels: dict[str, str], record: Record) -> Record:
        """Store a new object (`Conflict`: one of that name exists)."""
        obj = body(self.kind, name, None, {names.LABEL_MANAGED: "true", **labels}, record)
        created = requested(self.kube.custom.create_cluster_custom_object, GROUP, VERSION, self.plural, obj)
        return cast(Record, cast(dict[str, Any], created)["spec"])

    def update(self, name: str, change: Callable[[Record], None]) -> Record | None:
        """Apply `change` to the record as the API server has it, again after a conflict (None:
        no such object)."""

        def update(_: int) -> Record:
            current = cast(
                dict[str, Any],
                requested(self.kube.custom.get_cluster_custom_object, GROUP, VERSION, self.plural, name),
            )
            change(current["spec"])
            replaced = requested(
                self.kube.custom.replace_cluster_custom_object, GROUP, VERSION, self.plural, name, current
            )
            return cast(Record, cast(dict[str, Any], replaced)["spec"])

        try:
            return retrying_conflicts(update, f"update {self.plural}/{name}")
        except NotFound:
            return None

    def delete(self, name: str) -> None:
        absent_if_missing(self.kube.custom.delete_cluster_custom_object, GROUP, VERSION, self.plural, name)


class CloudMapStore:
    """Cloud Map namespaces, services and operations in and out of the API server (errors: the
    store's, errors.py)."""

    def __init__(self, kube: KubeClients) -> None:
        self._namespaces = _Objects(kube, NAMESPACES, "CloudMapNamespace")
        self._services = _Objects(kube, SERVICES, "CloudMapService")
        self._operations = _Objects(kube, OPERATIONS, "CloudMapOperation")

    # Namespaces

    def namespace(self, namespace_id: str) -> Record | None:
        return next(iter(self._namespaces.listed(**{LABEL_ID: names.label_value(namespace_id)})), None)

    def namespace_named(self, name: str) -> Record | None:
        found = self._namespaces.get(namespace_object_name(name))
        return found if found is not None and found["Name"] == name else None

    def namespaces(self) -> list[Record]:
        return self._namespaces.listed()

    def create_namespace(self, record: Record) -> Record:
        """Store a new namespace (`Conflict`: one of its name exists)."""
        labels = {LABEL_ID: record["Id"]}
        return self._namespaces.create(namespace_object_name(record["Name"]), labels, record)

    def update_namespace(self, record: Record, change: Callable[[Record], None]) -> Record | None:
        return self._namespaces.update(namespace_object_name(record["Name"]), change)

    def delete_namespace(self, record: Record) -> None:
        self._namespaces.delete(namespace_object_name(record["Name"]))

    # Services

    def service(self, service_id: str) -> Record | None:
        return next(iter(self._services.listed(**{LABEL_ID: names.label_value(service_id)})), None)

    def service_named(self, namespace_id: str, name: str) -> Record | None:
        found = self._services.get(service_object_name(namespace_id, name))
        return found if found is not None and found["Name"] == name else None

    def services(self, namespace_id: str | None = None) -> list[Record]:
        if namespace_id is None:
            return self._services.listed()
        return self._services.listed(**{LABEL_NAMESPACE: names.label_value(namespace_id)})

    def create_service(self, record: Record) -> Record:
        """Store a new service (`Conflict`: its namespace has one of its name)."""
        labels = {LABEL_ID: record["Id"], LABEL_NAMESPACE: record["NamespaceId"]}
        return self._services.create(service_object_name(record["NamespaceId"], record["Name"]), labels, record)

    def update_service(self, record: Record, change: Callable[[Record], None]) -> Record | None:
        return self._services.update(service_object_name(record["NamespaceId"], record["Name"]), change)

    def delete_service(self, record: Record) -> None:
        self._services.delete(service_object_name(record["NamespaceId"], record["Name"]))

    # Operations

    def operation(self, operation_id: str) -> Record | None:
        found = self._operations.get(operation_id) if _OBJECT_NAME.fullmatch(operation_id) else None
        return found if found is not None and found["Id"] == operation_id else None

    def operations(self) -> list[Record]:
        return self._operations.listed()

    def save_operation(self, record: Record) -> Record:
        return self._operations.create(record["Id"], {}, record)
