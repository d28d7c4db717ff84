"""Kubernetes -> ECS for services: the `Service` shape DescribeServices shows, read back from the
workload (Deployment or DaemonSet), its ReplicaSets, its pods and the service's stopped tasks;
its deployments, rollout states and events; the circuit breaker's verdict and rollback target;
why the service scheduler stopped a task. `service_to_kube` holds the record and the manifests.

Pure: Kubernetes objects in (their camelCase JSON shape), ECS shapes out.

Deployments in the view: one per ECS deployment whose ReplicaSets still want or have pods, plus
the PRIMARY. A ReplicaSet or pod belongs to the deployment named by the `ecs.shim.io/deployment-id`
annotation of its (pod template) metadata. A pod is running when it is Running and Ready, pending
while it is alive but not yet that; failedTasks counts failed pods, the restarts of pods that
are not ready now (ECS counts consecutive failures and forgets them once a task is healthy) and the
deployment's tasks stopped since it started (or was restored) because they failed: their stopped-
task records (`stopped_tasks`, the STOPPED task views) with stopCode EssentialContainerExited or
TaskFailedToStart. Those records matter because a crashing service pod is stopped and replaced by
its ReplicaSet, taking its own restart count with it.
rolloutState: COMPLETED when the PRIMARY runs all its desired tasks on the current template, each
for STEADY_SECONDS, and no other deployment has any; FAILED when the circuit breaker is on and
the PRIMARY's failedTasks reaches ECS's threshold (half the desired count, between 3 and 200), or
Kubernetes reports
ProgressDeadlineExceeded for the PRIMARY's ReplicaSet (a DaemonSet: the deadline passed since the
deployment started without completing), or the record says it failed. A COMPLETED or FAILED state,
once recorded by `service_record_observed` / `service_record_rolled_back`, stays.

Events are derived too: task starts from pod creation times, task stops from pods being deleted,
deployment completed / failed / rolled back from the times the record keeps, and the steady state
from when the last running task became ready. Events are immutable, as on ECS: an event's id is
a UUID5 of the service ARN and the fact it tells (tasks started or stopped in a given second, a
deployment completed...), the reconciler keeps every event it has seen in the record, and a kept
event wins over the same fact derived again. Task starts and stops are told only once their
second is EVENT_SETTLE_SECONDS old, so a batch is whole before it is first shown. A steady state is
told once: not again while the newest kept event already tells it.
"""

import copy
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shim.translate import names
from shim.translate.service_to_kube import (
    ACTIVE,
    ANNOTATION_DEPLOYMENT_ID,
    CIRCUIT_BREAKER_REASON,
    COMPLETED,
    DAEMON,
    DEFAULT_LAUNCH_TYPE,
    DRAINING,
    FAILED,
    IN_PROGRESS,
    INACTIVE,
    PRIMARY,
    annotations_of,
    circuit_breaker,
    in_progress_reason,
    is_held,
    primary_deployment,
    progress_deadline_seconds,
    template_deployment_id,
)
from shim.translate.task_from_pod import (
    ESSENTIAL_CONTAINER_EXITED,
    TASK_FAILED_TO_START,
    epoch_of,
    is_stopped,
    task_health,
    task_id_of,
)
from shim.translate.zone_rebalancing import DISABLED, rebalancing_events

Json = dict[str, Any]

MAX_EVENTS = 100
EVENT_SETTLE_SECONDS = 2.0
"""Age of a second before the tasks started or stopped in it are told as one event."""
STEADY_SECONDS = 2.0
"""How long a deployment's tasks must have been running before it is COMPLETED: a task whose
container crashes right after it starts is RUNNING for a moment, and would otherwise complete a
deployment the circuit breaker must fail."""
STEADY_STATE = "has reached a steady state."
CIRCUIT_BREAKER_THRESHOLD_BOUNDS = (3, 200)
FAILED_TASK_STOP_CODES = (ESSENTIAL_CONTAINER_EXITED, TASK_FAILED_TO_START)
"""Stop codes of tasks that count as failed for the circuit breaker."""
SCALING_ACTIVITY_REASON = "Scaling activity initiated by (deployment {deployment_id})"
"""ECS's stoppedReason of a service task stopped by a rollout or a scale-in."""
UNHEALTHY_STOP_REASON = "Task failed container health checks"
"""ECS's stoppedReason of a service task its scheduler stopped for being UNHEALTHY."""

