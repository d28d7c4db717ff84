"""Kubernetes -> ECS for tasks: the `Task` view of a Pod, its lifecycle, and stopped-task records.
`task_to_pod` writes the Pod.

Pure: Pod JSON as the API server sends it in, ECS shapes out, timestamps as epoch seconds.

lastStatus follows ECS's order (PROVISIONING -> PENDING -> ACTIVATING -> RUNNING -> DEACTIVATING
-> STOPPING -> DEPROVISIONING -> STOPPED); a pod shows five of those states:
- PROVISIONING: not bound to a node yet;
- PENDING: bound, and some essential container has not started;
- RUNNING: every essential container has started (one restarted by its ECS restart policy counts);
- STOPPING: being deleted, or an essential container exited while others still run (ECS stops
  the whole task then: the reconciler deletes the pod and writes a stopped-task record);
- STOPPED: the pod Succeeded or Failed, or a stopped-task record exists (it is final).

Where the ECS docs are silent:
- ECS containers are the pod's init containers (dependsOn COMPLETE/SUCCESS targets and sidecars)
  then its main containers, in pod order.
- Container cpu is read back from its request (1024 units = 1000m; a request shared by two unit
  counts reads as the larger one); memory is the limit, memoryReservation the request when it
  differs. Task cpu/memory appear only when the definition (or override) set them.
- A bridge port without a host port (dynamic on ECS) has no host port on Kubernetes: its binding
  shows the pod IP and the container port, which is where it is reachable.
- Container health needs a readiness probe (a health check): ready -> HEALTHY; running and not
  ready -> UNHEALTHY once the pod's Ready condition turned False after the container started
  (readiness was lost), or once the container has run its health check's startPeriod plus
  `retries` intervals without ever being ready (a pod records no failed probe before a first
  success, so this is told by the clock: health is the one part of the view that depends on
  `now`); else UNKNOWN (still in its start period).
- `version` is the pod's resourceVersion (it grows with every change); a record's is one more.
- Pod failures of the node: shutdown -> TerminationNotice, eviction -> InfrastructureHealth.
"""

import copy
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shim.translate import names
from shim.translate.quantities import parse_quantity
from shim.translate.task_definitions import task_cpu_units, task_memory_mib

Json = dict[str, Any]

LIFECYCLE = (
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
)
ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
TASK_FAILED_TO_START = "TaskFailedToStart"
ESSENTIAL_CONTAINER_EXITED_REASON = "Essential container in task exited"
SERVICE_SCHEDULER_INITIATED = "ServiceSchedulerInitiated"
TASK_FAILED_TO_START_REASON = "Task failed to start"
FARGATE_PLATFORM_VERSION = "1.4.0"
FARGATE_DEFAULT_EPHEMERAL_GIB = 20
EXECUTE_COMMAND_AGENT = "ExecuteCommandAgent"

_FINISHED_PHASES = ("Succeeded", "Failed")
_NODE_SHUTDOWN_REASONS = ("Terminated", "Shutdown", "NodeShutdown")
_PULL_ERRORS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
_START_ERRORS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError", "StartError")
_TERMINATED_START_ERRORS = ("ContainerCannotRun", "StartError")
_OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"
_UNITS_PER_CPU = 1024
_MIB = 2**20


