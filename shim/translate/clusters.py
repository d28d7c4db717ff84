"""ECS clusters seen from Kubernetes: which nodes and pods belong to a cluster, and the
`Cluster` shape DescribeClusters returns."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shim.errors import InvalidParameterException
from shim.translate import names

DEFAULT_CLUSTER = "default"
CONTAINER_INSIGHTS = "containerInsights"
CONTAINER_INSIGHTS_VALUES = ("enhanced", "enabled", "disabled")
DEFAULT_SETTINGS = ({"name": CONTAINER_INSIGHTS, "value": "disabled"},)
SERVICE_CONNECT_DEFAULTS = "serviceConnectDefaults"
NAMESPACE_NAME_MAX_LENGTH = 1024
NAMESPACE_NAME_FORBIDDEN = '><"/'


@dataclass(frozen=True)
class ClusterCounts:
    registered_container_instances: int = 0
    running_tasks: int = 0
    pending_tasks: int = 0
    active_services: int = 0


EVERY_CLUSTER = "*"
"""The pin of a node that serves every cluster ("*" is no label value)."""


def node_pin(node: Mapping[str, Any]) -> str:
    """The cluster label value a node is pinned to by the label ecs.shim.io/cluster, or
    EVERY_CLUSTER: every node serves every cluster unless the label pins it to one."""
    return str((node["metadata"].get("labels") or {}).get(names.LABEL_CLUSTER, EVERY_CLUSTER))


def is_dedicated(node: Mapping[str, Any]) -> bool:
    """Whether a node is pinned to a cluster and tainted with its pin, so that it is that cluster's
    alone: the cluster then runs its tasks on such nodes only (placement.cluster_scheduling)."""
    pin = node_pin(node)
    taints = (node.get("spec") or {}).get("taints") or []
    return pin != EVERY_CLUSTER and any(
        taint.get("key") == names.LABEL_CLUSTER and taint.get("value") == pin for taint in taints
    )


def cluster_pin(cluster_name: str) -> str:
    """The pin of the nodes that serve only this cluster."""
    return names.label_value(cluster_name)


def task_counts(pod_phases: Iterable[str]) -> tuple[int, int]:
    """(running, pending) tasks among pods in these phases."""
    phases = list(pod_phases)
    return phases.count("Running"), phases.count("Pending")


def check_settings(settings: Iterable[Mapping[str, str]]) -> None:
    for setting in settings:
        if setting.get("name") != CONTAINER_INSIGHTS or setting.get("value") not in CONTAINER_INSIGHTS_VALUES:
            values = ", ".join(CONTAINER_INSIGHTS_VALUES)
            raise InvalidParameterException(f"Cluster setting {CONTAINER_INSIGHTS} takes one of the values {values}.")


def merged_settings(current: list[dict[str, str]], changes: list[dict[str, str]]) -> list[dict[str, str]]:
    by_name = {setting["name"]: setting["value"] for setting in current}
    by_name.update({setting["name"]: setting["value"] for setting in changes})
    return [{"name": name, "value": value} for name, value in by_name.items()]


def check_service_connect_defaults(defaults: Mapping[str, str] | None) -> None:
    """A cluster's default Service Connect namespace is a full ARN, taken as given, or a Cloud
    Map namespace name as ECS limits it (the empty name removes the defaults)."""
    namespace = (defaults or {}).get("namespace", "")
    if namespace.startswith("arn:"):
        return
    if len(namespace) > NAMESPACE_NAME_MAX_LENGTH or any(char in namespace for char in NAMESPACE_NAME_FORBIDDEN):
        forbidden = ", ".join(NAMESPACE_NAME_FORBIDDEN)
        raise InvalidParameterException(
            f"The Service Connect namespace name must be at most {NAMESPACE_NAME_MAX_LENGTH} characters"
            f" and can't include any of {forbidden}."
        )


def updated_details(details: Mapping[str, Any], params: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The cluster's `details` with the members `keys` of a request set; an empty Service Connect
    namespace removes the defaults, as UpdateCluster does on ECS."""
    updated = {**details, **{key: params[key] for key in keys if key in params}}
    if SERVICE_CONNECT_DEFAULTS in updated and not updated[SERVICE_CONNECT_DEFAULTS].get("namespace"):
        del updated[SERVICE_CONNECT_DEFAULTS]
    return updated


def namespace_arn(namespace: str, region: str, account: str) -> str:
    """The ARN of the Cloud Map namespace a cluster's Service Connect defaults name. ECS creates a
    namespace for a name it does not know; its id here is `ns-` and the first 16 hex digits of
    SHA-256 of the name, so a name gives the same ARN on every call and every server."""
    if namespace.startswith("arn:"):
        return namespace
    return f"arn:aws:servicediscovery:{region}:{account}:namespace/ns-{names.short_hash(namespace, 16)}"


def cluster_view(
    spec: Mapping[str, Any], region: str, account: str, counts: ClusterCounts, include: Iterable[str] = ()
) -> dict[str, Any]:
    """The ECS `Cluster` shape; `include` adds SETTINGS, TAGS, STATISTICS and CONFIGURATIONS. An
    INACTIVE cluster counts nothing: it has no container instances, tasks or services left."""
    include = set(include)
    details = spec.get("details", {})
    if spec["status"] != "ACTIVE":
        counts = ClusterCounts()
    view: dict[str, Any] = {
        "clusterArn": names.cluster_arn(region, account, spec["clusterName"]),
        "clusterName": spec["clusterName"],
        "status": spec["status"],
        "registeredContainerInstancesCount": counts.registered_container_instances,
        "runningTasksCount": counts.running_tasks,
        "pendingTasksCount": counts.pending_tasks,
        "activeServicesCount": counts.active_services,
        "statistics": [],
        "tags": [],
        "settings": [],
        "capacityProviders": list(details.get("capacityProviders", [])),
        "defaultCapacityProviderStrategy": list(details.get("defaultCapacityProviderStrategy", [])),
    }
    if SERVICE_CONNECT_DEFAULTS in details:
        namespace = details[SERVICE_CONNECT_DEFAULTS]["namespace"]
        view[SERVICE_CONNECT_DEFAULTS] = {"namespace": namespace_arn(namespace, region, account)}
    if "SETTINGS" in include:
        view["settings"] = list(spec.get("settings", []))
    if "TAGS" in include:
        view["tags"] = list(spec.get("tags", []))
    if "CONFIGURATIONS" in include and details.get("configuration"):
        view["configuration"] = details["configuration"]
    if "STATISTICS" in include:
        view["statistics"] = [
            {"name": "runningEC2TasksCount", "value": str(counts.running_tasks)},
            {"name": "pendingEC2TasksCount", "value": str(counts.pending_tasks)},
            {"name": "activeEC2ServiceCount", "value": str(counts.active_services)},
            {"name": "runningFargateTasksCount", "value": "0"},
            {"name": "pendingFargateTasksCount", "value": "0"},
            {"name": "activeFargateServiceCount", "value": "0"},
            {"name": "drainingEC2ServiceCount", "value": "0"},
            {"name": "drainingFargateServiceCount", "value": "0"},
        ]
    return view
