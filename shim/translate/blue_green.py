"""BLUE_GREEN, LINEAR and CANARY service deployments (ECS's blue/green deployments, which shift
traffic at once or in steps): the lifecycle stages ECS moves a deployment through, and its
lifecycle hooks, told from the service's view and the clock. Pure: records, views and pods in,
records and label changes out.

A new deployment of a BLUE_GREEN service starts in PRE_SCALE_UP, its Deployment paused so that
the new template is not rolled out. In SCALE_UP its tasks (green) start in full beside the
running ones (blue), which keep all production traffic; the Deployment's minReadySeconds holds
(service_to_kube.BLUE_GREEN_HOLD_SECONDS) so that Kubernetes scales nothing down. Once every
desired green task runs, the deployment passes the stages of test traffic (there is no test
listener here: nothing moves) and enters PRODUCTION_TRAFFIC_SHIFT, where production traffic
moves to the green tasks in one step (the record's `trafficDeploymentId`, which the Kubernetes
Services select by started-by label). It bakes for `bakeTimeInMinutes` (BAKE_TIME) with the
blue tasks still running, ready to take the traffic back; then the hold is lifted and
Kubernetes removes the blue tasks (CLEAN_UP); the deployment is COMPLETED once they are gone. A
rollback (circuit breaker, StopServiceDeployment, a hook) moves traffic back at once
(service_to_kube.service_record_rolled_back).

LINEAR and CANARY shift production traffic in steps (service_to_kube.traffic_steps: stepPercent
at a time, or canaryPercent then the rest), waiting their step bake time after each step but
the last. Kubernetes has no weighted Service, so a step's share is told by which tasks serve:
while a step splits traffic (the record's `trafficSplit`), the Services select the label
`ecs.shim.io/serving`, which the reconciler puts on round(desired x percent / 100) green tasks (at
least one) and on as many blue tasks as make up the desired count (`serving_label_changes`): with
N tasks a share moves in steps of 1/N, the closest the task count allows to ECS's percent.

Lifecycle hooks: a deployment entering a stage that hooks name waits there until each hook is
resolved. A PAUSE hook waits for ContinueServiceDeployment, as on ECS; an AWS_LAMBDA hook's
function cannot run here, so it waits the same way (AWAITING_ACTION) for ContinueServiceDeployment
to stand in for the function's answer. A hook not resolved within its timeout (default 1440
minutes) takes its timeout action (default ROLLBACK).
"""

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from shim.errors import ClientException, InvalidParameterException
from shim.translate import names
from shim.translate.service_deployments import ROLLED_BACK_BY_HOOK_REASON, stopped_with_rollback
from shim.translate.service_to_kube import (
    BAKE_TIME,
    BLUE_GREEN_STAGES,
    CLEAN_UP,
    IN_PROGRESS,
    LABEL_SERVING,
    PRIMARY,
    PRODUCTION_TRAFFIC_SHIFT,
    SCALE_UP,
    blue_green_stage,
    is_held,
    primary_deployment,
    shifts_traffic,
    template_deployment_id,
    traffic_steps,
)

Json = dict[str, Any]

AWAITING_ACTION = "AWAITING_ACTION"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
CONTINUE = "CONTINUE"
ROLLBACK = "ROLLBACK"
DEFAULT_HOOK_TIMEOUT_MINUTES = 1440
NOT_PAUSED = "The service deployment is not paused at a lifecycle hook."