@dataclass(frozen=True)
class _Container:
    """One ECS container of a task's pod: its spec, its status, and what ECS knows of it."""

    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    name: str
    essential: bool
    runs_to_completion: bool
    restarts_by_policy: bool
    health_start_period: float = 0.0

    @property
    def state(self) -> Mapping[str, Any]:
        state: Mapping[str, Any] = self.status.get("state") or {}
        return state

    @property
    def terminated(self) -> Mapping[str, Any] | None:
        """How the container exited. A kubelet restarts containers ECS runs once (a sidecar, any
        container of a service's pod) and shows the exit in lastState, while it waits to restart
        the container or once it runs again: unless the ECS container has a restart policy of its
        own, the container has stopped all the same on ECS (and, essential, stopped the task)."""
        terminated: Mapping[str, Any] | None = self.state.get("terminated")
        if terminated is None and not self.restarts_by_policy:
            terminated = (self.status.get("lastState") or {}).get("terminated")
        return terminated

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def restarting(self) -> bool:
        return "waiting" in self.state and (self.status.get("restartCount") or 0) > 0

    @property
    def started_at(self) -> float | None:
        current = self.state.get("running") or self.terminated or {}
        previous = (self.status.get("lastState") or {}).get("terminated") or {}
        return epoch_of(current.get("startedAt") or previous.get("startedAt"))

    @property
    def finished_at(self) -> float | None:
        return epoch_of((self.terminated or {}).get("finishedAt"))

    @property
    def has_health_check(self) -> bool:
        return "readinessProbe" in self.spec

    @property
    def unhealthy_unless_ready_at(self) -> float | None:
        """When a running container that has never been ready has failed its health check
        `retries` times after its start period, as ECS counts; None unless it runs unready."""
        probe = self.spec.get("readinessProbe")
        if probe is None or not self.running or self.status.get("ready") or self.started_at is None:
            return None
        checks = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
        return self.started_at + self.health_start_period + checks


@dataclass(frozen=True)
class _Where:
    region: str
    account: str
    cluster_name: str
    container_instance_id: str | None
    availability_zone: str | None
    network_mode: str | None


@dataclass(frozen=True)
class _Stop:
    """How a stopped-task record ends a task: ECS's stop code and reason, and when it began."""

    code: str | None
    reason: str | None
    stopping_at: float


def task_id_of(pod: Mapping[str, Any]) -> str:
    """The ECS task id of a pod: its task-id label (RunTask, StartTask), else its uid without
    dashes (a service's pods, which a ReplicaSet or DaemonSet names)."""
    metadata = pod["metadata"]
    label: str | None = (metadata.get("labels") or {}).get(names.LABEL_TASK_ID)
    return label or str(metadata.get("uid", "")).replace("-", "")


def is_stopped(pod: Mapping[str, Any]) -> bool:
    return _phase(pod) in _FINISHED_PHASES


def essential_container_exited(pod: Mapping[str, Any]) -> bool:
    """An essential container has exited while the pod still runs: ECS stops the whole task."""
    return (
        _any_container_exited(pod)
        and not is_stopped(pod)
        and any(c.essential and c.terminated for c in _containers(pod))
    )


def stop_reason(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """(stopCode, stoppedReason) the pod itself gives for stopping, or None while nothing does."""
    status = pod.get("status") or {}
    containers = _containers(pod)
    node_reason = status.get("reason")
    if node_reason and _phase(pod) == "Failed":
        detail = status.get("message") or node_reason
        if node_reason in _NODE_SHUTDOWN_REASONS:
            return "TerminationNotice", detail
        if node_reason == "Evicted":
            return "InfrastructureHealth", detail
    for container in containers:
        terminated = container.terminated
        if container.essential and terminated:
            if terminated.get("reason") in _TERMINATED_START_ERRORS:
                return TASK_FAILED_TO_START, _container_reason(container) or TASK_FAILED_TO_START_REASON
            return ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_CONTAINER_EXITED_REASON
    failed_first = any(c.runs_to_completion and (c.terminated or {}).get("exitCode") for c in containers)
    if failed_first or _phase(pod) == "Failed":
        return TASK_FAILED_TO_START, TASK_FAILED_TO_START_REASON
    return None


def start_failure(pod: Mapping[str, Any]) -> str | None:
    """Why a container of a pod not yet stopped cannot start (its image cannot be pulled, or its
    container cannot be created), as ECS words it: ECS stops such a task, stopCode
    TaskFailedToStart, rather than leave it PENDING."""
    if is_stopped(pod) or "deletionTimestamp" in pod["metadata"]:
        return None
    for container in _containers(pod):
        waiting = container.state.get("waiting") or {}
        if waiting.get("reason") in (*_PULL_ERRORS, *_START_ERRORS):
            return _container_reason(container)
    return None


@dataclass(frozen=True)
class TaskSummary:
    """What ListTasks filters on, read without building the whole task view."""

    task_id: str
    desired_status: str
    family: str
    started_by: str | None
    group: str
    launch_type: str
    node_name: str | None
    container_instance_id: str | None


def task_summary(pod: Mapping[str, Any] | None, record: Mapping[str, Any] | None) -> TaskSummary:
    """The summary of a task from its pod, or from its stopped-task record (which wins)."""
    if record is not None:
        task = record["task"]
        return TaskSummary(
            task_id=task["taskArn"].rsplit("/", 1)[-1],
            desired_status="STOPPED",
            family=task["taskDefinitionArn"].rsplit("/", 1)[-1].rsplit(":", 1)[0],
            started_by=task.get("startedBy"),
            group=task.get("group", ""),
            launch_type=task.get("launchType", "EC2"),
            node_name=None,
            container_instance_id=record.get("containerInstanceId"),
        )
    assert pod is not None
    annotations = pod["metadata"].get("annotations") or {}
    return TaskSummary(
        task_id=task_id_of(pod),
        desired_status=desired_status(pod),
        family=annotations.get(names.ANNOTATION_FAMILY, ""),
        started_by=annotations.get(names.ANNOTATION_STARTED_BY),
        group=annotations.get(names.ANNOTATION_GROUP, ""),
        launch_type=annotations.get(names.ANNOTATION_LAUNCH_TYPE, "EC2"),
        node_name=pod.get("spec", {}).get("nodeName"),
        container_instance_id=None,
    )


def desired_status(pod: Mapping[str, Any]) -> str:
    if not _any_container_exited(pod) and not pod["metadata"].get("deletionTimestamp") and not is_stopped(pod):
        return "RUNNING"
    return "STOPPED" if last_status(pod) in ("STOPPING", "STOPPED") else "RUNNING"


def _any_container_exited(pod: Mapping[str, Any]) -> bool:
    """A cheap first look, before reading the containers one by one."""
    status = pod.get("status") or {}
    return any(
        "terminated" in (container.get("state") or {}) or "terminated" in (container.get("lastState") or {})
        for container in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]
    )


