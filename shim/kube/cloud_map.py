"""Cloud Map kept in Kubernetes: cluster-scoped objects (account-wide, as Cloud Map's resources
are) whose spec is the record (shim/translate/cloud_map.py):
- `cloudmapnamespaces`, named after the namespace's name (names.dns_label), so that two
  creations of one name cannot both succeed, labelled with the namespace's id;
- `cloudmapservices`, named after the namespace's id and the service's name (one service of a
  name per namespace, the same way), labelled with the service's id and its namespace's;
- `cloudmapoperations`, named after the operation's id, labelled with the hour it was made in:
  an operation is forgotten OPERATION_HOURS after it.

Reads go to the API server (no cache: Cloud Map is called far less often than ECS). Writes
replace the object as it was read and read again on a conflict, as the other stores do."""

import re
from collections.abc import Callable
from typing import Any, cast

from shim.kube.client import KubeClients
from shim.kube.errors import absent_if_missing, requested, retrying_conflicts
from shim.kube.records import GROUP, VERSION, Record, body
from shim.translate import names

NAMESPACES = "cloudmapnamespaces"
SERVICES = "cloudmapservices"
OPERATIONS = "cloudmapoperations"
LABEL_ID = f"{names.PREFIX}/cloud-map-id"
LABEL_NAMESPACE = f"{names.PREFIX}/cloud-map-namespace"
LABEL_HOUR = f"{names.PREFIX}/cloud-map-hour"
OPERATION_HOURS = 24
"""How long an operation is kept (GetOperation answers OperationNotFound after it)."""
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?")


def namespace_object_name(name: str) -> str:
    return names.dns_label(name)


def service_object_name(namespace_id: str, name: str) -> str:
    return names.dns_label(f"{namespace_id}.{name}")


class _Objects:
    """The objects of one kind, by object name or label. A record is one object's only while its
    `Id` is the one asked for: an object deleted and made again under its name is another."""

    def __init__(self, kube: KubeClients, plural: str, kind: str) -> None:
        self.kube, self.plural, self.kind = kube, plural, kind

    def get(self, name: str) -> Record | None:
        found = self._read(name)
        return None if found is None else cast(Record, found["spec"])

    def listed(self, **labels: str) -> list[Record]:
        return [cast(Record, item["spec"]) for item in self._list(**labels)]

    def create(self, name: str, labels: dict[str, str], record: Record) -> Record:
        """Store a new object (`Conflict`: one of that name exists)."""
        obj = body(self.kind, name, None, {names.LABEL_MANAGED: "true", **labels}, record)
        created = requested(self.kube.custom.create_cluster_custom_object, GROUP, VERSION, self.plural, obj)
        return cast(Record, cast(dict[str, Any], created)["spec"])

    def update(self, name: str, record_id: str, change: Callable[[Record], None]) -> Record | None:
        """Apply `change` to the record as the API server has it, again after a conflict (None:
        no such record)."""

        def update(_: int) -> Record | None:
            current = self._read(name)
            if current is None or current["spec"].get("Id") != record_id:
                return None
            change(current["spec"])
            replaced = requested(
                self.kube.custom.replace_cluster_custom_object, GROUP, VERSION, self.plural, name, current
            )
            return cast(Record, cast(dict[str, Any], replaced)["spec"])

        return retrying_conflicts(update, f"update {self.plural}/{name}")

    def delete_if(self, name: str, record_id: str, deletable: Callable[[Record], bool]) -> bool | None:
        """Delete the record if `deletable(record)` says so of the version deleted (a change
        between the check and the delete makes it check again); None: no such record."""

        def delete(_: int) -> bool | None:
            current = self._read(name)
            if current is None or current["spec"].get("Id") != record_id:
                return None
            if not deletable(current["spec"]):
                return False
            version = current["metadata"]["resourceVersion"]
            options = {"preconditions": {"resourceVersion": version}}
            absent_if_missing(
                self.kube.custom.delete_cluster_custom_object, GROUP, VERSION, self.plural, name, body=options
            )
            return True

        return retrying_conflicts(delete, f"delete {self.plural}/{name}")

    def delete_all(self, selector: str) -> None:
        requested(
            self.kube.custom.delete_collection_cluster_custom_object,
            GROUP,
            VERSION,
            self.plural,
            label_selector=selector,
        )

    def _read(self, name: str) -> dict[str, Any] | None:
        found = absent_if_missing(self.kube.custom.get_cluster_custom_object, GROUP, VERSION, self.plural, name)
        return cast(dict[str, Any] | None, found)

    def _list(self, **labels: str) -> list[dict[str, Any]]:
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        listed = requested(
            self.kube.custom.list_cluster_custom_object, GROUP, VERSION, self.plural, label_selector=selector
        )
        return cast(list[dict[str, Any]], cast(dict[str, Any], listed)["items"])


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
        return self._namespaces.update(namespace_object_name(record["Name"]), record["Id"], change)

    def delete_namespace(self, record: Record) -> None:
        self._namespaces.delete_if(namespace_object_name(record["Name"]), record["Id"], lambda _: True)

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
        return self._services.update(service_object_name(record["NamespaceId"], record["Name"]), record["Id"], change)

    def delete_service(self, record: Record, deletable: Callable[[Record], bool]) -> bool | None:
        """Delete the service if `deletable(record)` holds for the version deleted (None: gone)."""
        return self._services.delete_if(
            service_object_name(record["NamespaceId"], record["Name"]), record["Id"], deletable
        )

    # Operations

    def operation(self, operation_id: str) -> Record | None:
        found = self._operations.get(operation_id) if _OBJECT_NAME.fullmatch(operation_id) else None
        return found if found is not None and found["Id"] == operation_id else None

    def operations(self) -> list[Record]:
        return self._operations.listed()

    def save_operation(self, record: Record) -> Record:
        """Store an operation, and forget the ones older than OPERATION_HOURS."""
        hour = int(record["CreateDate"] // 3600)
        kept = ",".join(str(hour - age) for age in range(OPERATION_HOURS + 1))
        self._operations.delete_all(f"{LABEL_HOUR},{LABEL_HOUR} notin ({kept})")
        return self._operations.create(record["Id"], {LABEL_HOUR: str(hour)}, record)
