"""BLUE_GREEN service deployments: the stages ECS moves a deployment through, told from the
service's view and the clock. Pure: records and views in, records out.

A new deployment of a BLUE_GREEN service starts in SCALE_UP: its tasks (green) start in full
beside the running ones (blue), which keep all production traffic; the Deployment's
minReadySeconds holds (service_to_kube.BLUE_GREEN_HOLD_SECONDS) so that Kubernetes scales nothing
down. Once every desired green task runs, production traffic moves to them in one step (the
record's `trafficDeploymentId`, which the Kubernetes Services select by started-by label) and
the deployment bakes for `bakeTimeInMinutes` (BAKE_TIME) with the blue tasks still running, ready
to take the traffic back. After the bake the hold is lifted and Kubernetes removes the blue tasks
(CLEAN_UP); the deployment is COMPLETED once they are gone. A rollback (circuit breaker,
StopServiceDeployment) moves traffic back at once (service_to_kube.service_record_rolled_back).
"""

import copy
from collections.abc import Mapping
from typing import Any

from shim.translate.service_to_kube import (
    BAKE_TIME,
    CLEAN_UP,
    IN_PROGRESS,
    PRIMARY,
    SCALE_UP,
    is_blue_green,
    primary_deployment,
)

Json = dict[str, Any]


def blue_green_advanced(record: Mapping[str, Any], view: Mapping[str, Any], *, now: float) -> Json | None:
    """The record with its BLUE_GREEN deployment moved to its next stage, or None while it stays
    (or the service is not BLUE_GREEN, or its deployment not in progress)."""
    if not is_blue_green(record):
        return None
    primary = primary_deployment(record)
    stage = primary.get("lifecycleStage")
    if primary["rolloutState"] != IN_PROGRESS or stage not in (SCALE_UP, BAKE_TIME):
        return None
    if stage == SCALE_UP and not _all_running(view, primary["id"]):
        return None
    bake_seconds = 60 * int(record["deploymentConfiguration"].get("bakeTimeInMinutes") or 0)
    if stage == BAKE_TIME and now < primary["trafficShiftedAt"] + bake_seconds:
        return None
    updated = copy.deepcopy(dict(record))
    moved = primary_deployment(updated)
    if stage == SCALE_UP:
        updated["trafficDeploymentId"] = moved["id"]
        moved.update(lifecycleStage=BAKE_TIME, trafficShiftedAt=now, updatedAt=now)
    else:
        moved.update(lifecycleStage=CLEAN_UP, bakeCompletedAt=now, updatedAt=now)
    return updated


def _all_running(view: Mapping[str, Any], deployment_id: str) -> bool:
    shown = next((d for d in view.get("deployments", []) if d["id"] == deployment_id and d["status"] == PRIMARY), None)
    return shown is not None and shown["runningCount"] >= shown["desiredCount"]
