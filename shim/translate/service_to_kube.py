"""ECS -> Kubernetes for services: the checks CreateService and UpdateService make, the stored
service record and its updates, and the manifests the record becomes (workload, pod template,
Services). `service_from_kube` reads the service's state back from those objects.

Pure: dicts in, dicts out (Kubernetes objects in their camelCase JSON shape).

The record (`service_record`, kept in the `spec.record` of a `services.ecs.shim.io` object) holds
what CreateService and UpdateService asked for, with ECS's defaults filled in, and the history of
the service's ECS deployments. Each deployment keeps a snapshot of the settings that shape its
tasks (`TEMPLATE_FIELDS`), so a rollback restores exactly the pods it had. Counts, rollout
progress and health are never stored: `service_from_kube.service_view` derives them from the
workload, its ReplicaSets and its pods; the reconciler keeps what it observed
(`service_record_observed`) and the circuit breaker's rollbacks (`service_record_rolled_back`).

Manifests:
- REPLICA -> apps/v1 Deployment `svc-<dns_label(name)>`, replicas = desiredCount (0 once the
  service is DRAINING). DAEMON -> apps/v1 DaemonSet of the same name; a DRAINING daemon gets a
  node affinity no node satisfies, so Kubernetes removes its pods as ECS stops daemon tasks.
- Pod template: the task definition's pod spec (`task_to_pod.task_definition_to_pod_spec`), the
  placement scheduling merged in,
  restartPolicy Always; labels = the task labels (group `service:<name>`, startedBy = the PRIMARY
  deployment id) plus `ecs.shim.io/service`; annotations carry the exact ECS values, including the
  deployment id. A new deployment id therefore always changes the template, and Kubernetes starts
  a new ReplicaSet: one ReplicaSet per ECS deployment, which is how forceNewDeployment and
  rollbacks (back to the very same template, hence the old ReplicaSet) work.
- Rolling update, in absolute numbers so it is exact: maxSurge = floor(desired * maximumPercent /
  100) - desired (at least 0), maxUnavailable = desired - ceil(desired * minimumHealthyPercent /
  100). Kubernetes refuses both being 0; ECS would then be stuck, so maxUnavailable becomes 1. A
  DaemonSet's desired count is the number of eligible nodes, unknown here: maxSurge 0 (DAEMON
  allows no more than 100%) and maxUnavailable `(100 - minimumHealthyPercent)%`, which Kubernetes
  rounds up where ECS rounds the healthy count up (at most one task apart).
- No liveness probes: ECS's service scheduler, not the agent, stops an UNHEALTHY task and starts
  another, so the reconciler does (`service_from_kube.unhealthy_tasks`), after
  healthCheckGracePeriodSeconds; a kubelet would restart the container in the same pod instead.
- Circuit breaker on -> progressDeadlineSeconds = CIRCUIT_BREAKER_PROGRESS_DEADLINE_SECONDS + the
  grace period, and the annotation `ecs.shim.io/circuit-breaker` (`enable` or `rollback`). Off ->
  Kubernetes' default deadline, and an exceeded deadline is not shown as FAILED (ECS keeps trying).
- loadBalancers -> one v1 Service per (containerName, containerPort), named `lb-` +
  dns_label(`<service>:<container>:<port>`), selecting the service's pods; ClusterIP unless the
  service has the tag `ecs-shim/service-type` = `LoadBalancer` or `NodePort`.
  serviceRegistries -> one headless Service (clusterIP None) named `registry_service_name(name)`:
  the service name itself when it is a lowercase DNS label, else `svc-` + dns_label(name). Its DNS
  name `<that>.<namespace>.svc.cluster.local` resolves to the addresses of the ready tasks: it is
  the service's discovery name.
"""

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from random import Random, SystemRandom
from typing import Any

from shim.errors import (
    InvalidParameterException,
    ServiceNotActiveException,
    UnsupportedFeatureException,
)
from shim.translate import names
from shim.translate.placement import (
    CandidateNode,
    PlacementFailure,
    PodScheduling,
    effective_placement,
    on_no_node,
    pod_scheduling,
    validate_constraints,
    validate_strategies,
)
from shim.translate.tags import check_tags
from shim.translate.task_to_pod import task_definition_annotations, task_definition_to_pod_spec, task_labels
from shim.translate.zone_rebalancing import DISABLED, rebalancing_setting

Json = dict[str, Any]

REPLICA = "REPLICA"
ECS_CONTROLLER = "ECS"
EXTERNAL_CONTROLLER = "EXTERNAL"
DAEMON = "DAEMON"
ACTIVE = "ACTIVE"
DRAINING = "DRAINING"
INACTIVE = "INACTIVE"
PRIMARY = "PRIMARY"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
ROLLING = "ROLLING"
BLUE_GREEN = "BLUE_GREEN"
LINEAR = "LINEAR"
CANARY = "CANARY"
TRAFFIC_SHIFTING = (BLUE_GREEN, LINEAR, CANARY)
"""The strategies that start a new revision in full beside the old one and shift traffic to it
(ECS's blue/green deployments: in one step, or in LINEAR or CANARY steps)."""
STEP_DEFAULTS = {
    LINEAR: ("linearConfiguration", "stepPercent", 10.0, 3.0, "stepBakeTimeInMinutes", 6),
    CANARY: ("canaryConfiguration", "canaryPercent", 5.0, 0.1, "canaryBakeTimeInMinutes", 10),
}
"""Per stepped strategy: its configuration, percent (default, least) and bake time (default)."""

