"""Clusters: CreateCluster, DescribeClusters, ListClusters, UpdateCluster,
UpdateClusterSettings, DeleteCluster."""

from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import (
    ClusterContainsContainerInstancesException,
    ClusterContainsServicesException,
    ClusterContainsTasksException,
    ClusterNotFoundException,
    InvalidParameterException,
)
from shim.kube.cache import KubeObject
from shim.kube.store import Store
from shim.operations.access import visible_clusters
from shim.operations.pagination import page
from shim.translate import names
from shim.translate.clusters import (
    DEFAULT_CLUSTER,
    DEFAULT_SETTINGS,
    ClusterCounts,
    check_service_connect_defaults,
    check_settings,
    cluster_view,
    merged_settings,
    task_counts,
    updated_details,
)
from shim.translate.service_to_kube import ACTIVE
from shim.translate.tags import check_tags

CLUSTER_NOT_FOUND = "Cluster not found."
BLANK_CLUSTER = "Cluster can not be blank."
MAX_DESCRIBE = 100
CREATE_DETAILS = ("configuration", "capacityProviders", "defaultCapacityProviderStrategy", "serviceConnectDefaults")
UPDATE_DETAILS = ("configuration", "serviceConnectDefaults")


def cluster_name_of(call: Call, value: str | None) -> str:
    """The cluster a request names: `default` when it names none; an empty name, or an ARN of
    another region or account, is refused."""
    if value == "":
        raise InvalidParameterException(BLANK_CLUSTER)
    return names.cluster_name_from(value or DEFAULT_CLUSTER, call.region, call.account)


def active_cluster(store: Store, call: Call) -> dict[str, Any]:
    """The spec of the ACTIVE cluster a request names in its `cluster` member (`default` when it
    names none)."""
    name = cluster_name_of(call, call.params.get("cluster"))
    record = store.get_cluster(name)
    if record is None and name == DEFAULT_CLUSTER:
        record = store.save_cluster(new_cluster_spec(DEFAULT_CLUSTER, {}), None)
    if record is None or record.record["status"] != "ACTIVE":
        raise ClusterNotFoundException(CLUSTER_NOT_FOUND)
    return record.record


def new_cluster_spec(name: str, params: dict[str, Any]) -> dict[str, Any]:
    details = updated_details({}, params, CREATE_DETAILS)
    return {
        "clusterName": name,
        "status": "ACTIVE",
        "tags": params.get("tags", []),
        "settings": merged_settings(list(DEFAULT_SETTINGS), params.get("settings", [])),
        "details": details,
    }


def counts_for(store: Store, cluster_name: str) -> ClusterCounts:
    namespace = names.cluster_namespace(cluster_name)
    phases = [pod.get("status", {}).get("phase", "Pending") for pod in store.pods_in(namespace)]
    running, pending = task_counts(phases)
    return ClusterCounts(
        registered_container_instances=len(store.nodes_serving(cluster_name)),
        running_tasks=running,
        pending_tasks=pending,
        active_services=sum(1 for found in store.service_records_in(namespace) if found.record["status"] == ACTIVE),
    )


def view_of(store: Store, call: Call, spec: dict[str, Any], include: list[str]) -> dict[str, Any]:
    return cluster_view(spec, call.region, call.account, counts_for(store, spec["clusterName"]), include)


def create_cluster(store: Store, call: Call) -> Response:
    name = call.params.get("clusterName", DEFAULT_CLUSTER)
    if not names.CLUSTER_NAME.fullmatch(name):
        raise InvalidParameterException(
            "Cluster name must be 1-255 characters: letters (upper and lower case), numbers, hyphens and underscores."
        )
    check_tags(call.params.get("tags", []))
    check_settings(call.params.get("settings", []))
    check_service_connect_defaults(call.params.get("serviceConnectDefaults"))
    existing = store.get_cluster(name)
    if existing is not None and existing.record["status"] == "ACTIVE":
        spec = existing.record
    else:
        spec = store.save_cluster(new_cluster_spec(name, call.params), existing).record
    return {"cluster": view_of(store, call, spec, ["SETTINGS", "TAGS", "CONFIGURATIONS"])}


def describe_clusters(store: Store, call: Call) -> Response:
    requested = call.params.get("clusters") or [DEFAULT_CLUSTER]
    if len(requested) > MAX_DESCRIBE:
        raise InvalidParameterException(f"Too many clusters requested: at most {MAX_DESCRIBE}.")
    include = call.params.get("include", [])
    clusters, failures = [], []
    for value in requested:
        record = store.get_cluster(cluster_name_of(call, value))
        if record is None:
            failures.append({"arn": as_cluster_arn(call, value), "reason": "MISSING"})
        else:
            clusters.append(view_of(store, call, record.record, include))
    return {"clusters": clusters, "failures": failures}


def as_cluster_arn(call: Call, value: str) -> str:
    return value if value.startswith("arn:") else names.cluster_arn(call.region, call.account, value)


def list_clusters(store: Store, call: Call) -> Response:
    active = [found.record["clusterName"] for found in store.list_clusters() if found.record["status"] == "ACTIVE"]
    arns = sorted(names.cluster_arn(call.region, call.account, name) for name in visible_clusters(store, call, active))
    chunk, token = page(arns, str, call.params.get("maxResults"), call.params.get("nextToken"))
    return {"clusterArns": chunk, **({"nextToken": token} if token else {})}


def update_cluster(store: Store, call: Call) -> Response:
    spec = active_cluster(store, call)
    check_settings(call.params.get("settings", []))
    check_service_connect_defaults(call.params.get("serviceConnectDefaults"))

    def change(current: dict[str, Any]) -> None:
        current["settings"] = merged_settings(current.get("settings", []), call.params.get("settings", []))
        current["details"] = updated_details(current.get("details", {}), call.params, UPDATE_DETAILS)

    saved = store.update_cluster(spec["clusterName"], change)
    return {"cluster": view_of(store, call, saved.record, ["SETTINGS", "TAGS", "CONFIGURATIONS"])}


def delete_cluster(store: Store, call: Call) -> Response:
    spec = active_cluster(store, call)
    name = spec["clusterName"]
    namespace = names.cluster_namespace(name)
    check_cluster_is_empty(store, name, namespace)

    def deactivate(current: dict[str, Any]) -> None:
        current["status"] = "INACTIVE"

    saved = store.update_cluster(name, deactivate)
    store.delete_namespace(namespace)
    return {"cluster": view_of(store, call, saved.record, ["SETTINGS", "TAGS", "CONFIGURATIONS"])}


def check_cluster_is_empty(store: Store, name: str, namespace: str) -> None:
    counts = counts_for(store, name)
    if counts.active_services:
        raise ClusterContainsServicesException("The Cluster cannot be deleted while Services are active.")
    if counts.running_tasks or counts.pending_tasks or any(not is_finished(pod) for pod in store.pods_in(namespace)):
        raise ClusterContainsTasksException("The Cluster cannot be deleted while Tasks are active.")
    if store.nodes_pinned_to(name):
        raise ClusterContainsContainerInstancesException(
            "The Cluster cannot be deleted while Container Instances are active or draining."
        )


def is_finished(pod: KubeObject) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "CreateCluster": partial(create_cluster, store),
        "DescribeClusters": partial(describe_clusters, store),
        "ListClusters": partial(list_clusters, store),
        "UpdateCluster": partial(update_cluster, store),
        "UpdateClusterSettings": partial(update_cluster, store),
        "DeleteCluster": partial(delete_cluster, store),
    }
