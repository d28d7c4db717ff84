"""Task sets: the tasks of a service whose deployments an outside tool drives (the EXTERNAL
deployment controller), in groups it creates, scales, promotes and deletes.

ECS -> Kubernetes: each task set becomes its own Deployment beside the others, named after the
service and the task set, selecting its tasks by their started-by label (the task set id, which
ECS gives its tasks as `startedBy`), with ceil(desiredCount x scale / 100) replicas. Each target
group (or classic load balancer) the task sets name becomes one Service selecting the tasks of
every task set registered with it, through a label per target group on their pods. Which target
group a listener forwards production traffic to is the load balancer's business, outside ECS, so
every target group's Service is there at once: a tool that moves traffic between the blue and
green target groups points its clients at one Service or the other.

Kubernetes -> ECS: a task set's counts are read from the pods of its tasks; the service's from
all of them; the service shows the task definition, launch type, network configuration and load
balancers of its PRIMARY task set (none before one is made primary), as ECS does.
"""

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from shim.errors import InvalidParameterException, TaskSetNotFoundException
from shim.translate import names
from shim.translate.placement import PodScheduling
from shim.translate.service_from_kube import live_pods, running_pods, service_settings_view
from shim.translate.service_to_kube import (
    ACTIVE,
    ANNOTATION_DEPLOYMENT_ID,
    ANNOTATION_LOAD_BALANCER_NAME,
    ANNOTATION_SERVICE_NAME,
    ANNOTATION_TARGET_GROUP_ARN,
    DEFAULT_LAUNCH_TYPE,
    DRAINING,
    PRIMARY,
    REPLICA,
    annotations_of,
    is_external,
    kube_service,
    new_deployment,
    service_port,
    service_selector,
    service_type,
    validate_load_balancers,
    workload_manifest,
)
from shim.translate.tags import check_tags

Json = dict[str, Any]

TASK_SET_FIELDS = (
    "taskDefinition",
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
)
"""What a task set fixes for its tasks: the service shows its PRIMARY task set's, and UpdateService
refuses them for an EXTERNAL service (a new task set carries them)."""
EXTERNAL_SERVICE_FIELDS = (
    "desiredCount",
    "healthCheckGracePeriodSeconds",
    "propagateTags",
    "enableECSManagedTags",
    "enableExecuteCommand",
)
"""What UpdateService changes of an EXTERNAL service's own (besides its placement)."""
DEFAULT_SCALE = {"value": 100.0, "unit": "PERCENT"}
STEADY_STATE = "STEADY_STATE"
STABILIZING = "STABILIZING"
TASK_SET_NOT_FOUND = "The specified task set does not exist."
NOT_EXTERNAL = "Task sets can only be used with a service whose deployment controller is EXTERNAL."


# Validation and the record


def check_external(record: Mapping[str, Any]) -> None:
    if not is_external(record):
        raise InvalidParameterException(NOT_EXTERNAL)


def checked_scale(scale: Mapping[str, Any] | None) -> Json:
    """`scale` as stored (100 percent when absent), or ECS's refusal of it."""
    if scale is None:
        return dict(DEFAULT_SCALE)
    value, unit = scale.get("value", 0.0), scale.get("unit", "PERCENT")
    if unit != "PERCENT" or not 0 <= value <= 100:
        raise InvalidParameterException("The scale value must be a percentage between 0 and 100.")
    return {"value": float(value), "unit": unit}


def task_set_entry(params: Mapping[str, Any], record: Mapping[str, Any], *, task_set_id: str, now: float) -> Json:
    """The task set CreateTaskSet adds to the service `record` (`params["taskDefinition"]` is the
    resolved ARN). The tags its tasks get and whether they allow ECS Exec are fixed now, from the
    service as it is, as ECS fixes them when it launches tasks."""
    if params.get("launchType") and params.get("capacityProviderStrategy"):
        raise InvalidParameterException(
            "Specifying both a launch type and capacity provider strategy is not supported."
        )
    check_tags(params.get("tags") or [])
    entry: Json = {
        "id": task_set_id,
        "status": ACTIVE,
        "createdAt": now,
        "updatedAt": now,
        "scale": checked_scale(params.get("scale")),
        "tags": copy.deepcopy(list(params.get("tags") or [])),
        "loadBalancers": copy.deepcopy(list(params.get("loadBalancers") or [])),
        "serviceRegistries": copy.deepcopy(list(params.get("serviceRegistries") or [])),
    }
    for key in (*TASK_SET_FIELDS, "externalId", "clientToken"):
        if params.get(key) and key not in entry:
            entry[key] = copy.deepcopy(params[key])
    if not params.get("capacityProviderStrategy"):
        entry["launchType"] = params.get("launchType") or DEFAULT_LAUNCH_TYPE
    launched = new_deployment(_as_service(record, entry), task_set_id, now)
    entry["taskTags"] = launched.get("tags", [])
    entry["enableExecuteCommand"] = bool(launched.get("enableExecuteCommand"))
    return entry