PRE_SCALE_UP = "PRE_SCALE_UP"
SCALE_UP = "SCALE_UP"
PRODUCTION_TRAFFIC_SHIFT = "PRODUCTION_TRAFFIC_SHIFT"
BAKE_TIME = "BAKE_TIME"
CLEAN_UP = "CLEAN_UP"
BLUE_GREEN_STAGES = (
    PRE_SCALE_UP,
    SCALE_UP,
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    PRODUCTION_TRAFFIC_SHIFT,
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    BAKE_TIME,
    CLEAN_UP,
)
"""The lifecycle stages a BLUE_GREEN, LINEAR or CANARY deployment passes, in order (translate/blue_green.py moves
it on). Before SCALE_UP the Deployment is paused (the new template is not rolled out); from
SCALE_UP until CLEAN_UP it is held (BLUE_GREEN_HOLD_SECONDS)."""
HOOK_STAGES = (
    "RECONCILE_SERVICE",
    PRE_SCALE_UP,
    *BLUE_GREEN_STAGES[BLUE_GREEN_STAGES.index(SCALE_UP) + 1 : BLUE_GREEN_STAGES.index(BAKE_TIME)],
)
"""Stages a lifecycle hook may name (DeploymentLifecycleHookStage)."""
MAX_HOOK_TIMEOUT_MINUTES = 20160
MAX_BAKE_TIME_MINUTES = 1440
BLUE_GREEN_HOLD_SECONDS = 10 * 365 * 24 * 3600
"""minReadySeconds of a Deployment whose traffic-shifting deployment is under way: no pod
counts as available for that long, so the Deployment controller scales the new ReplicaSet up in
full (maxSurge 100%) and scales no old one down until the bake is over and the hold is lifted.
Ten years: longer than any deployment (30 LINEAR steps of a day, hooks of two weeks), and with the
progress deadline added still within the API server's 32-bit limit."""

DEFAULT_PERCENTS = {REPLICA: (200, 100), DAEMON: (100, 0)}
"""(maximumPercent, minimumHealthyPercent) ECS fills in for each scheduling strategy."""
DEFAULT_LAUNCH_TYPE = "EC2"
MAX_LOAD_BALANCERS = 5
MAX_SERVICE_REGISTRIES = 1
MAX_PORT = 65535
MAX_DEPLOYMENT_HISTORY = 10
REVISION_HISTORY_LIMIT = 10
CIRCUIT_BREAKER_PROGRESS_DEADLINE_SECONDS = 30
"""Seconds without progress after which a rollout with the circuit breaker on fails (plus the
health check grace period): long enough for a simulated or warm node to start a task, short
enough that a broken revision is rolled back within a minute."""
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
SERVICE_TYPE_TAG = "ecs-shim/service-type"
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")

ANNOTATION_SERVICE_NAME = f"{names.PREFIX}/service-name"
LABEL_SERVING = f"{names.PREFIX}/serving"
"""On the tasks that take production traffic while a LINEAR or CANARY step splits it."""
ANNOTATION_DEPLOYMENT_ID = f"{names.PREFIX}/deployment-id"
ANNOTATION_CIRCUIT_BREAKER = f"{names.PREFIX}/circuit-breaker"
ANNOTATION_TARGET_GROUP_ARN = f"{names.PREFIX}/target-group-arn"
ANNOTATION_LOAD_BALANCER_NAME = f"{names.PREFIX}/load-balancer-name"
ANNOTATION_REGISTRY_ARN = f"{names.PREFIX}/registry-arn"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
"""The Deployment controller's mark on a ReplicaSet: the Deployment's replicas when it last scaled it."""

TEMPLATE_FIELDS = (
    "taskDefinition",
    "placementConstraints",
    "placementStrategy",
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
    "healthCheckGracePeriodSeconds",
)
"""Settings that shape a deployment's tasks: changing one starts a new deployment."""

_UPDATABLE_FIELDS = (
    *TEMPLATE_FIELDS,
    "desiredCount",
    "enableECSManagedTags",
    "propagateTags",
    "enableExecuteCommand",
)
_SERVICE_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_APP_PROTOCOLS = {"http": "http", "http2": "kubernetes.io/h2c", "grpc": "kubernetes.io/h2c"}
TASK_DEFINITION_REQUIRED = "A task definition must be specified when the deployment controller is ECS."
_SERVICE_LINKED_ROLE = "You cannot specify an IAM role for services that require a service linked role."
_DAEMON_DESIRED_COUNT = (
    "The daemon scheduling strategy does not support a desired count for services. "
    "Remove the desired count value and try again"
)
_DAEMON_PLACEMENT_STRATEGY = (
    "The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again"
)
_DAEMON_MAXIMUM_PERCENT = (
    "The daemon scheduling strategy does not support values above 100 for maximumPercent on a "
    "deployment configuration. Change the maximumPercent value to 100, and try again"
)


# Validation