def last_status(pod: Mapping[str, Any]) -> str:
    return _last_status(pod, _containers(pod))


def _last_status(pod: Mapping[str, Any], containers: Sequence[_Container]) -> str:
    if is_stopped(pod):
        return "STOPPED"
    if pod["metadata"].get("deletionTimestamp") or any(c.essential and c.terminated for c in containers):
        return "STOPPING"
    if not pod.get("spec", {}).get("nodeName"):
        return "PROVISIONING"
    essential_started = all(c.running or c.restarting for c in containers if c.essential)
    if _phase(pod) in ("Running", "Unknown") and essential_started:
        return "RUNNING"
    return "PENDING"


def task_view(
    pod: Mapping[str, Any] | None,
    record: Mapping[str, Any] | None,
    *,
    region: str,
    account: str,
    cluster_name: str,
    container_instance_id: str | None,
    availability_zone: str | None,
    include_tags: bool = False,
    network_mode: str | None = None,
    now: float,
) -> Json:
    """The ECS `Task` of a pod, or of its stopped-task record (which wins: STOPPED is final; while
    the pod is still going, its lastStatus and its containers' exits show how far it got, as ECS
    shows RUNNING or STOPPING after StopTask), with its health as of `now`.

    `network_mode` is the task definition's; when None it is read from the pod: host networking
    -> host, FARGATE -> awsvpc, else bridge (ECS's default).
    """
    if record is not None:
        final = with_final_exits(record, pod) if pod is not None else None
        view: Json = final["task"] if final is not None else copy.deepcopy(dict(record["task"]))
        if not include_tags:
            view.pop("tags", None)
        status = last_status(pod) if pod is not None else "STOPPED"
        if status != "STOPPED":
            view["lastStatus"] = status
            for moment in ("stoppedAt", "executionStoppedAt"):
                view.pop(moment, None)
        return view
    if pod is None:
        raise ValueError("a task view needs its pod or its stopped-task record")
    where = _Where(region, account, cluster_name, container_instance_id, availability_zone, network_mode)
    return _pod_view(pod, where, None, include_tags, now)


