"""Container instances are Nodes: ListContainerInstances, DescribeContainerInstances,
UpdateContainerInstancesState; and their custom attributes: PutAttributes, ListAttributes,
DeleteAttributes."""

from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import InvalidParameterException, TargetNotFoundException
from shim.kube.cache import DerivedCache, KubeObject, version_key
from shim.kube.store import Store
from shim.operations.base import includes_tags, requested
from shim.operations.clusters import active_cluster
from shim.operations.pagination import page
from shim.translate import cql, names
from shim.translate.container_instances import (
    attribute_annotation,
    attribute_label,
    check_attribute_limit,
    container_instance_id,
    container_instance_view,
    instance_attributes,
    instance_facts,
    is_active,
    validate_attribute,
)

MAX_DESCRIBE = 100
INSTANCE_STATUSES = ("ACTIVE", "DRAINING")


def nodes_by_instance_id(store: Store, cluster_name: str) -> dict[str, KubeObject]:
    return {container_instance_id(node): node for node in store.nodes_serving(cluster_name)}


def instance_id_in(call: Call, cluster_name: str, value: str) -> str:
    """The container instance id a reference gives within `cluster_name`; an ARN of another
    cluster, region or account is refused, as ECS refuses it."""
    return names.cluster_resource_id(value, cluster_name, call.region, call.account)


def node_for_instance(store: Store, call: Call, cluster_name: str, value: str) -> KubeObject:
    node = nodes_by_instance_id(store, cluster_name).get(instance_id_in(call, cluster_name, value))
    if node is None:
        raise InvalidParameterException(f"Container instance {value} was not found in cluster {cluster_name}.")
    return node


_views: DerivedCache[Response] = DerivedCache(limit=10_000)


def instance_view(store: Store, call: Call, cluster_name: str, node: KubeObject, include_tags: bool) -> Response:
    """The container instance of a node, kept while the node and its pods keep their versions."""
    pods = store.pods_on(node["metadata"]["name"])
    key = (
        version_key(node),
        tuple(sorted(version_key(pod) or ("", "") for pod in pods)),
        call.region,
        call.account,
        cluster_name,
        include_tags,
    )
    return _views.get(
        key,
        lambda: container_instance_view(
            node, pods, region=call.region, account=call.account, cluster_name=cluster_name, include_tags=include_tags
        ),
    )


def list_container_instances(store: Store, call: Call) -> Response:
    cluster_name = active_cluster(store, call)["clusterName"]
    status = call.params.get("status")
    expression = cql.parse(call.params["filter"]) if call.params.get("filter") else None
    arns = []
    for node in store.nodes_serving(cluster_name):
        node_status = "ACTIVE" if is_active(node) else "DRAINING"
        if status and status != node_status:
            continue
        if expression is not None and not cql.evaluate(
            expression, instance_facts(node, store.pods_on(node["metadata"]["name"]), cluster_name=cluster_name)
        ):
            continue
        arns.append(names.container_instance_arn(call.region, call.account, cluster_name, container_instance_id(node)))
    chunk, token = page(sorted(arns), str, call.params.get("maxResults"), call.params.get("nextToken"))
    return {"containerInstanceArns": chunk, **({"nextToken": token} if token else {})}


def describe_container_instances(store: Store, call: Call) -> Response:
    cluster_name = active_cluster(store, call)["clusterName"]
    wanted = requested(
        call, "containerInstances", MAX_DESCRIBE, "container instances", empty="Container instance cannot be empty."
    )
    include_tags = includes_tags(call)
    by_id = nodes_by_instance_id(store, cluster_name)
    found, failures = [], []
    for value in wanted:
        node = by_id.get(instance_id_in(call, cluster_name, value))
        if node is None:
            arn = (
                value
                if value.startswith("arn:")
                else names.container_instance_arn(call.region, call.account, cluster_name, value)
            )
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        found.append(instance_view(store, call, cluster_name, node, include_tags))
    return {"containerInstances": found, "failures": failures}