def validate_service_params(params: Mapping[str, Any], *, task_definition: Mapping[str, Any] | None = None) -> None:
    """ECS's checks of CreateService parameters (or of a service as UpdateService would leave it).

    With `task_definition`, load balancers must name one of its containers and a port it maps,
    and placement constraints count the task definition's too.
    """
    if not _SERVICE_NAME.fullmatch(str(params.get("serviceName", ""))):
        raise InvalidParameterException(
            "Service name must be 1-255 characters: letters (upper and lower case), numbers, hyphens and underscores."
        )
    controller = (params.get("deploymentController") or {}).get("type", ECS_CONTROLLER)
    if controller not in (ECS_CONTROLLER, EXTERNAL_CONTROLLER):
        raise UnsupportedFeatureException(
            f"The {controller} deployment controller is not supported; use ECS or EXTERNAL."
        )
    if not params.get("taskDefinition") and controller == ECS_CONTROLLER:
        raise InvalidParameterException(TASK_DEFINITION_REQUIRED)
    strategy = params.get("schedulingStrategy") or REPLICA
    if controller == EXTERNAL_CONTROLLER:
        _validate_external(params, strategy)
    _validate_scheduling(params, strategy)
    _validate_deployment_configuration(
        deployment_configuration(params.get("deploymentConfiguration"), strategy), strategy
    )
    constraints = list(params.get("placementConstraints") or [])
    if task_definition is not None:
        constraints += list(task_definition.get("placementConstraints") or [])
    validate_constraints(constraints)
    validate_strategies(list(params.get("placementStrategy") or []))
    _validate_role(params, task_definition)
    validate_load_balancers(params.get("loadBalancers") or [], task_definition)
    if len(params.get("serviceRegistries") or []) > MAX_SERVICE_REGISTRIES:
        raise InvalidParameterException("A service can have at most one service registry.")
    _validate_registry_ports(params.get("serviceRegistries") or [])
    grace = params.get("healthCheckGracePeriodSeconds")
    if grace is not None and grace < 0:
        raise InvalidParameterException("healthCheckGracePeriodSeconds must be greater than or equal to 0.")
    check_tags(params.get("tags") or [])


def _validate_external(params: Mapping[str, Any], strategy: str) -> None:
    if strategy == DAEMON:
        raise InvalidParameterException(
            "The EXTERNAL deployment controller does not support the DAEMON scheduling strategy."
        )
    if (params.get("deploymentConfiguration") or {}).get("strategy") in TRAFFIC_SHIFTING:
        raise InvalidParameterException("A service with the EXTERNAL deployment controller has no deployment strategy.")


def _validate_registry_ports(registries: Sequence[Mapping[str, Any]]) -> None:
    """Ports a headless Service can carry (Kubernetes refuses any other)."""
    for registry in registries:
        for key in ("port", "containerPort"):
            port = registry.get(key)
            if port is not None and not 1 <= port <= MAX_PORT:
                raise InvalidParameterException(
                    f"Invalid service registry {key} {port}. The port must be between 1 and {MAX_PORT}."
                )


def _validate_scheduling(params: Mapping[str, Any], strategy: str) -> None:
    if strategy == DAEMON:
        if params.get("desiredCount") is not None:
            raise InvalidParameterException(_DAEMON_DESIRED_COUNT)
        if params.get("placementStrategy"):
            raise InvalidParameterException(_DAEMON_PLACEMENT_STRATEGY)
        if params.get("launchType") == "FARGATE":
            raise InvalidParameterException(
                "The daemon scheduling strategy is not supported with the FARGATE launch type."
            )
        return
    desired = params.get("desiredCount")
    if desired is None:
        raise InvalidParameterException(
            "desiredCount must be specified for a service using the REPLICA scheduling strategy."
        )
    if desired < 0:
        raise InvalidParameterException("desiredCount must be greater than or equal to 0.")


def _validate_deployment_configuration(configuration: Mapping[str, Any], strategy: str) -> None:
    maximum, minimum = configuration["maximumPercent"], configuration["minimumHealthyPercent"]
    if strategy == DAEMON and maximum > 100:
        raise InvalidParameterException(_DAEMON_MAXIMUM_PERCENT)
    if not 0 <= minimum <= 100:
        raise InvalidParameterException("minimumHealthyPercent must be between 0 and 100.")
    if maximum < minimum:
        raise InvalidParameterException("maximumPercent must be greater than or equal to minimumHealthyPercent.")
    if maximum == minimum == 100:
        raise InvalidParameterException(
            "Both maximumPercent and minimumHealthyPercent cannot be 100 as this will block deployments"
        )
    deployment_strategy = configuration.get("strategy", ROLLING)
    if deployment_strategy in TRAFFIC_SHIFTING:
        _validate_traffic_shifting(configuration, deployment_strategy, strategy)
    elif configuration.get("lifecycleHooks"):
        raise InvalidParameterException(
            "Lifecycle hooks can only be used with the BLUE_GREEN, LINEAR and CANARY deployment strategies."
        )


def _validate_traffic_shifting(configuration: Mapping[str, Any], deployment_strategy: str, strategy: str) -> None:
    if strategy == DAEMON:
        raise InvalidParameterException(
            f"The {deployment_strategy} deployment strategy is not supported for services with the DAEMON "
            "scheduling strategy."
        )
    bake = configuration.get("bakeTimeInMinutes")
    if bake is None and deployment_strategy == BLUE_GREEN:
        raise InvalidParameterException("bakeTimeInMinutes must be specified for the BLUE_GREEN deployment strategy.")
    _check_minutes("bakeTimeInMinutes", bake or 0)
    if deployment_strategy in STEP_DEFAULTS:
        section, percent_key, _, least, bake_key, _ = STEP_DEFAULTS[deployment_strategy]
        steps = configuration.get(section) or {}
        percent = steps.get(percent_key)
        if percent is not None and not (least <= percent <= 100 and round(percent * 10, 6) % 1 == 0):
            raise InvalidParameterException(f"{section}.{percent_key} must be a multiple of 0.1 from {least} to 100.0.")
        _check_minutes(f"{section}.{bake_key}", steps.get(bake_key) or 0)
    for hook in configuration.get("lifecycleHooks") or []:
        _validate_hook(hook)


def _check_minutes(name: str, minutes: int) -> None:
    if not 0 <= minutes <= MAX_BAKE_TIME_MINUTES:
        raise InvalidParameterException(f"{name} must be between 0 and {MAX_BAKE_TIME_MINUTES}.")