def stopped_task_record(
    pod: Mapping[str, Any],
    *,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    stopping_at: float,
    region: str,
    account: str,
    cluster_name: str,
    container_instance_id: str | None = None,
    availability_zone: str | None = None,
    network_mode: str | None = None,
) -> Json:
    """What to keep of a task once its pod goes: `task_view(None, record, ...)` is the STOPPED view.

    Without `stop_code` the pod's own code and reason (`stop_reason`) are used. Besides `task`
    (the final view, tags included), the record holds the pod's labels, so stopped tasks can be
    selected like live ones (cluster, family, group, startedBy, service), and its instance id.
    """
    code, reason = (stop_code, stopped_reason) if stop_code else stop_reason(pod) or (None, stopped_reason)
    stop = _Stop(code, reason, stopping_at)
    where = _Where(region, account, cluster_name, container_instance_id, availability_zone, network_mode)
    record: Json = {
        "task": _pod_view(pod, where, stop, True, stopping_at),
        "labels": dict(pod["metadata"].get("labels") or {}),
    }
    if container_instance_id:
        record["containerInstanceId"] = container_instance_id
    return record


def with_final_exits(record: Mapping[str, Any], pod: Mapping[str, Any]) -> Json | None:
    """The stopped-task record with the exit codes (and reasons) its containers ended with, and
    when the last one ended, read from the pod as it was last seen before it went: the record is
    written as the stop begins, while the other containers still run until SIGTERM or SIGKILL
    (after stopTimeout) ends them. None when the pod adds nothing."""
    final = {container.name: container for container in _containers(pod)}
    updated: Json = copy.deepcopy(dict(record))
    changed = False
    for view in updated["task"]["containers"]:
        container = final.get(view["name"])
        terminated = container.terminated if container is not None else None
        if container is None or terminated is None or not terminated.get("startedAt") or "exitCode" in view:
            continue  # a container that never started has no exit code on ECS
        view["exitCode"] = terminated["exitCode"]
        reason = _container_reason(container)
        if reason:
            view["reason"] = reason
        changed = True
    finishes = [container.finished_at for container in final.values() if container.finished_at is not None]
    task = updated["task"]
    if finishes and len(finishes) == len(final) and max(finishes) > (task.get("stoppedAt") or 0.0):
        task["stoppedAt"] = task["executionStoppedAt"] = max(finishes)
        changed = True
    return updated if changed else None


def stopped_at(pod_or_record: Mapping[str, Any]) -> float | None:
    """When a task stopped, from its stopped-task record or its finished pod; None while it runs."""
    if "task" in pod_or_record:
        moment: float | None = pod_or_record["task"].get("stoppedAt")
        return moment
    if not is_stopped(pod_or_record):
        return None
    moment = _stop_fields(pod_or_record, _containers(pod_or_record), "STOPPED", None).get("stoppedAt")
    return moment


def _pod_view(pod: Mapping[str, Any], where: _Where, stop: _Stop | None, include_tags: bool, now: float) -> Json:
    metadata = pod["metadata"]
    annotations = metadata.get("annotations") or {}
    containers = _containers(pod)
    task_id = task_id_of(pod)
    task_arn = names.task_arn(where.region, where.account, where.cluster_name, task_id)
    status = "STOPPED" if stop else _last_status(pod, containers)
    launch_type = annotations.get(names.ANNOTATION_LAUNCH_TYPE, "EC2")
    mode = where.network_mode or _network_mode(pod, launch_type)
    attachment_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{task_arn}/eni"))
    health = {c.name: "UNKNOWN" if status == "STOPPED" else _container_health(pod, c, now) for c in containers}
    view: Json = {
        "taskArn": task_arn,
        "clusterArn": names.cluster_arn(where.region, where.account, where.cluster_name),
        "taskDefinitionArn": annotations.get(names.ANNOTATION_TASK_DEFINITION_ARN, ""),
        "group": annotations.get(names.ANNOTATION_GROUP, ""),
        "launchType": launch_type,
        "lastStatus": status,
        "desiredStatus": "STOPPED" if status in ("STOPPING", "STOPPED") else "RUNNING",
        "containers": [
            _container_view(pod, c, task_arn, status, mode, attachment_id, where, health[c.name]) for c in containers
        ],
        "overrides": _overrides_view(annotations, containers),
        "createdAt": epoch_of(metadata.get("creationTimestamp")) or 0.0,
        "healthStatus": _task_health(containers, health),
        "attachments": _attachments(pod, mode, attachment_id, status, where.region),
        "enableExecuteCommand": executes_commands(pod),
        "version": _version(metadata) + (1 if stop else 0),
    }
    optional = {
        "startedBy": annotations.get(names.ANNOTATION_STARTED_BY),
        "cpu": _task_size(annotations.get(names.ANNOTATION_TASK_CPU), task_cpu_units),
        "memory": _task_size(annotations.get(names.ANNOTATION_TASK_MEMORY), task_memory_mib),
        "availabilityZone": where.availability_zone,
    }
    view.update({key: value for key, value in optional.items() if value})
    if where.container_instance_id:
        view["containerInstanceArn"] = names.container_instance_arn(
            where.region, where.account, where.cluster_name, where.container_instance_id
        )
    view.update(_scheduling_times(pod, containers, status))
    view.update(_stop_fields(pod, containers, status, stop))
    if launch_type == "FARGATE":
        view.update(_fargate_fields(pod))
    if include_tags:
        view["tags"] = json.loads(annotations.get(names.ANNOTATION_TAGS) or "[]")
    return view


