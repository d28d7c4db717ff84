"""ECS task scale-in protection on Kubernetes: a protected service task's pod carries the moment its
protection ends and the highest pod deletion cost, so its ReplicaSet removes every unprotected
task first when the service scales in (`controller.kubernetes.io/pod-deletion-cost`).

ECS protects only service tasks (a standalone task is TASK_NOT_VALID), for 1 to 2,880 minutes
(120 by default), and a new call always restarts the clock. Pure: the time is given."""

from collections.abc import Mapping
from typing import Any

from shim.errors import InvalidParameterException
from shim.translate import names

DEFAULT_MINUTES = 120
MINUTES_BOUNDS = (1, 2880)
MAX_UPDATED = 10
"""UpdateTaskProtection names at most 10 tasks, GetTaskProtection at most 100."""
MAX_READ = 100
ANNOTATION_PROTECTED_UNTIL = f"{names.PREFIX}/protected-until"
"""Epoch seconds at which the task's scale-in protection ends."""
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
PROTECTED_COST = str(2**31 - 1)
"""The highest cost Kubernetes accepts: a ReplicaSet scales in every cheaper pod first."""
TASK_NOT_VALID = "TASK_NOT_VALID"


def protection_minutes(params: Mapping[str, Any]) -> int:
    """How long UpdateTaskProtection protects, as ECS bounds it."""
    minutes = params.get("expiresInMinutes")
    if minutes is None:
        return DEFAULT_MINUTES
    low, high = MINUTES_BOUNDS
    if not low <= minutes <= high:
        raise InvalidParameterException(f"expiresInMinutes must be between {low} and {high}; got {minutes}.")
    return int(minutes)


def protection_patch(protected_until: float | None) -> dict[str, Any]:
    """The pod metadata patch that protects the task until `protected_until` (None: unprotects)."""
    if protected_until is None:
        annotations: dict[str, str | None] = {ANNOTATION_PROTECTED_UNTIL: None, POD_DELETION_COST: None}
    else:
        annotations = {ANNOTATION_PROTECTED_UNTIL: f"{protected_until:.3f}", POD_DELETION_COST: PROTECTED_COST}
    return {"metadata": {"annotations": annotations}}


def protected_until(pod: Mapping[str, Any]) -> float | None:
    value = (pod["metadata"].get("annotations") or {}).get(ANNOTATION_PROTECTED_UNTIL)
    return float(value) if value else None


def is_protected(pod: Mapping[str, Any], now: float) -> bool:
    until = protected_until(pod)
    return until is not None and until > now


def is_service_task(pod: Mapping[str, Any]) -> bool:
    return bool((pod["metadata"].get("labels") or {}).get(names.LABEL_SERVICE))


def protected_task_view(task_arn: str, pod: Mapping[str, Any], now: float) -> dict[str, Any]:
    """ECS's `ProtectedTask`: expired protection shows as none."""
    if not is_protected(pod, now):
        return {"taskArn": task_arn, "protectionEnabled": False}
    return {"taskArn": task_arn, "protectionEnabled": True, "expirationDate": protected_until(pod)}