def traffic_steps(configuration: Mapping[str, Any]) -> tuple[list[float], float]:
    """The percents of production traffic a deployment shifts to the new revision, step by step,
    and the seconds it waits after each step but the last (100)."""
    strategy = configuration.get("strategy", ROLLING)
    if strategy not in STEP_DEFAULTS:
        return [100.0], 0.0
    section, percent_key, default_percent, _, bake_key, default_bake = STEP_DEFAULTS[strategy]
    steps = configuration.get(section) or {}
    percent = float(steps.get(percent_key) or default_percent)
    bake = 60.0 * int(default_bake if steps.get(bake_key) is None else steps[bake_key])
    if strategy == CANARY:
        return ([percent] if percent < 100 else []) + [100.0], bake
    count = math.ceil(round(100 / percent, 6))
    return [min(100.0, round(percent * step, 1)) for step in range(1, count + 1)], bake


def _validate_hook(hook: Mapping[str, Any]) -> None:
    stages = hook.get("lifecycleStages") or []
    if not stages or not set(stages) <= set(HOOK_STAGES):
        raise InvalidParameterException(f"A lifecycle hook needs lifecycleStages among {', '.join(HOOK_STAGES)}.")
    if hook.get("targetType", "AWS_LAMBDA") == "AWS_LAMBDA" and not hook.get("hookTargetArn"):
        raise InvalidParameterException("An AWS_LAMBDA lifecycle hook needs a hookTargetArn.")
    timeout = (hook.get("timeoutConfiguration") or {}).get("timeoutInMinutes")
    if timeout is not None and not 1 <= timeout <= MAX_HOOK_TIMEOUT_MINUTES:
        raise InvalidParameterException(f"timeoutInMinutes must be between 1 and {MAX_HOOK_TIMEOUT_MINUTES}.")
    if hook.get("targetType") == "PAUSE" and {"TEST_TRAFFIC_SHIFT", PRODUCTION_TRAFFIC_SHIFT} & set(stages):
        raise InvalidParameterException(
            "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages."
        )


def validate_load_balancers(
    load_balancers: Sequence[Mapping[str, Any]], task_definition: Mapping[str, Any] | None
) -> None:
    if len(load_balancers) > MAX_LOAD_BALANCERS:
        raise InvalidParameterException(
            f"Too many load balancers: {len(load_balancers)}. The maximum is {MAX_LOAD_BALANCERS}."
        )
    for load_balancer in load_balancers:
        name, port = load_balancer.get("containerName"), load_balancer.get("containerPort")
        if not name or port is None:
            raise InvalidParameterException("A load balancer must specify a containerName and a containerPort.")
        if task_definition is not None:
            _check_container_port(task_definition, name, port)


def _validate_role(params: Mapping[str, Any], task_definition: Mapping[str, Any] | None) -> None:
    """ECS takes a role only for a service with one load balancer, no service registry, and
    tasks that do not use awsvpc; every other service uses the service-linked role."""
    if not params.get("role"):
        return
    awsvpc = (task_definition or {}).get("networkMode") == "awsvpc" or params.get("launchType") == "FARGATE"
    if len(params.get("loadBalancers") or []) != 1 or params.get("serviceRegistries") or awsvpc:
        raise InvalidParameterException(_SERVICE_LINKED_ROLE)


def iam_role(params: Mapping[str, Any], account: str) -> dict[str, str]:
    """`{"role": ARN}` for CreateService's `role` (a role name, path-prefixed name, or ARN), or
    `{}` when none is given."""
    role = params.get("role")
    if not role:
        return {}
    return {"role": role if role.startswith("arn:") else f"arn:aws:iam::{account}:role/{role.lstrip('/')}"}


def _check_container_port(task_definition: Mapping[str, Any], container_name: str, port: int) -> None:
    container = next((c for c in task_definition["containerDefinitions"] if c["name"] == container_name), None)
    if container is None:
        raise InvalidParameterException(f"The container {container_name} does not exist in the task definition.")
    if _port_mapping(container, port) is None:
        raise InvalidParameterException(f"The container {container_name} did not have a container port {port} defined.")


# The record


def new_deployment_id(random: Random | None = None) -> str:
    """An ECS deployment id: `ecs-svc/` and 19 digits."""
    return f"ecs-svc/{(random or SystemRandom()).randrange(10**18, 10**19)}"


# service_record_updated takes a parameter of the same name.
_generated_deployment_id = new_deployment_id


def deployment_configuration(given: Mapping[str, Any] | None, strategy: str) -> Json:
    """`given` with ECS's defaults filled in for `strategy`."""
    maximum, minimum = DEFAULT_PERCENTS[strategy]
    configuration: Json = {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": maximum,
        "minimumHealthyPercent": minimum,
    }
    configuration.update({key: copy.deepcopy(value) for key, value in (given or {}).items() if value is not None})
    return configuration