def check_task_set_load_balancers(params: Mapping[str, Any], task_definition: Mapping[str, Any]) -> None:
    validate_load_balancers(params.get("loadBalancers") or [], task_definition)
    for load_balancer in params.get("loadBalancers") or []:
        if not (load_balancer.get("targetGroupArn") or load_balancer.get("loadBalancerName")):
            raise InvalidParameterException("A load balancer must specify a targetGroupArn or a loadBalancerName.")


def find_task_set(record: Mapping[str, Any], reference: str) -> Json:
    """The task set `reference` (its id or ARN) names, or ECS's TaskSetNotFoundException."""
    found: Json | None = next((entry for entry in record["taskSets"] if names_task_set(record, entry, reference)), None)
    if found is None:
        raise TaskSetNotFoundException(TASK_SET_NOT_FOUND)
    return found


def names_task_set(record: Mapping[str, Any], task_set: Mapping[str, Any], reference: str) -> bool:
    """Whether `reference` is the task set's id or its ARN (in any region and account: the
    server is one of each)."""
    path = f":task-set/{record['clusterName']}/{record['serviceName']}/{task_set['id']}"
    return reference == task_set["id"] or (reference.startswith("arn:") and reference.endswith(path))


def with_task_set(record: Mapping[str, Any], task_set: Mapping[str, Any]) -> Json:
    """The record with `task_set` in place of the task set of its id (or added)."""
    others = without_task_sets(record, {task_set["id"]})
    return {**others, "taskSets": [*others["taskSets"], copy.deepcopy(dict(task_set))]}


def without_task_sets(record: Mapping[str, Any], task_set_ids: set[str]) -> Json:
    return {**record, "taskSets": [entry for entry in record["taskSets"] if entry["id"] not in task_set_ids]}


def with_primary(record: Mapping[str, Any], task_set_id: str, now: float) -> Json:
    """The record with `task_set_id` PRIMARY and the PRIMARY it replaces ACTIVE."""
    task_sets = []
    for task_set in record["taskSets"]:
        if task_set["id"] == task_set_id and task_set["status"] == DRAINING:
            raise InvalidParameterException("A task set that is being deleted cannot become the primary task set.")
        status = PRIMARY if task_set["id"] == task_set_id else ACTIVE if task_set["status"] == PRIMARY else None
        task_sets.append({**task_set, "status": status, "updatedAt": now} if status else task_set)
    return {**record, "taskSets": task_sets}


def external_service_updated(record: Mapping[str, Any], params: Mapping[str, Any]) -> Json:
    """An EXTERNAL service after UpdateService: its desired count and the settings of its own;
    what a task set fixes takes a new task set, as ECS requires."""
    refused = [key for key in TASK_SET_FIELDS if params.get(key)]
    if refused or params.get("forceNewDeployment"):
        what = ", ".join(refused) or "forceNewDeployment"
        raise InvalidParameterException(
            f"{what} cannot be updated for a service with the EXTERNAL deployment controller; create a task set."
        )
    updated = copy.deepcopy(dict(record))
    for key in (*EXTERNAL_SERVICE_FIELDS, "placementConstraints", "placementStrategy"):
        if params.get(key) is not None:
            updated[key] = params[key]
    for key, value in (params.get("deploymentConfiguration") or {}).items():
        updated["deploymentConfiguration"][key] = copy.deepcopy(value)
    return updated


