"""ECS service deployments and service revisions, derived from the service record's deployment
history and the current `service_view`.

Pure: dicts in, dicts out.

Each entry of the record's `deployments` (see `service_to_kube.service_record`) is one ECS
deployment: it keeps the snapshot of the settings that shaped its tasks (`configuration`), its
launch type, creation time and rollout state. That entry is both
- a service revision (`service-revision/<cluster>/<service>/<digits>`): the snapshot, immutable
  once made, and
- a service deployment (`service-deployment/<cluster>/<service>/<digits>`): from the revision that
  was PRIMARY when it was created (none for CreateService) to its own,
where `<digits>` are those of its `ecs-svc/` id. The status follows the rollout state that
DescribeServices shows for the same deployment: SUCCESSFUL exactly when it is COMPLETED;
IN_PROGRESS while it is the PRIMARY one rolling out; a deployment the circuit breaker failed is
ROLLBACK_IN_PROGRESS until the deployment it restored is COMPLETED again, then
ROLLBACK_SUCCESSFUL (ROLLBACK_REQUESTED until the rollback starts, STOPPED when there is nothing
to roll back to), and so is one StopServiceDeployment rolled back (`stopped_with_rollback`); one
replaced by a newer deployment before it finished is STOPPED. Counts come
from the view's `deployments[]`; a deployment the view no longer shows has no tasks.
"""

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shim.errors import ConflictException
from shim.translate import names
from shim.translate.service_from_kube import circuit_breaker_threshold
from shim.translate.service_to_kube import (
    CIRCUIT_BREAKER_REASON,
    COMPLETED,
    FAILED,
    PRIMARY,
    circuit_breaker,
    service_record_rolled_back,
)

Json = dict[str, Any]

DEPLOYMENT_RESOURCE = "service-deployment"
REVISION_RESOURCE = "service-revision"

IN_PROGRESS = "IN_PROGRESS"
SUCCESSFUL = "SUCCESSFUL"
STOPPED = "STOPPED"
ROLLBACK_REQUESTED = "ROLLBACK_REQUESTED"
ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
ROLLBACK_SUCCESSFUL = "ROLLBACK_SUCCESSFUL"

SUPERSEDED_REASON = "ECS deployment {deployment_id} was stopped by a newer service deployment."
STOPPED_BY_USER_REASON = "Service deployment stopped and rolled back by StopServiceDeployment."
ROLLED_BACK_BY_HOOK_REASON = "Service deployment rolled back by a lifecycle hook."
SHOWN_STAGES = {"PRE_PRODUCTION_TRAFFIC_SHIFT": "PRODUCTION_TRAFFIC_SHIFT"}
"""A hook stage that ServiceDeployment.lifecycleStage has no value for, and the one it shows."""
NO_EARLIER_REVISION = "The service deployment has no earlier service revision to roll back to."
NOT_STOPPABLE = "The service deployment is not in progress: only an ongoing service deployment can be stopped."
NOTHING_TO_ROLL_BACK_TO = f"{CIRCUIT_BREAKER_REASON} No earlier deployment completed to roll back to."

_REVISION_FIELDS = ("loadBalancers", "serviceRegistries", "networkConfiguration")


def _digits(deployment_id: str) -> str:
    return deployment_id.rsplit("/", 1)[-1]


def deployment_arn(region: str, account: str, cluster_name: str, service_name: str, deployment_id: str) -> str:
    return names.arn(region, account, f"{DEPLOYMENT_RESOURCE}/{cluster_name}/{service_name}/{_digits(deployment_id)}")


def revision_arn(region: str, account: str, cluster_name: str, service_name: str, deployment_id: str) -> str:
    return names.arn(region, account, f"{REVISION_RESOURCE}/{cluster_name}/{service_name}/{_digits(deployment_id)}")


def parse_arn(arn: str, resource: str) -> tuple[str, str] | None:
    """(cluster name, service name) of a service deployment or revision ARN of kind `resource`;
    None when `arn` is not one."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "ecs":
        return None
    path = parts[5].split("/")
    if len(path) != 4 or path[0] != resource or not all(path[1:]):
        return None
    return path[1], path[2]


def deployment_id_in(record: Mapping[str, Any], arn: str) -> str | None:
    """The id of the record's deployment whose service deployment or revision `arn` names."""
    suffix = arn.rsplit("/", 1)[-1]
    return next((entry["id"] for entry in record["deployments"] if _digits(entry["id"]) == suffix), None)