def service_record(
    params: Mapping[str, Any],
    *,
    cluster_name: str,
    created_at: float,
    created_by: str,
    deployment_id: str,
    task_definition: Mapping[str, Any] | None = None,
) -> Json:
    """The record CreateService stores; `params["taskDefinition"]` is the resolved ARN (and
    `task_definition`, when given, the definition it names, for `validate_service_params`)."""
    validate_service_params(params, task_definition=task_definition)
    strategy = params.get("schedulingStrategy") or REPLICA
    controller = (params.get("deploymentController") or {}).get("type", ECS_CONTROLLER)
    record: Json = {
        "serviceName": params["serviceName"],
        "clusterName": cluster_name,
        "launchType": params.get("launchType") or DEFAULT_LAUNCH_TYPE,
        "schedulingStrategy": strategy,
        "deploymentConfiguration": deployment_configuration(params.get("deploymentConfiguration"), strategy),
        "deploymentController": {"type": controller},
        "placementConstraints": copy.deepcopy(list(params.get("placementConstraints") or [])),
        "placementStrategy": copy.deepcopy(list(params.get("placementStrategy") or [])),
        "loadBalancers": copy.deepcopy(list(params.get("loadBalancers") or [])),
        "serviceRegistries": copy.deepcopy(list(params.get("serviceRegistries") or [])),
        "tags": copy.deepcopy(list(params.get("tags") or [])),
        "propagateTags": params.get("propagateTags") or "NONE",
        "enableECSManagedTags": bool(params.get("enableECSManagedTags")),
        "enableExecuteCommand": bool(params.get("enableExecuteCommand")),
        "availabilityZoneRebalancing": rebalancing_setting(params, None),
        "status": ACTIVE,
        "createdAt": created_at,
        "createdBy": created_by,
    }
    if strategy == REPLICA:
        record["desiredCount"] = params["desiredCount"]
    for key in ("networkConfiguration", "healthCheckGracePeriodSeconds"):
        if params.get(key) is not None:
            record[key] = copy.deepcopy(params[key])
    if params.get("role"):
        record["roleArn"] = params["role"]
    if controller == EXTERNAL_CONTROLLER:
        # Its tasks are in the task sets an outside tool creates (translate/task_sets.py).
        return {**record, "deployments": [], "taskSets": []}
    record["taskDefinition"] = params["taskDefinition"]
    record["deployments"] = [new_deployment(record, deployment_id, created_at)]
    if shifts_traffic(record):
        record["trafficDeploymentId"] = deployment_id
    return record


def service_record_updated(
    record: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    now: float,
    new_deployment_id: str | None,
    task_definition: Mapping[str, Any] | None = None,
) -> Json:
    """The record after UpdateService (`params["taskDefinition"]`, if any, resolved to an ARN).

    A new task definition, forceNewDeployment or any other change to `TEMPLATE_FIELDS` starts a
    new PRIMARY deployment (`new_deployment_id`, or a fresh one when None) and makes the old
    PRIMARY ACTIVE; desiredCount or deploymentConfiguration alone change the current deployment.
    `task_definition` is the definition the updated service runs, for `validate_service_params`.
    """
    if record["status"] != ACTIVE:
        raise ServiceNotActiveException("Service was not ACTIVE.")
    strategy = record["schedulingStrategy"]
    if strategy == DAEMON and params.get("desiredCount") is not None:
        raise InvalidParameterException(_DAEMON_DESIRED_COUNT)
    updated = copy.deepcopy(dict(record))
    for key in _UPDATABLE_FIELDS:
        if params.get(key) is not None:
            updated[key] = copy.deepcopy(params[key])
    updated["deploymentConfiguration"] = deployment_configuration(
        {**record["deploymentConfiguration"], **(params.get("deploymentConfiguration") or {})}, strategy
    )
    updated["availabilityZoneRebalancing"] = rebalancing_setting(
        params, record.get("availabilityZoneRebalancing") or DISABLED
    )
    if params.get("desiredCount") is not None:
        updated["desiredCountAt"] = now  # an autoscaler's later decision takes over from here
    validate_service_params(updated, task_definition=task_definition)
    changed = any(updated.get(key) != record.get(key) for key in TEMPLATE_FIELDS)
    primary = primary_deployment(updated)
    primary["updatedAt"] = now
    if not shifts_traffic(updated):
        updated.pop("trafficDeploymentId", None)
        updated.pop("trafficSplit", None)
    if changed or params.get("forceNewDeployment"):
        if shifts_traffic(updated):
            # Traffic stays where it is (on the tasks of a service that rolled until now) until
            # the new deployment shifts it; a superseded deployment's traffic step ends.
            updated.setdefault("trafficDeploymentId", primary["id"])
            updated.pop("trafficSplit", None)
        primary["status"] = ACTIVE
        deployment = new_deployment(updated, new_deployment_id or _generated_deployment_id(), now)
        if shifts_traffic(updated):
            deployment.update(lifecycleStage=PRE_SCALE_UP, blueDeploymentId=updated["trafficDeploymentId"])
        updated["deployments"] = [*updated["deployments"], deployment][-MAX_DEPLOYMENT_HISTORY:]
    return updated


def service_record_observed(record: Mapping[str, Any], view: Mapping[str, Any], *, now: float) -> Json:
    """The record with what `view` (from `service_view`) observed kept: deployments that reached
    COMPLETED or FAILED keep that state and its time; those no longer shown become INACTIVE; the
    events shown are kept, so they outlive the pods they were derived from.

    The reconciler stores the result when it differs from `record`; the history this builds is
    what rollbacks and deployment events are read from.
    """
    updated = copy.deepcopy(dict(record))
    shown = {deployment["id"]: deployment for deployment in view.get("deployments", [])}
    for deployment in updated["deployments"]:
        seen = shown.get(deployment["id"])
        if seen is None:
            if deployment["status"] != PRIMARY:
                deployment["status"] = INACTIVE
            continue
        state = seen["rolloutState"]
        if state == deployment["rolloutState"] or deployment["rolloutState"] != IN_PROGRESS:
            continue
        deployment["rolloutState"] = state
        deployment["rolloutStateReason"] = seen["rolloutStateReason"]
        deployment["updatedAt"] = seen["updatedAt"] if state == COMPLETED else now
        deployment["completedAt" if state == COMPLETED else "failedAt"] = deployment["updatedAt"]
    if view.get("events"):
        updated["events"] = copy.deepcopy(view["events"])
    return updated


