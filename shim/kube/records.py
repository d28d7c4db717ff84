"""The layout of the custom resources that hold ECS records (manifests/crds/, shim/kube/crds/),
known here and nowhere else: a Cluster's spec is the cluster record, a TaskDefinition's spec holds
the revision's view (`taskDefinition`) and its tags, a Service's and a Task's spec hold the
service record and the stopped-task record (`record`).

The store hands records out as `Stored`: the record dict itself (the cached object's, not a
copy), with the name, labels and resourceVersion a later write needs to replace exactly the
version that was read."""

from dataclasses import dataclass, field
from typing import Any

from shim.kube.cache import KubeObject

GROUP = "ecs.shim.io"
VERSION = "v1"

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stored:
    """An ECS record as the store keeps it."""

    record: Record
    name: str
    namespace: str | None
    labels: dict[str, str]
    resource_version: str
    uid: str
    tags: list[dict[str, str]] = field(default_factory=list)
    """A task definition's tags, which ECS keeps beside its view; other records hold their own."""

    @property
    def version(self) -> tuple[str, str]:
        """What identifies this version of the record, for keys of derived caches."""
        return self.uid, self.resource_version


def _stored(obj: KubeObject, record: Record, tags: list[dict[str, str]] | None = None) -> Stored:
    metadata = obj["metadata"]
    name = str(metadata["name"])
    namespace = metadata.get("namespace")
    return Stored(
        record,
        name,
        namespace,
        metadata.get("labels") or {},
        str(metadata.get("resourceVersion", "")),
        str(metadata.get("uid") or (f"{namespace}/{name}" if namespace else name)),
        tags if tags is not None else [],
    )


def cluster(obj: KubeObject) -> Stored:
    return _stored(obj, obj["spec"])


def task_definition(obj: KubeObject) -> Stored:
    return _stored(obj, obj["spec"]["taskDefinition"], obj["spec"].get("tags", []))


def service(obj: KubeObject) -> Stored:
    return _stored(obj, obj["spec"]["record"])


def stopped_task(obj: KubeObject) -> Stored:
    return _stored(obj, obj["spec"]["record"])


def task_definition_view(obj: KubeObject) -> Record:
    view: Record = obj["spec"]["taskDefinition"]
    return view


def body(kind: str, name: str, namespace: str | None, labels: dict[str, str], spec: dict[str, Any]) -> KubeObject:
    metadata: dict[str, Any] = {"name": name, "labels": labels}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": metadata, "spec": spec}


def service_body(namespace: str, name: str, labels: dict[str, str], record: Record) -> KubeObject:
    return body("Service", name, namespace, labels, {"record": record})


def task_body(namespace: str, name: str, labels: dict[str, str], record: Record) -> KubeObject:
    return body("Task", name, namespace, labels, {"record": record})


def task_definition_body(name: str, labels: dict[str, str], view: Record, tags: list[dict[str, str]]) -> KubeObject:
    return body("TaskDefinition", name, None, labels, {"taskDefinition": view, "tags": tags})


def cluster_body(name: str, labels: dict[str, str], record: Record) -> KubeObject:
    return body("Cluster", name, None, labels, record)