class _History:
    """One service's deployment entries, read together with the view of its current state."""

    def __init__(self, record: Mapping[str, Any], view: Mapping[str, Any], region: str, account: str) -> None:
        self.record = record
        self.view = view
        self.region, self.account = region, account
        self.entries: list[Json] = sorted(record["deployments"], key=lambda entry: entry["createdAt"])
        self.shown: dict[str, Json] = {shown["id"]: shown for shown in view.get("deployments", [])}

    def revision_arn(self, entry: Mapping[str, Any]) -> str:
        return revision_arn(
            self.region, self.account, self.record["clusterName"], self.record["serviceName"], entry["id"]
        )

    def deployment_arn(self, entry: Mapping[str, Any]) -> str:
        return deployment_arn(
            self.region, self.account, self.record["clusterName"], self.record["serviceName"], entry["id"]
        )

    def rollout_state(self, entry: Mapping[str, Any]) -> str:
        shown = self.shown.get(entry["id"])
        return str((shown or entry)["rolloutState"])

    def completed_at(self, entry: Mapping[str, Any]) -> float:
        shown = self.shown.get(entry["id"])
        completed: float = entry.get("completedAt") or (shown or entry)["updatedAt"]
        return completed

    def source(self, entry: Mapping[str, Any]) -> Json | None:
        """The entry that was PRIMARY when `entry` was created: the one that last became PRIMARY
        (created, or restored by a rollback) before it."""
        created = entry["createdAt"]

        def became_primary(earlier: Mapping[str, Any]) -> float:
            restored = earlier.get("restoredAt")
            started: float = restored if restored is not None and restored < created else earlier["createdAt"]
            return started

        earlier = [other for other in self.entries if other["createdAt"] < created]
        return max(earlier, key=became_primary) if earlier else None

    def restored_by(self, entry: Mapping[str, Any]) -> Json | None:
        """The entry restored when `entry` failed (circuit breaker) or was stopped (StopServiceDeployment)."""
        failed_at = entry.get("failedAt", entry.get("stoppedAt"))
        if failed_at is None:
            return None
        restored = [
            other
            for other in self.entries
            if other["id"] != entry["id"] and other.get("restoredAt") is not None and other["restoredAt"] >= failed_at
        ]
        return min(restored, key=lambda other: other["restoredAt"]) if restored else None

    def successor(self, entry: Mapping[str, Any]) -> Json | None:
        later = [other for other in self.entries if other["createdAt"] > entry["createdAt"]]
        return later[0] if later else None

    def summary(self, entry: Mapping[str, Any]) -> Json:
        shown = self.shown.get(entry["id"]) or {}
        return {
            "arn": self.revision_arn(entry),
            "requestedTaskCount": int(shown.get("desiredCount", 0)),
            "runningTaskCount": int(shown.get("runningCount", 0)),
            "pendingTaskCount": int(shown.get("pendingCount", 0)),
        }


def service_revisions(record: Mapping[str, Any], *, region: str, account: str) -> list[Json]:
    """The ECS `ServiceRevision` of each deployment the record keeps, oldest first."""
    history = _History(record, {}, region, account)
    return [_revision(history, entry) for entry in history.entries]


def _revision(history: _History, entry: Mapping[str, Any]) -> Json:
    record = history.record
    configuration = entry.get("configuration") or {}
    revision: Json = {
        "serviceRevisionArn": history.revision_arn(entry),
        "serviceArn": names.service_arn(history.region, history.account, record["clusterName"], record["serviceName"]),
        "clusterArn": names.cluster_arn(history.region, history.account, record["clusterName"]),
        "taskDefinition": configuration.get("taskDefinition", entry["taskDefinition"]),
        "launchType": entry["launchType"],
        "loadBalancers": [],
        "serviceRegistries": [],
        "createdAt": entry["createdAt"],
    }
    revision.update({key: copy.deepcopy(configuration[key]) for key in _REVISION_FIELDS if configuration.get(key)})
    return revision


def service_deployments(record: Mapping[str, Any], view: Mapping[str, Any], *, region: str, account: str) -> list[Json]:
    """The ECS `ServiceDeployment` of each deployment the record keeps, newest first; `view` is
    the service's `service_view` now."""
    history = _History(record, view, region, account)
    return [_deployment(history, entry) for entry in reversed(history.entries)]


def _deployment(history: _History, entry: Mapping[str, Any]) -> Json:
    record = history.record
    source = history.source(entry)
    deployment: Json = {
        "serviceDeploymentArn": history.deployment_arn(entry),
        "serviceArn": names.service_arn(history.region, history.account, record["clusterName"], record["serviceName"]),
        "clusterArn": names.cluster_arn(history.region, history.account, record["clusterName"]),
        "createdAt": entry["createdAt"],
        "startedAt": entry["createdAt"],
        "updatedAt": (history.shown.get(entry["id"]) or entry)["updatedAt"],
        "sourceServiceRevisions": [] if source is None else [history.summary(source)],
        "targetServiceRevision": history.summary(entry),
        "deploymentConfiguration": copy.deepcopy(record["deploymentConfiguration"]),
        **_status(history, entry),
    }
    deployment["deploymentCircuitBreaker"] = _circuit_breaker(history, entry, deployment["status"])
    if entry.get("lifecycleStage") and deployment["status"] == IN_PROGRESS:
        deployment["lifecycleStage"] = SHOWN_STAGES.get(entry["lifecycleStage"], entry["lifecycleStage"])
        if entry.get("lifecycleHookDetails"):
            deployment["lifecycleHookDetails"] = copy.deepcopy(entry["lifecycleHookDetails"])
    return deployment