def service_record_rolled_back(record: Mapping[str, Any], *, failed_id: str, restored_id: str, now: float) -> Json:
    """The record after the circuit breaker rolled `failed_id` back to `restored_id`: the failed
    deployment is FAILED (and ACTIVE while its tasks stop), the restored one PRIMARY again with the
    settings it had, so the workload rewritten from the record is its old template."""
    updated = copy.deepcopy(dict(record))
    by_id = {deployment["id"]: deployment for deployment in updated["deployments"]}
    failed, restored = by_id[failed_id], by_id[restored_id]
    failed.update(status=ACTIVE, rolloutState=FAILED, rolloutStateReason=CIRCUIT_BREAKER_REASON, updatedAt=now)
    failed.setdefault("failedAt", now)
    restored.pop("completedAt", None)
    restored.pop("lifecycleStage", None)
    updated.pop("trafficSplit", None)
    if updated.get("trafficDeploymentId"):
        updated["trafficDeploymentId"] = restored_id  # production traffic moves back at once
    restored.update(
        status=PRIMARY,
        rolloutState=IN_PROGRESS,
        rolloutStateReason=in_progress_reason(restored_id),
        updatedAt=now,
        restoredAt=now,
    )
    for key in TEMPLATE_FIELDS:
        updated.pop(key, None)
    updated.update(copy.deepcopy(restored["configuration"]))
    return updated


def is_external(record: Mapping[str, Any]) -> bool:
    """Whether the service's tasks are in task sets an outside tool drives (EXTERNAL controller)."""
    return bool(record["deploymentController"]["type"] == EXTERNAL_CONTROLLER)


def shifts_traffic(record: Mapping[str, Any]) -> bool:
    return record["deploymentConfiguration"].get("strategy") in TRAFFIC_SHIFTING


def blue_green_stage(record: Mapping[str, Any]) -> str | None:
    """The stage of the service's traffic-shifting deployment (None: there is none)."""
    if not shifts_traffic(record):
        return None
    stage: str | None = primary_deployment(record).get("lifecycleStage")
    return stage


def is_held(record: Mapping[str, Any]) -> bool:
    """Whether a traffic-shifting deployment is on its way (scaling up, shifting traffic, baking):
    the old tasks must all stay."""
    return blue_green_stage(record) not in (None, CLEAN_UP)


def primary_deployment(record: Mapping[str, Any]) -> Json:
    primary: Json = next(d for d in record["deployments"] if d["status"] == PRIMARY)
    return primary


def new_deployment(record: Mapping[str, Any], deployment_id: str, now: float) -> Json:
    deployment: Json = {
        "id": deployment_id,
        "status": PRIMARY,
        "taskDefinition": record["taskDefinition"],
        "createdAt": now,
        "updatedAt": now,
        "launchType": record["launchType"],
        "rolloutState": IN_PROGRESS,
        "rolloutStateReason": in_progress_reason(deployment_id),
        "configuration": {key: copy.deepcopy(record[key]) for key in TEMPLATE_FIELDS if key in record},
    }
    tags = _propagated_tags(record)
    if tags:
        deployment["tags"] = tags
    if record.get("enableExecuteCommand"):
        # Fixed when the deployment starts, as tags are: ECS applies a change to existing tasks
        # only with forceNewDeployment.
        deployment["enableExecuteCommand"] = True
    return deployment


def _propagated_tags(record: Mapping[str, Any]) -> list[Json]:
    """Tags the deployment's tasks get, fixed when it starts (as ECS tags tasks at launch)."""
    tags: list[Json] = []
    if record["enableECSManagedTags"]:
        tags += [
            {"key": "aws:ecs:clusterName", "value": record["clusterName"]},
            {"key": "aws:ecs:serviceName", "value": record["serviceName"]},
        ]
    if record["propagateTags"] == "SERVICE":
        tags += copy.deepcopy(record["tags"])
    return tags


def in_progress_reason(deployment_id: str) -> str:
    """The rolloutStateReason of a deployment in progress."""
    return f"ECS deployment {deployment_id} in progress."


# Kubernetes names


def workload_name(service_name: str) -> str:
    return f"svc-{names.dns_label(service_name, 59)}"


def registry_service_name(service_name: str) -> str:
    """The headless Service (discovery name) of an ECS service: its own name when Kubernetes
    accepts it as a Service name, else the workload name."""
    return service_name if _DNS_1035_LABEL.fullmatch(service_name) else workload_name(service_name)


def load_balancer_service_name(service_name: str, container_name: str, container_port: int) -> str:
    return f"lb-{names.dns_label(f'{service_name}:{container_name}:{container_port}', 60)}"


def service_group(service_name: str) -> str:
    return f"service:{service_name}"


def service_selector(service_name: str) -> dict[str, str]:
    """Labels every pod of the service carries, whatever its deployment."""
    return {names.LABEL_MANAGED: "true", names.LABEL_SERVICE: names.label_value(service_name)}


def traffic_selector(record: Mapping[str, Any]) -> dict[str, str]:
    """The pods the service's Kubernetes Services send traffic to: all its tasks; for a service
    that shifts traffic, those of the deployment production traffic has moved to (its started-by
    label), so that traffic moves between deployments in one step, or while a LINEAR or CANARY
    step splits it, the tasks the reconciler marks as serving (translate/blue_green.py)."""
    selector = service_selector(record["serviceName"])
    if not shifts_traffic(record):
        return selector
    if record.get("trafficSplit"):
        selector[LABEL_SERVING] = "true"
    elif record.get("trafficDeploymentId"):
        selector[names.LABEL_STARTED_BY] = names.label_value(record["trafficDeploymentId"])
    return selector


# Manifests


def service_pod_scheduling(
    record: Mapping[str, Any], task_definition: Mapping[str, Any], nodes: Sequence[CandidateNode]
) -> PodScheduling | PlacementFailure:
    """The scheduling terms of the service's tasks: its placement as its launch type allows it,
    with spread strategies counted among the service's own tasks."""
    constraints, strategies = effective_placement(
        record.get("launchType"), task_definition, record["placementConstraints"], record["placementStrategy"]
    )
    return pod_scheduling(
        constraints,
        strategies,
        group=service_group(record["serviceName"]),
        nodes=nodes,
        spread_selector=service_selector(record["serviceName"]),
    )


