"""Tags: TagResource, UntagResource, ListTagsForResource, for clusters, task definitions,
services and tasks."""

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import ClusterNotFoundException, InvalidParameterException, ServiceNotFoundException
from shim.kube.records import Stored
from shim.kube.store import Store
from shim.operations.clusters import CLUSTER_NOT_FOUND
from shim.operations.services import SERVICE_NOT_FOUND, find_service, save_service_change
from shim.operations.task_definitions import find_task_definition
from shim.operations.tasks import TASK_NOT_FOUND
from shim.translate import names
from shim.translate.tags import Tag, tags_added, tags_removed

TagChange = Callable[[list[Tag]], list[Tag]]


def resource_of(arn: str) -> tuple[str, str]:
    """(resource type, rest) of an ECS ARN, e.g. ("cluster", "prod")."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "ecs" or "/" not in parts[5]:
        raise InvalidParameterException("The ARN provided is invalid.")
    kind, _, rest = parts[5].partition("/")
    return kind, rest


def change_tags(store: Store, arn: str, change: TagChange) -> list[Tag]:
    kind, rest = resource_of(arn)

    def apply(record: dict[str, Any]) -> None:
        record["tags"] = change(record.get("tags", []))

    if kind == "cluster":
        found = store.get_cluster(rest)
        if found is None or found.record["status"] != "ACTIVE":
            raise ClusterNotFoundException(CLUSTER_NOT_FOUND)
        tags: list[Tag] = store.update_cluster(rest, apply).record["tags"]
        return tags
    if kind == "task-definition":
        return store.update_task_definition_tags(find_task_definition(store, arn), change).tags
    if kind == "service":
        return change_service_tags(store, rest, change)
    if kind == "task":
        return change_task_tags(store, rest, change)
    raise InvalidParameterException(f"Tagging resources of type '{kind}' is not supported.")


def change_service_tags(store: Store, cluster_and_name: str, change: TagChange) -> list[Tag]:
    cluster_name, _, service_name = cluster_and_name.partition("/")

    def tagged(found: Stored) -> dict[str, Any]:
        record = found.record
        if record["status"] == "INACTIVE":
            raise ServiceNotFoundException(SERVICE_NOT_FOUND)
        return {**record, "tags": change(record.get("tags", []))}

    saved = save_service_change(store, cluster_name, service_name, tagged)
    return list(saved.record["tags"])


def change_task_tags(store: Store, cluster_and_id: str, change: TagChange) -> list[Tag]:
    cluster_name, _, task_id = cluster_and_id.partition("/")
    namespace = names.cluster_namespace(cluster_name)
    pod = store.task_pod(namespace, task_id)
    if pod is None:
        raise InvalidParameterException(TASK_NOT_FOUND)
    tags = change(task_tags(pod))
    store.patch_pod(
        namespace, pod["metadata"]["name"], {"metadata": {"annotations": {names.ANNOTATION_TAGS: json.dumps(tags)}}}
    )
    return tags


def task_tags(pod: dict[str, Any]) -> list[Tag]:
    tags: list[Tag] = json.loads((pod["metadata"].get("annotations") or {}).get(names.ANNOTATION_TAGS) or "[]")
    return tags


def resource_arn(call: Call) -> str:
    """The ARN a tag call names; one of another region or account is refused, as ECS does."""
    arn: str = call.params["resourceArn"]
    names.check_arn_home(arn, call.region, call.account)
    return arn


def tag_resource(store: Store, call: Call) -> Response:
    change_tags(store, resource_arn(call), partial(tags_added, added=call.params["tags"]))
    return {}


def untag_resource(store: Store, call: Call) -> Response:
    change_tags(store, resource_arn(call), partial(tags_removed, keys=call.params["tagKeys"]))
    return {}


def current_tags(store: Store, arn: str) -> list[Tag]:
    kind, rest = resource_of(arn)
    if kind == "cluster":
        record = store.get_cluster(rest)
        if record is None:
            raise ClusterNotFoundException(CLUSTER_NOT_FOUND)
        return list(record.record.get("tags", []))
    if kind == "task-definition":
        return list(find_task_definition(store, arn).tags)
    if kind == "service":
        cluster_name, _, service_name = rest.partition("/")
        found = find_service(store, cluster_name, service_name)
        if found is None:
            raise ServiceNotFoundException(SERVICE_NOT_FOUND)
        return list(found.record.get("tags", []))
    if kind == "task":
        cluster_name, _, task_id = rest.partition("/")
        namespace = names.cluster_namespace(cluster_name)
        pod = store.task_pod(namespace, task_id)
        if pod is not None:
            return task_tags(pod)
        record = store.task_record(namespace, task_id)
        if record is None:
            raise InvalidParameterException(TASK_NOT_FOUND)
        return list(record.record["task"].get("tags", []))
    raise InvalidParameterException(f"Tagging resources of type '{kind}' is not supported.")


def list_tags_for_resource(store: Store, call: Call) -> Response:
    return {"tags": current_tags(store, resource_arn(call))}


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "TagResource": partial(tag_resource, store),
        "UntagResource": partial(untag_resource, store),
        "ListTagsForResource": partial(list_tags_for_resource, store),
    }