def _status(history: _History, entry: Mapping[str, Any]) -> Json:
    """status, statusReason and the times and rollback that go with them."""
    state = history.rollout_state(entry)
    shown = history.shown.get(entry["id"]) or entry
    if state == COMPLETED:
        return {
            "status": SUCCESSFUL,
            "statusReason": shown["rolloutStateReason"],
            "finishedAt": history.completed_at(entry),
        }
    if state == FAILED:
        return _failed_status(history, entry)
    if entry["status"] == PRIMARY:
        return {"status": IN_PROGRESS, "statusReason": shown["rolloutStateReason"]}
    successor = history.successor(entry)
    stopped_at = successor["createdAt"] if successor is not None else entry["updatedAt"]
    reason = SUPERSEDED_REASON.format(deployment_id=entry["id"])
    return {"status": STOPPED, "statusReason": reason, "stoppedAt": stopped_at, "finishedAt": stopped_at}


def _failed_status(history: _History, entry: Mapping[str, Any]) -> Json:
    failed_at = entry.get("failedAt", entry["updatedAt"])
    restored = history.restored_by(entry)
    if restored is None:
        can_roll_back = circuit_breaker(history.record)["rollback"] and any(
            other["rolloutState"] == COMPLETED and other["createdAt"] < entry["createdAt"] for other in history.entries
        )
        if can_roll_back:
            return {"status": ROLLBACK_REQUESTED, "statusReason": CIRCUIT_BREAKER_REASON}
        return {
            "status": STOPPED,
            "statusReason": NOTHING_TO_ROLL_BACK_TO,
            "stoppedAt": failed_at,
            "finishedAt": failed_at,
        }
    stopped = {"stoppedAt": entry["stoppedAt"]} if "stoppedAt" in entry else {}
    reason = entry.get("rolloutStateReason") or CIRCUIT_BREAKER_REASON
    rollback = {
        "reason": reason,
        "startedAt": restored["restoredAt"],
        "serviceRevisionArn": history.revision_arn(restored),
    }
    if history.rollout_state(restored) == COMPLETED:
        finished = {"finishedAt": history.completed_at(restored)}
        return {"status": ROLLBACK_SUCCESSFUL, "statusReason": reason, "rollback": rollback, **finished, **stopped}
    return {"status": ROLLBACK_IN_PROGRESS, "statusReason": reason, "rollback": rollback, **stopped}


def _circuit_breaker(history: _History, entry: Mapping[str, Any], status: str) -> Json:
    threshold = circuit_breaker_threshold(int(history.view.get("desiredCount", 0)))
    failures = int((history.shown.get(entry["id"]) or {}).get("failedTasks", 0))
    if not circuit_breaker(history.record)["enable"]:
        return {"status": "DISABLED", "failureCount": failures, "threshold": threshold}
    if history.rollout_state(entry) == FAILED and "stoppedAt" not in entry:  # not stopped by a user or hook
        return {"status": "TRIGGERED", "failureCount": max(failures, threshold), "threshold": threshold}
    monitoring = "MONITORING" if status == IN_PROGRESS else "MONITORING_COMPLETE"
    return {"status": monitoring, "failureCount": failures, "threshold": threshold}


def brief(deployment: Mapping[str, Any]) -> Json:
    """The `ServiceDeploymentBrief` ListServiceDeployments shows of a `ServiceDeployment`."""
    keys = ("serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt", "finishedAt")
    shown: Json = {key: deployment[key] for key in keys if key in deployment}
    shown["targetServiceRevisionArn"] = deployment["targetServiceRevision"]["arn"]
    shown.update({key: deployment[key] for key in ("status", "statusReason") if key in deployment})
    return shown


def listed(
    deployments: Sequence[Mapping[str, Any]],
    *,
    statuses: Sequence[str] = (),
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> list[Json]:
    """The briefs of the deployments ListServiceDeployments' filters keep, in the given order."""
    return [
        brief(deployment)
        for deployment in deployments
        if (not statuses or deployment["status"] in statuses)
        and (created_after is None or deployment["createdAt"] >= created_after.timestamp())
        and (created_before is None or deployment["createdAt"] <= created_before.timestamp())
    ]


def stopped_with_rollback(
    record: Mapping[str, Any], deployment_id: str, *, now: float, reason: str = STOPPED_BY_USER_REASON
) -> Json:
    """The record after StopServiceDeployment (ROLLBACK) of the PRIMARY deployment `deployment_id`:
    the deployment that was PRIMARY when it was created is restored, as the circuit breaker
    restores one, and the stopped one keeps its own reason and `stoppedAt` (not `failedAt`: no
    task failed)."""
    history = _History(record, {}, "", "")
    entry = next((e for e in history.entries if e["id"] == deployment_id), None)
    if entry is None or entry["status"] != PRIMARY or entry["rolloutState"] != IN_PROGRESS:
        raise ConflictException(NOT_STOPPABLE)
    source = history.source(entry)
    if source is None:
        raise ConflictException(NO_EARLIER_REVISION)
    updated = service_record_rolled_back(record, failed_id=deployment_id, restored_id=source["id"], now=now)
    stopped = next(e for e in updated["deployments"] if e["id"] == deployment_id)
    stopped["rolloutStateReason"] = reason
    stopped["stoppedAt"] = stopped.pop("failedAt")
    return updated