def _containers(pod: Mapping[str, Any]) -> list[_Container]:
    annotations = pod["metadata"].get("annotations") or {}
    ecs_names: dict[str, str] = json.loads(annotations.get(names.ANNOTATION_CONTAINER_NAMES) or "{}")
    essential = set(json.loads(annotations.get(names.ANNOTATION_ESSENTIAL_CONTAINERS) or "[]"))
    restarted = set(json.loads(annotations.get(names.ANNOTATION_RESTART_POLICY_CONTAINERS) or "[]"))
    start_periods = json.loads(annotations.get(names.ANNOTATION_HEALTH_START_PERIODS) or "{}")
    status = pod.get("status") or {}
    statuses = {s["name"]: s for s in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]}
    spec = pod.get("spec") or {}
    found = []
    for spec_container, is_init in [
        *((c, True) for c in spec.get("initContainers", [])),
        *((c, False) for c in spec.get("containers", [])),
    ]:
        name = ecs_names.get(spec_container["name"], spec_container["name"])
        found.append(
            _Container(
                spec=spec_container,
                status=statuses.get(spec_container["name"], {}),
                name=name,
                essential=name in essential,
                runs_to_completion=is_init and spec_container.get("restartPolicy") != "Always",
                restarts_by_policy=name in restarted or (not is_init and "restartPolicy" in spec_container),
                health_start_period=float(start_periods.get(name) or 0),
            )
        )
    return found


def _container_view(
    pod: Mapping[str, Any],
    container: _Container,
    task_arn: str,
    task_status: str,
    mode: str,
    attachment_id: str,
    where: _Where,
    health: str,
) -> Json:
    task_id = task_arn.rsplit("/", 1)[-1]
    container_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{task_arn}/{container.name}")
    view: Json = {
        "containerArn": names.arn(
            where.region, where.account, f"container/{where.cluster_name}/{task_id}/{container_id}"
        ),
        "taskArn": task_arn,
        "name": container.name,
        "image": container.spec.get("image", ""),
        "lastStatus": _container_status(container, task_status),
        "networkBindings": _network_bindings(pod, container, mode),
        "networkInterfaces": _network_interfaces(pod, attachment_id, mode),
        "healthStatus": health,
        "cpu": str(_container_cpu_units(container.spec)),
    }
    terminated = container.terminated
    if terminated is not None and terminated.get("exitCode") is not None:
        view["exitCode"] = terminated["exitCode"]
    memory, reservation = _container_memory(container.spec)
    optional = {
        "memory": memory,
        "memoryReservation": reservation,
        "reason": _container_reason(container),
        "runtimeId": (container.status.get("containerID") or "").partition("://")[2],
        "imageDigest": _image_digest(container.status.get("imageID") or ""),
    }
    view.update({key: value for key, value in optional.items() if value})
    if executes_commands(pod):
        view["managedAgents"] = [_execute_command_agent(container, view["lastStatus"])]
    return view