def drained_task_sets(record: Mapping[str, Any], pods: Sequence[Json]) -> list[Json]:
    """The DRAINING task sets whose tasks' pods are all gone: they go from the record."""
    return [
        task_set
        for task_set in record.get("taskSets", [])
        if task_set["status"] == DRAINING and not task_set_pods(task_set, pods)
    ]


# Manifests


def computed_desired_count(record: Mapping[str, Any], task_set: Mapping[str, Any]) -> int:
    """The service's desired count times the task set's scale, rounded up (0 while it drains)."""
    if record["status"] != ACTIVE or task_set["status"] == DRAINING:
        return 0
    return math.ceil(round(record["desiredCount"] * task_set["scale"]["value"] / 100, 6))


def task_set_workload_name(service_name: str, task_set_id: str) -> str:
    return f"ts-{names.dns_label(f'{service_name}:{task_set_id}', 60)}"


def target_group_service_name(service_name: str, target: str) -> str:
    return f"tg-{names.dns_label(f'{service_name}:{target}', 60)}"


def target_group_service_names(record: Mapping[str, Any]) -> set[str]:
    """The names of the Services `target_group_services` makes for the record."""
    return {
        target_group_service_name(record["serviceName"], _target(load_balancer))
        for task_set in record["taskSets"]
        for load_balancer in task_set.get("loadBalancers", [])
    }


def target_group_label(target: str) -> str:
    """The pod label of the tasks registered with a target group (or classic load balancer)."""
    return f"{names.PREFIX}/tg-{names.short_hash(target, 16)}"


def _target(load_balancer: Mapping[str, Any]) -> str:
    target: str = load_balancer.get("targetGroupArn") or load_balancer["loadBalancerName"]
    return target


def task_set_manifest(
    record: Mapping[str, Any],
    task_set: Mapping[str, Any],
    task_definition: Mapping[str, Any],
    *,
    namespace: str,
    scheduling: PodScheduling | None,
) -> Json:
    """The Deployment running the task set's tasks."""
    as_service = _as_service(record, task_set)
    deployment = new_deployment(as_service, task_set["id"], task_set["createdAt"])
    deployment.pop("tags", None)
    deployment.pop("enableExecuteCommand", None)
    if task_set.get("taskTags"):
        deployment["tags"] = copy.deepcopy(task_set["taskTags"])
    if task_set.get("enableExecuteCommand"):
        deployment["enableExecuteCommand"] = True
    as_service["deployments"] = [deployment]
    manifest = workload_manifest(as_service, task_definition, namespace=namespace, scheduling=scheduling)
    manifest["metadata"]["name"] = task_set_workload_name(record["serviceName"], task_set["id"])
    manifest["spec"]["selector"]["matchLabels"] = task_set_selector(record, task_set)
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    labels.update({target_group_label(_target(lb)): "true" for lb in task_set.get("loadBalancers", [])})
    return manifest


def _as_service(record: Mapping[str, Any], task_set: Mapping[str, Any]) -> Json:
    """The service record as one service running only the task set's tasks would be: what
    `workload_manifest` makes the task set's Deployment from (no circuit breaker: ECS has none
    for task sets)."""
    configuration = {
        **record["deploymentConfiguration"],
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    }
    return {
        **record,
        **{key: copy.deepcopy(task_set[key]) for key in TASK_SET_FIELDS if key in task_set},
        "launchType": task_set.get("launchType") or DEFAULT_LAUNCH_TYPE,
        "schedulingStrategy": REPLICA,
        "desiredCount": computed_desired_count(record, task_set),
        "status": ACTIVE,
        "deploymentConfiguration": configuration,
    }


def task_set_selector(record: Mapping[str, Any], task_set: Mapping[str, Any]) -> dict[str, str]:
    return {**service_selector(record["serviceName"]), names.LABEL_STARTED_BY: names.label_value(task_set["id"])}