def blue_green_advanced(record: Mapping[str, Any], view: Mapping[str, Any] | None, *, now: float) -> Json | None:
    """The record with its BLUE_GREEN deployment moved on as far as it can go now (entering stages,
    waiting on hooks, timing hooks out), or None while it stays where it is (or the service is not
    BLUE_GREEN, or its deployment not in progress). `view` is the service's view (None: not
    known, so the deployment cannot leave SCALE_UP)."""
    stage = blue_green_stage(record)
    if stage is None or stage == CLEAN_UP or primary_deployment(record)["rolloutState"] != IN_PROGRESS:
        return None
    updated = copy.deepcopy(dict(record))
    entry = primary_deployment(updated)
    if "lifecycleStageStartedAt" not in entry:
        _enter(updated, entry, stage, now)
    while True:
        waiting = [hook for hook in entry.get("lifecycleHookDetails", []) if hook["status"] == AWAITING_ACTION]
        expired = [hook for hook in waiting if now >= hook["expiresAt"]]
        for hook in expired:
            hook["status"] = TIMED_OUT
        if any(hook["timeoutAction"] == ROLLBACK for hook in expired):
            return stopped_with_rollback(updated, entry["id"], now=now, reason=ROLLED_BACK_BY_HOOK_REASON)
        if len(waiting) > len(expired):
            break
        if entry["lifecycleStage"] == PRODUCTION_TRAFFIC_SHIFT and updated.get("trafficSplit"):
            if not _next_step_due(entry, now):
                break
            _shift(updated, entry, entry["trafficStep"] + 1, now)
            continue
        if not _may_leave(updated, entry, view, now):
            break
        _enter(updated, entry, BLUE_GREEN_STAGES[BLUE_GREEN_STAGES.index(entry["lifecycleStage"]) + 1], now)
    return updated if updated != record else None


def hook_resolved(record: Mapping[str, Any], deployment_id: str, hook_id: str, action: str, *, now: float) -> Json:
    """The record after ContinueServiceDeployment: the waiting hook `hook_id` succeeded and the
    deployment moves on (once no other hook of its stage waits), or it rolls back."""
    updated = copy.deepcopy(dict(record))
    entry: Json = next((e for e in updated["deployments"] if e["id"] == deployment_id), {})
    waiting = [hook for hook in entry.get("lifecycleHookDetails", []) if hook["status"] == AWAITING_ACTION]
    if entry.get("status") != PRIMARY or entry.get("rolloutState") != IN_PROGRESS or not waiting:
        raise ClientException(NOT_PAUSED)
    chosen = [hook for hook in waiting if hook["hookId"] == hook_id]
    if not chosen:
        raise InvalidParameterException(f"The service deployment is not waiting on a lifecycle hook {hook_id}.")
    for hook in chosen:
        hook["status"] = SUCCEEDED if action == CONTINUE else FAILED
    if action == ROLLBACK:
        return stopped_with_rollback(updated, deployment_id, now=now, reason=ROLLED_BACK_BY_HOOK_REASON)
    return blue_green_advanced(updated, None, now=now) or updated


def _may_leave(record: Mapping[str, Any], entry: Mapping[str, Any], view: Mapping[str, Any] | None, now: float) -> bool:
    stage = entry["lifecycleStage"]
    if stage == SCALE_UP:
        return view is not None and _all_running(view, entry["id"])
    if stage == BAKE_TIME:
        bake_seconds = 60 * int(record["deploymentConfiguration"].get("bakeTimeInMinutes") or 0)
        return bool(now >= entry["lifecycleStageStartedAt"] + bake_seconds)
    return stage != CLEAN_UP


def superseded_replica_sets(record: Mapping[str, Any], replica_sets: list[Json]) -> list[str]:
    """The ReplicaSets whose tasks must go at once while a traffic-shifting deployment is under
    way: those of neither the new deployment (green), nor the one that served when it began
    (blue), nor the one production traffic is on: a deployment superseded before it completed.
    Kubernetes would not remove them itself while the Deployment is held, or would remove the
    oldest first, which may be the one serving."""
    if not is_held(record):
        return []
    primary = primary_deployment(record)
    kept = {primary["id"], primary.get("blueDeploymentId"), record.get("trafficDeploymentId")}
    return [
        rs["metadata"]["name"]
        for rs in replica_sets
        if int((rs.get("spec") or {}).get("replicas") or 0) > 0 and template_deployment_id(rs) not in kept
    ]