_TIMED_OUT_REPLICA_SET = re.compile(r'ReplicaSet "([^"]+)"')


# Reading Kubernetes objects


def _is_alive(pod: Mapping[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and _phase(pod) in ("Pending", "Running")


def _phase(pod: Mapping[str, Any]) -> str:
    phase: str = (pod.get("status") or {}).get("phase") or "Pending"
    return phase


def _ready_condition(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def _ready_since(pod: Mapping[str, Any]) -> float | None:
    return epoch_of((_ready_condition(pod) or {}).get("lastTransitionTime"))


def _is_running(pod: Mapping[str, Any]) -> bool:
    ready = _ready_condition(pod)
    return _is_alive(pod) and _phase(pod) == "Running" and ready is not None and ready.get("status") == "True"


def running_pods(pods: Iterable[Json]) -> list[Json]:
    """The pods whose tasks ECS counts as RUNNING: Running, Ready and not stopping."""
    return [pod for pod in pods if _is_running(pod)]


def live_pods(pods: Iterable[Json]) -> list[Json]:
    """The pods whose tasks are PENDING or RUNNING (not stopping)."""
    return [pod for pod in pods if _is_alive(pod)]


def _failures(pod: Mapping[str, Any]) -> int:
    if _phase(pod) == "Failed":
        return 1
    if _is_running(pod):
        return 0
    status = pod.get("status") or {}
    statuses = [*(status.get("containerStatuses") or []), *(status.get("initContainerStatuses") or [])]
    return sum(int(s.get("restartCount") or 0) for s in statuses)


@dataclass
class _Rollout:
    """One ECS deployment as Kubernetes shows it: its record entry, ReplicaSets and pods."""

    entry: Json
    replica_sets: list[Json] = field(default_factory=list)
    pods: list[Json] = field(default_factory=list)
    failed_stopped_tasks: list[Json] = field(default_factory=list)

    @property
    def live_pods(self) -> list[Json]:
        return live_pods(self.pods)

    @property
    def running(self) -> int:
        return sum(1 for pod in self.pods if _is_running(pod))

    def steady(self, now: float | None) -> int:
        """The running tasks that have been running STEADY_SECONDS by `now` (all, without one)."""
        if now is None:
            return self.running
        return sum(1 for pod in self.pods if _is_running(pod) and (_ready_since(pod) or now) <= now - STEADY_SECONDS)

    @property
    def pending(self) -> int:
        return len(self.live_pods) - self.running

    @property
    def failed_tasks(self) -> int:
        return sum(_failures(pod) for pod in self.pods) + len(self.failed_stopped_tasks)

    @property
    def wanted_replicas(self) -> int:
        return sum(
            max(int(rs.get("spec", {}).get("replicas") or 0), int(rs.get("status", {}).get("replicas") or 0))
            for rs in self.replica_sets
        )

    @property
    def has_tasks(self) -> bool:
        return bool(self.live_pods) or self.wanted_replicas > 0


def _rollouts(
    record: Mapping[str, Any],
    replica_sets: Sequence[Json],
    pod_list: Sequence[Json],
    stopped_tasks: Sequence[Json] = (),
) -> dict[str, _Rollout]:
    rollouts = {d["id"]: _Rollout(copy.deepcopy(d)) for d in record["deployments"]}
    for replica_set in replica_sets:
        deployment_id = template_deployment_id(replica_set)
        if deployment_id:
            _rollout_for(rollouts, deployment_id, replica_set, replica_set["spec"]["template"]).replica_sets.append(
                replica_set
            )
    for pod in pod_list:
        deployment_id = annotations_of(pod["metadata"]).get(ANNOTATION_DEPLOYMENT_ID)
        if deployment_id:
            _rollout_for(rollouts, deployment_id, pod, pod).pods.append(pod)
    pod_task_ids = {task_id_of(pod) for pod in pod_list}
    for task in stopped_tasks:
        rollout = rollouts.get(task.get("startedBy") or "")
        if rollout is not None and _failed_since(task, _rollout_started(rollout.entry), pod_task_ids):
            rollout.failed_stopped_tasks.append(task)
    return rollouts


def _rollout_started(entry: Mapping[str, Any]) -> float:
    started: float = entry.get("restoredAt", entry["createdAt"])
    return started


def _failed_since(task: Mapping[str, Any], since: float, pod_task_ids: set[str]) -> bool:
    """A stopped task that failed after `since`, and whose pod (counted on its own) is gone."""
    return (
        (task.get("stopCode") in FAILED_TASK_STOP_CODES or task.get("stoppedReason") == UNHEALTHY_STOP_REASON)
        and float(task.get("stoppingAt") or task.get("stoppedAt") or 0) >= since
        and task["taskArn"].rsplit("/", 1)[-1] not in pod_task_ids
    )


def _rollout_for(rollouts: dict[str, _Rollout], deployment_id: str, owner: Json, template: Json) -> _Rollout:
    """The rollout of `deployment_id`; one the record no longer lists is rebuilt from `owner`."""
    if deployment_id not in rollouts:
        annotations = annotations_of(template.get("metadata"))
        created = epoch_of(owner["metadata"].get("creationTimestamp")) or 0.0
        rollouts[deployment_id] = _Rollout(
            {
                "id": deployment_id,
                "status": ACTIVE,
                "taskDefinition": annotations.get(names.ANNOTATION_TASK_DEFINITION_ARN, ""),
                "createdAt": created,
                "updatedAt": created,
                "launchType": annotations.get(names.ANNOTATION_LAUNCH_TYPE, DEFAULT_LAUNCH_TYPE),
                "rolloutState": IN_PROGRESS,
                "rolloutStateReason": in_progress_reason(deployment_id),
            }
        )
    return rollouts[deployment_id]


@dataclass(frozen=True)
class _ServiceState:
    """Everything the view and the circuit breaker read about one service."""

    record: Mapping[str, Any]
    workload: Mapping[str, Any] | None
    rollouts: dict[str, _Rollout]
    now: float | None
    stopped_tasks: Sequence[Json] = ()

    @classmethod
    def of(
        cls,
        record: Mapping[str, Any],
        workload: Mapping[str, Any] | None,
        replica_sets: Sequence[Json],
        pod_list: Sequence[Json],
        now: float | None,
        stopped_tasks: Sequence[Json] = (),
    ) -> "_ServiceState":
        return cls(record, workload, _rollouts(record, replica_sets, pod_list, stopped_tasks), now, stopped_tasks)

    @property
    def primary(self) -> _Rollout:
        return self.rollouts[primary_deployment(self.record)["id"]]

    @property
    def others(self) -> list[_Rollout]:
        primary_id = self.primary.entry["id"]
        return [rollout for rollout in self.rollouts.values() if rollout.entry["id"] != primary_id]

    @property
    def desired(self) -> int:
        if self.record["status"] != ACTIVE:
            return 0
        if self.record["schedulingStrategy"] == DAEMON:
            return int(((self.workload or {}).get("status") or {}).get("desiredNumberScheduled") or 0)
        return int(self.record["desiredCount"])

    @property
    def workload_current(self) -> bool:
        """The workload runs the PRIMARY's template and its status describes that spec."""
        if self.workload is None or template_deployment_id(self.workload) != self.primary.entry["id"]:
            return False
        metadata, status = self.workload["metadata"], self.workload.get("status") or {}
        return int(status.get("observedGeneration") or 0) >= int(metadata.get("generation") or 0)

    def rollout_state(self) -> str:
        recorded = self.primary.entry["rolloutState"]
        if recorded != IN_PROGRESS:
            return str(recorded)
        if self.circuit_breaker_tripped():
            return FAILED
        return COMPLETED if self.complete() else IN_PROGRESS

    def complete(self) -> bool:
        """All desired tasks run on the current template, no other deployment has any, and a
        traffic-shifting deployment has passed its stages (it completes in CLEAN_UP)."""
        return (
            self.workload_current
            and not is_held(self.record)
            and self.primary.steady(self.now) >= self.desired
            and not any(rollout.has_tasks for rollout in self.others)
        )

    def circuit_breaker_tripped(self) -> bool:
        if not circuit_breaker(self.record)["enable"]:
            return False
        if self.primary.failed_tasks >= circuit_breaker_threshold(self.desired):
            return True
        if self.record["schedulingStrategy"] == DAEMON:
            started = self.primary.entry["updatedAt"]
            overdue = self.now is not None and self.now - started > progress_deadline_seconds(self.record)
            return overdue and not self.complete()
        return self._progress_deadline_exceeded()

    def _progress_deadline_exceeded(self) -> bool:
        if not self.workload_current:
            return False
        assert self.workload is not None
        conditions = (self.workload.get("status") or {}).get("conditions") or []
        progressing = next((c for c in conditions if c.get("type") == "Progressing"), None)
        if progressing is None or progressing.get("reason") != "ProgressDeadlineExceeded":
            return False
        named = _TIMED_OUT_REPLICA_SET.search(progressing.get("message") or "")
        if named is None:
            return True
        return any(rs["metadata"]["name"] == named[1] for rs in self.primary.replica_sets)

    def steady_since(self) -> float:
        """When the service last became steady: its running tasks ready, its rollout settled."""
        times = [self.primary.entry["updatedAt"]]
        times += [_ready_since(pod) for pod in self.primary.pods if _is_running(pod)]
        for condition in ((self.workload or {}).get("status") or {}).get("conditions") or []:
            times += [epoch_of(condition.get("lastUpdateTime")), epoch_of(condition.get("lastTransitionTime"))]
        return max(time for time in times if time is not None)


def circuit_breaker_threshold(desired: int) -> int:
    """Failed tasks that fail a deployment: half the desired count, at least 3, at most 200."""
    low, high = CIRCUIT_BREAKER_THRESHOLD_BOUNDS
    return min(high, max(low, math.ceil(desired / 2)))


# Views


def service_view(
    record: Mapping[str, Any],
    workload: Mapping[str, Any] | None,
    replica_sets: list[Json],
    pods: list[Json],
    *,
    region: str,
    account: str,
    now: float,
    include_tags: bool = False,
    stopped_tasks: Sequence[Json] = (),
) -> Json:
    """The ECS `Service` shape of the service, from its workload, ReplicaSets, pods and the
    STOPPED views of its tasks that were stopped (`stopped_tasks`)."""
    state = _ServiceState.of(record, workload, replica_sets, pods, now, stopped_tasks)
    view = service_settings_view(record, pods, region=region, account=account, include_tags=include_tags)
    view.update(
        desiredCount=state.desired,
        runningCount=sum(rollout.running for rollout in state.rollouts.values()),
        pendingCount=sum(rollout.pending for rollout in state.rollouts.values()),
        taskDefinition=state.primary.entry["taskDefinition"],
        deployments=_deployment_views(state),
    )
    view["events"] = _events(state, view["serviceArn"], stable=record["status"] == ACTIVE and is_stable(view))
    return view


def service_settings_view(
    record: Mapping[str, Any], pods: Sequence[Json], *, region: str, account: str, include_tags: bool
) -> Json:
    """The fields of the ECS `Service` shape that its record holds (and its status, which its
    `pods` end), without its counts, deployments or events."""
    cluster_name = record["clusterName"]
    view: Json = {
        "serviceArn": names.service_arn(region, account, cluster_name, record["serviceName"]),
        "serviceName": record["serviceName"],
        "clusterArn": names.cluster_arn(region, account, cluster_name),
        "loadBalancers": copy.deepcopy(record.get("loadBalancers", [])),
        "serviceRegistries": copy.deepcopy(record.get("serviceRegistries", [])),
        "status": INACTIVE if record["status"] == DRAINING and not pods else record["status"],
        "launchType": record["launchType"],
        "deploymentConfiguration": copy.deepcopy(record["deploymentConfiguration"]),
        "deployments": [],
        "events": [],
        "createdAt": record["createdAt"],
        "placementConstraints": copy.deepcopy(record.get("placementConstraints", [])),
        "placementStrategy": copy.deepcopy(record.get("placementStrategy", [])),
        "schedulingStrategy": record["schedulingStrategy"],
        "deploymentController": copy.deepcopy(record["deploymentController"]),
        "createdBy": record["createdBy"],
        "enableECSManagedTags": record["enableECSManagedTags"],
        "propagateTags": record["propagateTags"],
        "enableExecuteCommand": bool(record.get("enableExecuteCommand")),
        "availabilityZoneRebalancing": record.get("availabilityZoneRebalancing") or DISABLED,
    }
    for key in ("networkConfiguration", "healthCheckGracePeriodSeconds", "roleArn"):
        if record.get(key) is not None:
            view[key] = copy.deepcopy(record[key])
    if include_tags:
        view["tags"] = copy.deepcopy(record.get("tags", []))
    return view


def is_stable(view: Mapping[str, Any]) -> bool:
    """What boto3's services_stable waiter checks: one deployment, as many running as desired."""
    return len(view["deployments"]) == 1 and view["runningCount"] == view["desiredCount"]


def _deployment_views(state: _ServiceState) -> list[Json]:
    primary = state.primary
    others = sorted((r for r in state.others if r.has_tasks), key=lambda r: -r.entry["createdAt"])
    views = [_deployment_view(primary, PRIMARY, state.desired, state)]
    views += [_deployment_view(rollout, ACTIVE, _active_desired(rollout, state), state) for rollout in others]
    return views


def _active_desired(rollout: _Rollout, state: _ServiceState) -> int:
    if state.record["schedulingStrategy"] == DAEMON:
        return len(rollout.live_pods)
    return sum(int(rs.get("spec", {}).get("replicas") or 0) for rs in rollout.replica_sets)


def _deployment_view(rollout: _Rollout, status: str, desired: int, state: _ServiceState) -> Json:
    entry = rollout.entry
    rollout_state, reason, updated_at = entry["rolloutState"], entry["rolloutStateReason"], entry["updatedAt"]
    if status == PRIMARY:
        rollout_state = state.rollout_state()
        if rollout_state != entry["rolloutState"]:
            reason = _reason(rollout_state, entry["id"])
        if rollout_state == COMPLETED and entry["rolloutState"] == IN_PROGRESS:
            updated_at = max(updated_at, state.steady_since())
    view: Json = {
        "id": entry["id"],
        "status": status,
        "taskDefinition": entry["taskDefinition"],
        "desiredCount": desired,
        "pendingCount": rollout.pending,
        "runningCount": rollout.running,
        "failedTasks": rollout.failed_tasks,
        "createdAt": entry["createdAt"],
        "updatedAt": updated_at,
        "launchType": entry["launchType"],
        "rolloutState": rollout_state,
        "rolloutStateReason": reason,
    }
    network = (entry.get("configuration") or {}).get("networkConfiguration")
    if network:
        view["networkConfiguration"] = copy.deepcopy(network)
    return view


def _reason(rollout_state: str, deployment_id: str) -> str:
    if rollout_state == FAILED:
        return CIRCUIT_BREAKER_REASON
    if rollout_state == COMPLETED:
        return f"ECS deployment {deployment_id} completed."
    return in_progress_reason(deployment_id)


# Events


def _events(state: _ServiceState, service_arn: str, *, stable: bool) -> list[Json]:
    """The service's events, newest first: those the record keeps, then any fact derived from
    the workload that none of them has told yet. An event's id comes from the fact it tells
    (`_event_id`), so once kept its message never changes, and a new fact is a new event."""
    kept = state.record.get("events", [])
    events = {event["id"]: dict(event) for event in kept}
    newest = max((event["createdAt"] for event in kept), default=None)
    still_steady = any(e["createdAt"] == newest and e["message"].endswith(STEADY_STATE) for e in kept)
    for key, (time, message) in _derived_events(state, stable=stable).items():
        event_id = _event_id(service_arn, key)
        if not (still_steady and message.endswith(STEADY_STATE)):
            events.setdefault(event_id, {"id": event_id, "createdAt": time, "message": message})
    return sorted(events.values(), key=lambda event: (-event["createdAt"], event["message"]))[:MAX_EVENTS]


def _event_id(service_arn: str, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{service_arn}#{key}"))


def _derived_events(state: _ServiceState, *, stable: bool) -> dict[str, tuple[float, str]]:
    """Event key -> (time, message) for each fact the workload and record show. Task starts and
    stops are batched by second, and only once that second is `EVENT_SETTLE_SECONDS` old, so a
    batch is complete before it is first told."""
    service = f"(service {state.record['serviceName']})"
    all_pods = [pod for rollout in state.rollouts.values() for pod in rollout.pods]
    settled = None if state.now is None else state.now - EVENT_SETTLE_SECONDS
    found: dict[str, tuple[float, str]] = {}
    found.update(_task_events(all_pods, f"{service} has started", "tasks", _created_at, "started", settled))
    stopping = [p for p in all_pods if p["metadata"].get("deletionTimestamp")]
    found.update(_task_events(stopping, f"{service} has stopped", "running tasks", _stopped_at, "stopped", settled))
    for deployment in state.record["deployments"]:
        found.update(_deployment_events(service, deployment))
    found.update(rebalancing_events(state.record["serviceName"], state.record.get("zoneRebalancing", [])))
    found.update(_unhealthy_task_events(service, state.stopped_tasks))
    if stable:
        found[f"steady@{state.steady_since()}"] = (state.steady_since(), f"{service} {STEADY_STATE}")
    primary = state.primary.entry
    if state.rollout_state() == COMPLETED and "completedAt" not in primary:
        found[f"completed:{primary['id']}"] = (
            state.steady_since(),
            f"{service} (deployment {primary['id']}) deployment completed.",
        )
    return found


def _deployment_events(service: str, deployment: Mapping[str, Any]) -> dict[str, tuple[float, str]]:
    deployment_id = deployment["id"]
    events: dict[str, tuple[float, str]] = {}
    if "completedAt" in deployment:
        message = f"{service} (deployment {deployment_id}) deployment completed."
        events[f"completed:{deployment_id}"] = (deployment["completedAt"], message)
    if "failedAt" in deployment:
        message = f"{service} (deployment {deployment_id}) deployment failed: tasks failed to start."
        events[f"failed:{deployment_id}"] = (deployment["failedAt"], message)
    if "restoredAt" in deployment:
        message = f"{service} rolling back to deployment {deployment_id}."
        events[f"restored:{deployment_id}@{deployment['restoredAt']}"] = (deployment["restoredAt"], message)
    return events


def _unhealthy_task_events(service: str, stopped_tasks: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, str]]:
    events: dict[str, tuple[float, str]] = {}
    for task in stopped_tasks:
        if task.get("stoppedReason") == UNHEALTHY_STOP_REASON:
            task_id = task["taskArn"].rsplit("/", 1)[-1]
            moment = float(task.get("stoppingAt") or task.get("stoppedAt") or 0)
            events[f"unhealthy:{task_id}"] = (moment, f"{service} (task {task_id}) failed container health checks.")
    return events


def _task_events(
    pod_list: Iterable[Mapping[str, Any]],
    prefix: str,
    noun: str,
    time_of: Callable[[Mapping[str, Any]], float | None],
    kind: str,
    settled: float | None,
) -> dict[str, tuple[float, str]]:
    """Pods that started (or stopped) in the same second, up to `settled`, as one ECS event
    listing their tasks."""
    batches: dict[float, list[str]] = {}
    for pod in pod_list:
        time = time_of(pod)
        if time is not None and (settled is None or time <= settled):
            batches.setdefault(time, []).append(task_id_of(pod))
    return {
        f"{kind}@{time}": (time, f"{prefix} {len(ids)} {noun}: {' '.join(f'(task {i})' for i in sorted(ids))}.")
        for time, ids in batches.items()
    }


def _created_at(pod: Mapping[str, Any]) -> float | None:
    return epoch_of(pod["metadata"].get("creationTimestamp"))


def _stopped_at(pod: Mapping[str, Any]) -> float | None:
    """When the pod was asked to stop: its deletion deadline minus its grace period."""
    deadline = epoch_of(pod["metadata"].get("deletionTimestamp"))
    if deadline is None:
        return None
    return deadline - int(pod["metadata"].get("deletionGracePeriodSeconds") or 0)


# Tasks the service scheduler stops


def scaling_stop_reason(pod: Mapping[str, Any]) -> str | None:
    """Why ECS stopped the service task of `pod`, a pod going (deleted, or being deleted) without
    having stopped on its own: its ReplicaSet or DaemonSet removed it in a rollout or a scale-in,
    which ECS reports as scaling activity of the task's deployment. None for other pods."""
    deployment_id = annotations_of(pod["metadata"]).get(ANNOTATION_DEPLOYMENT_ID)
    if deployment_id is None or is_stopped(pod):
        return None
    return SCALING_ACTIVITY_REASON.format(deployment_id=deployment_id)


def unhealthy_tasks(record: Mapping[str, Any], pods: Iterable[Json], now: float) -> list[Json]:
    """The service's pods whose tasks ECS's service scheduler stops and replaces for their health:
    UNHEALTHY as of `now`, and started more than healthCheckGracePeriodSeconds ago (for that long
    after a task starts, ECS ignores its failed health checks)."""
    grace = float(record.get("healthCheckGracePeriodSeconds") or 0)
    return [
        pod
        for pod in pods
        if _is_alive(pod)
        and (epoch_of((pod.get("status") or {}).get("startTime")) or now) <= now - grace
        and task_health(pod, now) == "UNHEALTHY"
    ]


# Circuit breaker


def rollback_target(
    record: Mapping[str, Any],
    replica_sets: list[Json],
    workload: Mapping[str, Any] | None = None,
    pods: Sequence[Json] = (),
    *,
    now: float | None = None,
    stopped_tasks: Sequence[Json] = (),
) -> Json | None:
    """`{"id", "taskDefinition"}` of the last COMPLETED deployment to return to, when the PRIMARY
    deployment failed and the circuit breaker's rollback is on; else None.

    The PRIMARY failed when the record says so, or when the workload (Deployment or DaemonSet),
    its ReplicaSets, pods and stopped tasks show the breaker tripped (see the module docstring).
    """
    if not circuit_breaker(record)["rollback"]:
        return None
    state = _ServiceState.of(record, workload, replica_sets, list(pods), now, stopped_tasks)
    primary = state.primary.entry
    if state.rollout_state() != FAILED:
        return None
    target = next(
        (d for d in reversed(record["deployments"]) if d["rolloutState"] == COMPLETED and d["id"] != primary["id"]),
        None,
    )
    return None if target is None else {"id": target["id"], "taskDefinition": target["taskDefinition"]}