def target_group_services(
    record: Mapping[str, Any], task_definitions: Mapping[str, Mapping[str, Any]], *, namespace: str
) -> list[Json]:
    """One Service per target group the task sets name (`task_definitions` by ARN), its port
    from the newest task set registered with it."""
    services: dict[str, Json] = {}
    for task_set in sorted(record["taskSets"], key=lambda entry: -entry["createdAt"]):
        for load_balancer in task_set.get("loadBalancers", []):
            target = _target(load_balancer)
            name = target_group_service_name(record["serviceName"], target)
            if name in services:
                continue
            annotation = (
                ANNOTATION_TARGET_GROUP_ARN if load_balancer.get("targetGroupArn") else ANNOTATION_LOAD_BALANCER_NAME
            )
            port = service_port(
                task_definitions[task_set["taskDefinition"]],
                load_balancer["containerName"],
                load_balancer["containerPort"],
            )
            spec: Json = {
                "type": service_type(record),
                "selector": {**service_selector(record["serviceName"]), target_group_label(target): "true"},
                "ports": [port],
            }
            annotations = {ANNOTATION_SERVICE_NAME: record["serviceName"], annotation: target}
            services[name] = kube_service(name, record, namespace, annotations, spec)
    return list(services.values())


# Views


def task_set_pods(task_set: Mapping[str, Any], pods: Sequence[Json]) -> list[Json]:
    return [pod for pod in pods if annotations_of(pod["metadata"]).get(ANNOTATION_DEPLOYMENT_ID) == task_set["id"]]


def task_set_arn(region: str, account: str, record: Mapping[str, Any], task_set_id: str) -> str:
    return names.arn(region, account, f"task-set/{record['clusterName']}/{record['serviceName']}/{task_set_id}")


def task_set_view(
    record: Mapping[str, Any],
    task_set: Mapping[str, Any],
    pods: Sequence[Json],
    *,
    region: str,
    account: str,
    now: float,
    include_tags: bool = False,
) -> Json:
    """The ECS `TaskSet` shape of one task set, its counts from its tasks' pods (`pods` may be
    all the service's)."""
    own = task_set_pods(task_set, pods)
    running, live = len(running_pods(own)), len(live_pods(own))
    desired = computed_desired_count(record, task_set)
    view: Json = {
        "id": task_set["id"],
        "taskSetArn": task_set_arn(region, account, record, task_set["id"]),
        "serviceArn": names.service_arn(region, account, record["clusterName"], record["serviceName"]),
        "clusterArn": names.cluster_arn(region, account, record["clusterName"]),
        "status": task_set["status"],
        "computedDesiredCount": desired,
        "pendingCount": live - running,
        "runningCount": running,
        "createdAt": task_set["createdAt"],
        "updatedAt": task_set["updatedAt"],
        "scale": copy.deepcopy(task_set["scale"]),
        "stabilityStatus": STEADY_STATE if running == live == desired else STABILIZING,
        "stabilityStatusAt": now,
    }
    for key in ("externalId", *TASK_SET_FIELDS):
        if key in task_set:
            view[key] = copy.deepcopy(task_set[key])
    if include_tags:
        view["tags"] = copy.deepcopy(task_set.get("tags", []))
    return view


def shown_task_sets(record: Mapping[str, Any], pods: Sequence[Json]) -> list[Json]:
    """The task sets DescribeServices and DescribeTaskSets show: all but drained ones, newest first."""
    drained = {task_set["id"] for task_set in drained_task_sets(record, pods)}
    kept = [task_set for task_set in record.get("taskSets", []) if task_set["id"] not in drained]
    return sorted(kept, key=lambda task_set: -task_set["createdAt"])


def external_service_view(
    record: Mapping[str, Any], pods: Sequence[Json], *, region: str, account: str, now: float, include_tags: bool
) -> Json:
    """The ECS `Service` shape of an EXTERNAL service: its task sets, their counts summed, and
    the settings of its PRIMARY task set; no deployments (ECS shows none for it)."""
    view = service_settings_view(record, pods, region=region, account=account, include_tags=include_tags)
    task_sets = [
        task_set_view(record, task_set, pods, region=region, account=account, now=now)
        for task_set in shown_task_sets(record, pods)
    ]
    for key in TASK_SET_FIELDS:
        view.pop(key, None)
    primary = next((task_set for task_set in task_sets if task_set["status"] == PRIMARY), None)
    if primary is not None:
        view.update({key: copy.deepcopy(primary[key]) for key in TASK_SET_FIELDS if key in primary})
    view.update(
        desiredCount=record["desiredCount"] if record["status"] == ACTIVE else 0,
        runningCount=sum(task_set["runningCount"] for task_set in task_sets),
        pendingCount=sum(task_set["pendingCount"] for task_set in task_sets),
        taskSets=task_sets,
    )
    return view