def executes_commands(pod: Mapping[str, Any]) -> bool:
    """Whether the task was run with `enableExecuteCommand` (RunTask, StartTask, its service)."""
    return (pod["metadata"].get("annotations") or {}).get(names.ANNOTATION_EXECUTE_COMMAND) == "true"


def _execute_command_agent(container: _Container, container_status: str) -> Json:
    """The ECS Exec agent of a container, as ECS shows it: it runs while its container runs, the
    kubelet's exec taking the SSM agent's place (no process of its own, so it starts with it)."""
    agent: Json = {"name": EXECUTE_COMMAND_AGENT, "lastStatus": container_status}
    if container_status != "PENDING" and container.started_at is not None:
        agent["lastStartedAt"] = container.started_at
    return agent


def _container_status(container: _Container, task_status: str) -> str:
    if task_status == "STOPPED" or container.terminated:
        return "STOPPED"
    return "RUNNING" if container.running or container.restarting else "PENDING"


def _container_reason(container: _Container) -> str | None:
    terminated = container.terminated or {}
    waiting = container.state.get("waiting") or {}
    reason = terminated.get("reason") or waiting.get("reason")
    message = terminated.get("message") or waiting.get("message") or reason
    if reason == "OOMKilled":
        return _OUT_OF_MEMORY
    if reason in _PULL_ERRORS:
        return f"CannotPullContainerError: {message}"
    if reason in (*_START_ERRORS, *_TERMINATED_START_ERRORS):
        return f"CannotStartContainerError: {message}"
    return terminated.get("message") or None


def _container_cpu_units(spec: Mapping[str, Any]) -> int:
    requested = ((spec.get("resources") or {}).get("requests") or {}).get("cpu")
    if not requested:
        return 0
    return int(parse_quantity(requested) * _UNITS_PER_CPU)


def _container_memory(spec: Mapping[str, Any]) -> tuple[str | None, str | None]:
    resources = spec.get("resources") or {}
    limit = _mib((resources.get("limits") or {}).get("memory"))
    request = _mib((resources.get("requests") or {}).get("memory"))
    return limit, request if request != limit else None