def serving_label_changes(record: Mapping[str, Any], pods: list[Json]) -> dict[str, str | None]:
    """Pod name -> the `ecs.shim.io/serving` label the pod must get ("true") or lose (None) for
    the traffic split of a LINEAR or CANARY step (see the module's docstring); none without one."""
    split = record.get("trafficSplit") if shifts_traffic(record) else None
    serving: set[str] = set()
    if split:
        desired = int(record.get("desiredCount") or 0)
        live = sorted((p for p in pods if not p["metadata"].get("deletionTimestamp")), key=_pod_name)
        green_label = names.label_value(split["deploymentId"])
        green = [p for p in live if _labels(p).get(names.LABEL_STARTED_BY) == green_label]
        blue = [p for p in live if _labels(p).get(names.LABEL_STARTED_BY) != green_label]
        green_count = min(len(green), max(1, round(desired * split["percent"] / 100)))
        serving = {_pod_name(p) for p in green[:green_count] + blue[: max(0, desired - green_count)]}
    changes: dict[str, str | None] = {}
    for pod in pods:
        has_label = _labels(pod).get(LABEL_SERVING) == "true"
        if (_pod_name(pod) in serving) != has_label:
            changes[_pod_name(pod)] = None if has_label else "true"
    return changes


def _pod_name(pod: Mapping[str, Any]) -> str:
    return str(pod["metadata"]["name"])


def _labels(pod: Mapping[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = pod["metadata"].get("labels") or {}
    return labels


def _enter(record: Json, entry: Json, stage: str, now: float) -> None:
    entry.update(lifecycleStage=stage, lifecycleStageStartedAt=now, updatedAt=now)
    if stage == PRODUCTION_TRAFFIC_SHIFT:
        # The steps are fixed as the shift begins: a change of the settings meanwhile applies to
        # the next deployment, as the rest of deploymentConfiguration does.
        percents, step_seconds = traffic_steps(record["deploymentConfiguration"])
        entry.update(trafficSteps=percents, trafficStepSeconds=step_seconds)
        _shift(record, entry, 0, now)
    hooks = record["deploymentConfiguration"].get("lifecycleHooks") or []
    entry["lifecycleHookDetails"] = [
        _waiting_hook(entry["id"], stage, index, hook, now)
        for index, hook in enumerate(hooks)
        if stage in hook.get("lifecycleStages", [])
    ]


def _shift(record: Json, entry: Json, step: int, now: float) -> None:
    """Production traffic moved to the step `step` of the deployment's traffic steps."""
    percent = entry["trafficSteps"][step]
    entry.update(trafficStep=step, trafficShiftedAt=now, updatedAt=now)
    if percent < 100:
        record["trafficSplit"] = {"deploymentId": entry["id"], "percent": percent}
        return
    record.pop("trafficSplit", None)
    record["trafficDeploymentId"] = entry["id"]


def _next_step_due(entry: Mapping[str, Any], now: float) -> bool:
    return bool(now >= entry["trafficShiftedAt"] + entry["trafficStepSeconds"])


def _waiting_hook(deployment_id: str, stage: str, index: int, hook: Mapping[str, Any], now: float) -> Json:
    timeout = hook.get("timeoutConfiguration") or {}
    detail: Json = {
        "hookId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{deployment_id}#{stage}#{index}")),
        "targetType": hook.get("targetType", "AWS_LAMBDA"),
        "status": AWAITING_ACTION,
        "expiresAt": now + 60 * int(timeout.get("timeoutInMinutes") or DEFAULT_HOOK_TIMEOUT_MINUTES),
        "timeoutAction": timeout.get("action") or ROLLBACK,
    }
    if hook.get("hookTargetArn"):
        detail["targetArn"] = hook["hookTargetArn"]
    return detail


def _all_running(view: Mapping[str, Any], deployment_id: str) -> bool:
    shown = next((d for d in view.get("deployments", []) if d["id"] == deployment_id and d["status"] == PRIMARY), None)
    return shown is not None and shown["runningCount"] >= shown["desiredCount"]