def rolling_update(desired: int, maximum_percent: int, minimum_healthy_percent: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) keeping a rollout within ECS's limits for `desired` tasks."""
    max_surge = max(0, desired * maximum_percent // 100 - desired)
    max_unavailable = max(0, desired - math.ceil(desired * minimum_healthy_percent / 100))
    if max_surge == max_unavailable == 0:
        max_unavailable = 1
    return max_surge, max_unavailable


def circuit_breaker(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The service's circuit breaker settings, `enable` and `rollback`, as booleans."""
    breaker: Mapping[str, Any] = record["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
    return {"enable": bool(breaker.get("enable")), "rollback": bool(breaker.get("rollback"))}


def progress_deadline_seconds(record: Mapping[str, Any]) -> int:
    if not circuit_breaker(record)["enable"]:
        return DEFAULT_PROGRESS_DEADLINE_SECONDS
    return CIRCUIT_BREAKER_PROGRESS_DEADLINE_SECONDS + (record.get("healthCheckGracePeriodSeconds") or 0)


def workload_manifest(
    record: Mapping[str, Any],
    task_definition: Mapping[str, Any],
    *,
    namespace: str,
    scheduling: PodScheduling | None,
) -> Json:
    """The Deployment (REPLICA) or DaemonSet (DAEMON) running the PRIMARY deployment's tasks."""
    template = pod_template(record, task_definition, scheduling)
    selector = {"matchLabels": service_selector(record["serviceName"])}
    metadata = _workload_metadata(record, namespace)
    if record["schedulingStrategy"] == DAEMON:
        minimum = record["deploymentConfiguration"]["minimumHealthyPercent"]
        daemon_spec: Json = {
            "selector": selector,
            "template": template,
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": f"{100 - minimum}%"},
            },
            "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
        }
        return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata, "spec": daemon_spec}
    desired = record["desiredCount"] if record["status"] == ACTIVE else 0
    configuration = record["deploymentConfiguration"]
    max_surge: int | str
    max_surge, max_unavailable = rolling_update(
        desired, configuration["maximumPercent"], configuration["minimumHealthyPercent"]
    )
    if shifts_traffic(record):
        max_surge, max_unavailable = "100%", 0
    spec: Json = {
        "replicas": desired,
        "selector": selector,
        "template": template,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
        },
        "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
        "progressDeadlineSeconds": progress_deadline_seconds(record),
    }
    if is_held(record):
        spec["minReadySeconds"] = BLUE_GREEN_HOLD_SECONDS
        spec["progressDeadlineSeconds"] += BLUE_GREEN_HOLD_SECONDS
    if blue_green_stage(record) == PRE_SCALE_UP:
        spec["paused"] = True
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def scaling_marks_to_clear(deployment: Mapping[str, Any], replica_sets: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ReplicaSets whose `DESIRED_REPLICAS_ANNOTATION` must go before `deployment` (a
    Deployment manifest) is applied, so that ECS's new desired count goes to the new deployment
    alone. `replica_sets` are those of the Deployment as it stands.

    The Deployment controller takes a change of replicas for a scaling event when an active
    ReplicaSet (one with replicas) is marked with another desired count; it then scales every
    active ReplicaSet, old ones included: the only one when no ReplicaSet has the new template yet,
    all of them in proportion mid-rollout. So while an old ReplicaSet is active, the active ones
    lose their mark (the controller skips unmarked ones and marks them again when it next scales
    them), and the change is rolled out: the new ReplicaSet grows within maxSurge, the old ones
    only shrink, as ECS drains an ACTIVE deployment and never launches tasks for it.
    """
    if deployment.get("kind") != "Deployment":
        return []
    primary_id = template_deployment_id(deployment)
    replicas = str(deployment["spec"]["replicas"])
    active = [rs for rs in replica_sets if int((rs.get("spec") or {}).get("replicas") or 0) > 0]
    if all(template_deployment_id(rs) == primary_id for rs in active):
        return []
    return [
        rs["metadata"]["name"]
        for rs in active
        if annotations_of(rs["metadata"]).get(DESIRED_REPLICAS_ANNOTATION, replicas) != replicas
    ]


def pod_template(
    record: Mapping[str, Any], task_definition: Mapping[str, Any], scheduling: PodScheduling | None
) -> Json:
    """The pod template of the PRIMARY deployment (`task_definition` is its task definition)."""
    name = record["serviceName"]
    primary = primary_deployment(record)
    group = service_group(name)
    spec = task_definition_to_pod_spec(task_definition)
    if scheduling is not None:
        spec = scheduling.merged_into(spec)
    if record["schedulingStrategy"] == DAEMON and record["status"] != ACTIVE:
        spec = PodScheduling(affinity=on_no_node()).merged_into(spec)
    spec["restartPolicy"] = "Always"
    labels = task_labels(record["clusterName"], task_definition, group, primary["id"])
    labels[names.LABEL_SERVICE] = names.label_value(name)
    annotations = {
        **task_definition_annotations(task_definition),
        names.ANNOTATION_CLUSTER_NAME: record["clusterName"],
        names.ANNOTATION_GROUP: group,
        names.ANNOTATION_STARTED_BY: primary["id"],
        names.ANNOTATION_LAUNCH_TYPE: record["launchType"],
        ANNOTATION_DEPLOYMENT_ID: primary["id"],
        ANNOTATION_SERVICE_NAME: name,
    }
    if primary.get("tags"):
        annotations[names.ANNOTATION_TAGS] = json.dumps(primary["tags"], separators=(",", ":"), sort_keys=True)
    if primary.get("enableExecuteCommand"):
        annotations[names.ANNOTATION_EXECUTE_COMMAND] = "true"
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}


def _workload_metadata(record: Mapping[str, Any], namespace: str) -> Json:
    name = record["serviceName"]
    annotations = {ANNOTATION_SERVICE_NAME: name, names.ANNOTATION_CLUSTER_NAME: record["clusterName"]}
    breaker = circuit_breaker(record)
    if breaker["enable"]:
        annotations[ANNOTATION_CIRCUIT_BREAKER] = "rollback" if breaker["rollback"] else "enable"
    return {
        "name": workload_name(name),
        "namespace": namespace,
        "labels": _object_labels(record),
        "annotations": annotations,
    }


def _object_labels(record: Mapping[str, Any]) -> dict[str, str]:
    return {
        **service_selector(record["serviceName"]),
        names.LABEL_CLUSTER: names.label_value(record["clusterName"]),
    }


def kube_services(record: Mapping[str, Any], task_definition: Mapping[str, Any], *, namespace: str) -> list[Json]:
    """v1 Services: one per load balancer (container, port), one headless per service registry."""
    services: dict[str, Json] = {}
    for load_balancer in record.get("loadBalancers", []):
        manifest = _load_balancer_service(record, task_definition, load_balancer, namespace)
        existing = services.get(manifest["metadata"]["name"])
        if existing is not None:
            existing["metadata"]["annotations"].update(manifest["metadata"]["annotations"])
        else:
            services[manifest["metadata"]["name"]] = manifest
    for registry in record.get("serviceRegistries", []):
        manifest = _registry_service(record, task_definition, registry, namespace)
        services[manifest["metadata"]["name"]] = manifest
    return list(services.values())


def _load_balancer_service(
    record: Mapping[str, Any], task_definition: Mapping[str, Any], load_balancer: Mapping[str, Any], namespace: str
) -> Json:
    container_name, container_port = load_balancer["containerName"], load_balancer["containerPort"]
    annotations = {ANNOTATION_SERVICE_NAME: record["serviceName"]}
    for key, annotation in (
        ("targetGroupArn", ANNOTATION_TARGET_GROUP_ARN),
        ("loadBalancerName", ANNOTATION_LOAD_BALANCER_NAME),
    ):
        if load_balancer.get(key):
            annotations[annotation] = load_balancer[key]
    spec: Json = {
        "type": service_type(record),
        "selector": traffic_selector(record),
        "ports": [service_port(task_definition, container_name, container_port)],
    }
    return kube_service(
        load_balancer_service_name(record["serviceName"], container_name, container_port),
        record,
        namespace,
        annotations,
        spec,
    )


def _registry_service(
    record: Mapping[str, Any], task_definition: Mapping[str, Any], registry: Mapping[str, Any], namespace: str
) -> Json:
    annotations = {ANNOTATION_SERVICE_NAME: record["serviceName"]}
    if registry.get("registryArn"):
        annotations[ANNOTATION_REGISTRY_ARN] = registry["registryArn"]
    spec: Json = {"clusterIP": "None", "selector": traffic_selector(record)}
    port = registry.get("containerPort") or registry.get("port")
    if port:
        spec["ports"] = [service_port(task_definition, registry.get("containerName"), port)]
    return kube_service(registry_service_name(record["serviceName"]), record, namespace, annotations, spec)


def kube_service(name: str, record: Mapping[str, Any], namespace: str, annotations: dict[str, str], spec: Json) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": _object_labels(record),
            "annotations": annotations,
        },
        "spec": spec,
    }


def service_type(record: Mapping[str, Any]) -> str:
    wanted = next((tag.get("value") for tag in record.get("tags", []) if tag["key"] == SERVICE_TYPE_TAG), None)
    return wanted if wanted in SERVICE_TYPES else "ClusterIP"


def service_port(task_definition: Mapping[str, Any], container_name: str | None, port: int) -> Json:
    containers = [c for c in task_definition["containerDefinitions"] if container_name in (None, c["name"])]
    mapping = next((m for c in containers if (m := _port_mapping(c, port)) is not None), None)
    service_port: Json = {"port": port, "targetPort": port, "protocol": "TCP"}
    if mapping is None:
        return service_port
    service_port["protocol"] = str(mapping.get("protocol") or "tcp").upper()
    app_protocol = _APP_PROTOCOLS.get(str(mapping.get("appProtocol") or ""))
    if app_protocol:
        service_port["appProtocol"] = app_protocol
    return service_port


def _port_mapping(container: Mapping[str, Any], port: int) -> Mapping[str, Any] | None:
    return next((m for m in container.get("portMappings", []) if _maps_port(m, port)), None)


def _maps_port(mapping: Mapping[str, Any], port: int) -> bool:
    if mapping.get("containerPort") == port:
        return True
    low, _, high = str(mapping.get("containerPortRange") or "").partition("-")
    return bool(low) and int(low) <= port <= int(high or low)


# Reading the Kubernetes objects this module writes


def annotations_of(metadata: Mapping[str, Any] | None) -> Mapping[str, str]:
    annotations: Mapping[str, str] = (metadata or {}).get("annotations") or {}
    return annotations


def template_deployment_id(owner: Mapping[str, Any] | None) -> str | None:
    """The ECS deployment whose pod template a Deployment, DaemonSet or ReplicaSet holds."""
    template = ((owner or {}).get("spec") or {}).get("template") or {}
    return annotations_of(template.get("metadata")).get(ANNOTATION_DEPLOYMENT_ID)
