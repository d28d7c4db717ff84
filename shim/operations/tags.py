"""Tags: TagResource, UntagResource, ListTagsForResource, for clusters and task definitions."""

from collections.abc import Callable
from functools import partial
from typing import Any

from shim.errors import ClusterNotFoundException, InvalidParameterException
from shim.kube.store import Store
from shim.operations.base import Call, Handler, Response
from shim.operations.clusters import CLUSTER_NOT_FOUND
from shim.operations.task_definitions import find_task_definition
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

    def apply(spec: dict[str, Any]) -> None:
        spec["tags"] = change(spec.get("tags", []))

    if kind == "cluster":
        record = store.get_cluster(rest)
        if record is None or record["spec"]["status"] != "ACTIVE":
            raise ClusterNotFoundException(CLUSTER_NOT_FOUND)
        saved = store.update_cluster(names.cluster_namespace(rest), apply)
    elif kind == "task-definition":
        found = find_task_definition(store, arn)
        saved = store.update_task_definition(found["metadata"]["name"], apply)
    else:
        raise InvalidParameterException(f"Tagging resources of type '{kind}' is not supported yet.")
    tags: list[Tag] = saved["spec"]["tags"]
    return tags


def tag_resource(store: Store, call: Call) -> Response:
    change_tags(store, call.params["resourceArn"], partial(tags_added, added=call.params["tags"]))
    return {}


def untag_resource(store: Store, call: Call) -> Response:
    change_tags(store, call.params["resourceArn"], partial(tags_removed, keys=call.params["tagKeys"]))
    return {}


def current_tags(store: Store, arn: str) -> list[Tag]:
    kind, rest = resource_of(arn)
    if kind == "cluster":
        record = store.get_cluster(rest)
        if record is None:
            raise ClusterNotFoundException(CLUSTER_NOT_FOUND)
        return list(record["spec"].get("tags", []))
    if kind == "task-definition":
        return list(find_task_definition(store, arn)["spec"].get("tags", []))
    raise InvalidParameterException(f"Tagging resources of type '{kind}' is not supported yet.")


def list_tags_for_resource(store: Store, call: Call) -> Response:
    return {"tags": current_tags(store, call.params["resourceArn"])}


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "TagResource": partial(tag_resource, store),
        "UntagResource": partial(untag_resource, store),
        "ListTagsForResource": partial(list_tags_for_resource, store),
    }