def update_container_instances_state(store: Store, call: Call) -> Response:
    cluster_name = active_cluster(store, call)["clusterName"]
    status = call.params["status"]
    if status not in INSTANCE_STATUSES:
        raise InvalidParameterException(f"Container instances can be set to {' or '.join(INSTANCE_STATUSES)} here.")
    nodes = [node_for_instance(store, call, cluster_name, value) for value in call.params["containerInstances"]]
    updated = []
    for node in nodes:
        patched = store.patch_node(node["metadata"]["name"], {"spec": {"unschedulable": status == "DRAINING"}})
        if status == "DRAINING":
            drain_service_tasks(store, patched)
        updated.append(instance_view(store, call, cluster_name, patched, include_tags=False))
    return {"containerInstances": updated, "failures": []}


def drain_service_tasks(store: Store, node: KubeObject) -> None:
    """On a DRAINING instance ECS replaces service tasks elsewhere; standalone tasks keep running."""
    for pod in store.pods_on(node["metadata"]["name"]):
        if names.LABEL_SERVICE in pod["metadata"].get("labels", {}):
            store.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])


def attribute_targets(store: Store, call: Call, cluster_name: str) -> list[tuple[dict[str, Any], KubeObject]]:
    targets = []
    for attribute in call.params["attributes"]:
        validate_attribute(attribute)
        if attribute.get("targetType", "container-instance") != "container-instance":
            raise InvalidParameterException("Only container-instance attributes are supported.")
        if "targetId" not in attribute:
            raise InvalidParameterException(f"Attribute {attribute['name']} needs a targetId.")
        node = nodes_by_instance_id(store, cluster_name).get(instance_id_in(call, cluster_name, attribute["targetId"]))
        if node is None:
            raise TargetNotFoundException(f"Could not find {attribute['targetId']}.")
        targets.append((attribute, node))
    return targets


def put_attributes(store: Store, call: Call) -> Response:
    return change_attributes(store, call, remove=False)


def delete_attributes(store: Store, call: Call) -> Response:
    return change_attributes(store, call, remove=True)


def change_attributes(store: Store, call: Call, remove: bool) -> Response:
    cluster_name = active_cluster(store, call)["clusterName"]
    targets = attribute_targets(store, call, cluster_name)
    if not remove:
        check_attribute_limit(targets)
    for attribute, node in targets:
        key, value = attribute_label(attribute["name"], attribute.get("value"))
        _, exact = attribute_annotation(attribute["name"], attribute.get("value"))
        change = {"labels": {key: None if remove else value}, "annotations": {key: None if remove else exact}}
        store.patch_node(node["metadata"]["name"], {"metadata": change})
    shown = [
        {
            **attribute,
            "targetType": "container-instance",
            "targetId": names.container_instance_arn(
                call.region, call.account, cluster_name, container_instance_id(node)
            ),
        }
        for attribute, node in targets
    ]
    return {"attributes": shown}


def list_attributes(store: Store, call: Call) -> Response:
    cluster_name = active_cluster(store, call)["clusterName"]
    if call.params["targetType"] != "container-instance":
        raise InvalidParameterException("Only container-instance attributes are supported.")
    name, value = call.params.get("attributeName"), call.params.get("attributeValue")
    if value is not None and name is None:
        raise InvalidParameterException("attributeValue needs attributeName.")
    listed = []
    for node in store.nodes_serving(cluster_name):
        arn = names.container_instance_arn(call.region, call.account, cluster_name, container_instance_id(node))
        for attribute in instance_attributes(node):
            if (name is None or attribute["name"] == name) and (value is None or attribute.get("value") == value):
                listed.append({**attribute, "targetType": "container-instance", "targetId": arn})
    listed.sort(key=attribute_key)
    chunk, token = page(listed, attribute_key, call.params.get("maxResults"), call.params.get("nextToken"))
    return {"attributes": chunk, **({"nextToken": token} if token else {})}


def attribute_key(attribute: dict[str, str]) -> str:
    return f"{attribute['targetId']}|{attribute['name']}"


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "ListContainerInstances": partial(list_container_instances, store),
        "DescribeContainerInstances": partial(describe_container_instances, store),
        "UpdateContainerInstancesState": partial(update_container_instances_state, store),
        "PutAttributes": partial(put_attributes, store),
        "DeleteAttributes": partial(delete_attributes, store),
        "ListAttributes": partial(list_attributes, store),
    }