def _mib(amount: str | None) -> str | None:
    return str(int(parse_quantity(amount) // _MIB)) if amount else None


def _image_digest(image_id: str) -> str | None:
    _, _, digest = image_id.rpartition("@")
    return digest if digest.startswith("sha256:") else None


def _network_mode(pod: Mapping[str, Any], launch_type: str) -> str:
    recorded = (pod.get("metadata", {}).get("annotations") or {}).get(names.ANNOTATION_NETWORK_MODE)
    if recorded:
        return str(recorded)
    if pod.get("spec", {}).get("hostNetwork"):
        return "host"
    return "awsvpc" if launch_type == "FARGATE" else "bridge"


def _network_bindings(pod: Mapping[str, Any], container: _Container, mode: str) -> list[Json]:
    status = pod.get("status") or {}
    if mode not in ("bridge", "host") or container.started_at is None:
        return []
    bindings = []
    for port in container.spec.get("ports", []):
        host_port = port.get("hostPort") or (port["containerPort"] if mode == "host" else None)
        bind_ip = "0.0.0.0" if host_port else status.get("podIP")
        if not bind_ip:
            continue
        bindings.append(
            {
                "bindIP": bind_ip,
                "containerPort": port["containerPort"],
                "hostPort": host_port or port["containerPort"],
                "protocol": str(port.get("protocol") or "TCP").lower(),
            }
        )
    return bindings


def _network_interfaces(pod: Mapping[str, Any], attachment_id: str, mode: str) -> list[Json]:
    pod_ip = (pod.get("status") or {}).get("podIP")
    if mode != "awsvpc" or not pod_ip:
        return []
    return [{"attachmentId": attachment_id, "privateIpv4Address": pod_ip}]


def _attachments(pod: Mapping[str, Any], mode: str, attachment_id: str, status: str, region: str) -> list[Json]:
    """The task's elastic network interface under awsvpc: the pod's own network identity."""
    if mode != "awsvpc":
        return []
    pod_ip = (pod.get("status") or {}).get("podIP")
    details = [{"name": "networkInterfaceId", "value": f"eni-{names.short_hash(attachment_id, 17)}"}]
    if pod_ip:
        domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
        details.append({"name": "privateDnsName", "value": f"ip-{pod_ip.replace('.', '-')}.{domain}"})
        details.append({"name": "privateIPv4Address", "value": pod_ip})
    return [
        {
            "id": attachment_id,
            "type": "ElasticNetworkInterface",
            "status": _attachment_status(status, bool(pod_ip)),
            "details": details,
        }
    ]


def _attachment_status(task_status: str, has_address: bool) -> str:
    if task_status == "STOPPED":
        return "DELETED"
    if task_status == "STOPPING":
        return "DETACHING"
    return "ATTACHED" if has_address else "PRECREATED"


def task_health(pod: Mapping[str, Any], now: float) -> str:
    """The healthStatus of a live task's pod as of `now`."""
    containers = _containers(pod)
    return _task_health(containers, {c.name: _container_health(pod, c, now) for c in containers})


def health_due_at(pod: Mapping[str, Any]) -> float | None:
    """The next moment the pod's health turns UNHEALTHY by the clock alone (see the module's
    docstring), or None: a view of the pod made before it is stale after it. Asked for every task
    DescribeTasks shows, so a pod with no unready health-checked container is answered without
    reading its annotations."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    probed = {
        c["name"] for c in [*spec.get("initContainers", []), *spec.get("containers", [])] if "readinessProbe" in c
    }
    statuses = [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]
    if not any(s["name"] in probed and not s.get("ready") for s in statuses):
        return None
    due = [c.unhealthy_unless_ready_at for c in _containers(pod) if c.unhealthy_unless_ready_at is not None]
    return min(due, default=None)


def _container_health(pod: Mapping[str, Any], container: _Container, now: float) -> str:
    if not container.has_health_check or not container.running:
        return "UNKNOWN"
    if container.status.get("ready"):
        return "HEALTHY"
    ready = _condition(pod, "Ready")
    lost_at = epoch_of(ready.get("lastTransitionTime")) if ready.get("status") == "False" else None
    started_at = container.started_at
    if lost_at is not None and started_at is not None and lost_at > started_at:
        return "UNHEALTHY"
    due = container.unhealthy_unless_ready_at
    return "UNHEALTHY" if due is not None and now >= due else "UNKNOWN"


def _task_health(containers: Sequence[_Container], health: Mapping[str, str]) -> str:
    """ECS's rule over essential containers with a health check: any UNHEALTHY makes the task
    UNHEALTHY, all HEALTHY make it HEALTHY, anything else is UNKNOWN."""
    essential = [health[c.name] for c in containers if c.essential and c.has_health_check]
    if "UNHEALTHY" in essential:
        return "UNHEALTHY"
    return "HEALTHY" if essential and all(h == "HEALTHY" for h in essential) else "UNKNOWN"


def _overrides_view(annotations: Mapping[str, str], containers: Sequence[_Container]) -> Json:
    """RunTask's overrides as ECS echoes them: one container override per container."""
    given = json.loads(annotations.get(names.ANNOTATION_OVERRIDES) or "{}")
    by_name = {o["name"]: o for o in given.get("containerOverrides", [])}
    view: Json = {
        "containerOverrides": [by_name.get(c.name, {"name": c.name}) for c in containers],
        "inferenceAcceleratorOverrides": given.get("inferenceAcceleratorOverrides", []),
    }
    for key in ("cpu", "memory", "taskRoleArn", "executionRoleArn", "ephemeralStorage"):
        if given.get(key):
            view[key] = given[key]
    return view


def _task_size(value: str | None, to_amount: Callable[[str], int]) -> str | None:
    return str(to_amount(value)) if value else None


def _scheduling_times(pod: Mapping[str, Any], containers: Sequence[_Container], status: str) -> Json:
    """connectivity once bound to a node, image pulls, and startedAt once every essential
    container has started."""
    if not pod.get("spec", {}).get("nodeName"):
        return {}
    pod_status = pod.get("status") or {}
    scheduled = _condition(pod, "PodScheduled").get("lastTransitionTime") or pod_status.get("startTime")
    times: Json = {
        "connectivity": "DISCONNECTED" if _phase(pod) == "Unknown" else "CONNECTED",
        "connectivityAt": epoch_of(scheduled) or epoch_of(pod["metadata"].get("creationTimestamp")) or 0.0,
    }
    pull_started = epoch_of(pod_status.get("startTime"))
    starts = [c.started_at for c in containers]
    essential_starts = [c.started_at for c in containers if c.essential]
    if pull_started is not None:
        times["pullStartedAt"] = pull_started
    known = [start for start in starts if start is not None]
    if known:
        times["pullStoppedAt"] = min(known)
    if essential_starts and None not in essential_starts and status != "PENDING":
        times["startedAt"] = max(start for start in essential_starts if start is not None)
    return times


def _stop_fields(pod: Mapping[str, Any], containers: Sequence[_Container], status: str, stop: _Stop | None) -> Json:
    if status not in ("STOPPING", "STOPPED"):
        return {}
    code, reason = (stop.code, stop.reason) if stop else stop_reason(pod) or (None, None)
    fields: Json = {key: value for key, value in (("stopCode", code), ("stoppedReason", reason)) if value}
    stopping = [m for m in (_pod_stopping_at(pod, containers), stop.stopping_at if stop else None) if m is not None]
    if status == "STOPPING":
        if stopping:
            fields["stoppingAt"] = min(stopping)
        return fields
    finishes = [f for f in (c.finished_at for c in containers) if f is not None]
    if is_stopped(pod) and finishes:
        stopped_at = max(finishes)
    else:
        stopped_at = max([*finishes, *stopping], default=None) or _last_transition(pod)
    fields["stoppingAt"] = min([*stopping, stopped_at])
    fields["stoppedAt"] = stopped_at
    fields["executionStoppedAt"] = stopped_at
    return fields


def _pod_stopping_at(pod: Mapping[str, Any], containers: Sequence[_Container]) -> float | None:
    """When the pod began to stop: its deletion began, or its first essential container exited."""
    metadata = pod["metadata"]
    moments = [c.finished_at for c in containers if c.essential and c.finished_at is not None]
    deletion = epoch_of(metadata.get("deletionTimestamp"))
    if deletion is not None:
        moments.append(deletion - (metadata.get("deletionGracePeriodSeconds") or 0))
    return min(moments, default=None)


def _last_transition(pod: Mapping[str, Any]) -> float:
    conditions = (pod.get("status") or {}).get("conditions") or []
    moments = [m for m in (epoch_of(c.get("lastTransitionTime")) for c in conditions) if m is not None]
    return max(moments, default=None) or epoch_of(pod["metadata"].get("creationTimestamp")) or 0.0


def _fargate_fields(pod: Mapping[str, Any]) -> Json:
    fields: Json = {"platformVersion": FARGATE_PLATFORM_VERSION}
    if (pod.get("spec", {}).get("os") or {}).get("name") != "windows":
        fields["platformFamily"] = "Linux"
    size = _ephemeral_storage_gib(pod)
    fields["ephemeralStorage"] = {"sizeInGiB": size}
    fields["fargateEphemeralStorage"] = {"sizeInGiB": size}
    return fields


def _ephemeral_storage_gib(pod: Mapping[str, Any]) -> int:
    """The task's ephemeral storage is the limit pods.py puts on one container (20 GiB without)."""
    for container in pod.get("spec", {}).get("containers", []):
        limit = ((container.get("resources") or {}).get("limits") or {}).get("ephemeral-storage")
        if limit:
            return int(parse_quantity(limit) // 2**30)
    return FARGATE_DEFAULT_EPHEMERAL_GIB


def _condition(pod: Mapping[str, Any], condition_type: str) -> Mapping[str, Any]:
    conditions = (pod.get("status") or {}).get("conditions") or []
    found: Mapping[str, Any] = next((c for c in conditions if c.get("type") == condition_type), {})
    return found


def _phase(pod: Mapping[str, Any]) -> str:
    phase: str = (pod.get("status") or {}).get("phase") or "Pending"
    return phase


def _version(metadata: Mapping[str, Any]) -> int:
    resource_version = str(metadata.get("resourceVersion") or "")
    return int(resource_version) if resource_version.isdigit() else int(metadata.get("generation") or 1)


def epoch_of(text: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (UTC when it names no offset)."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
