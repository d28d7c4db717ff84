"""Task scale-in protection as pod metadata (shim/translate/task_protection.py)."""

from typing import Any

import pytest

from shim.errors import InvalidParameterException
from shim.translate.task_protection import (
    DEFAULT_MINUTES,
    POD_DELETION_COST,
    PROTECTED_COST,
    protected_task_view,
    protection_minutes,
    protection_patch,
)

ARN = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123abcd"


def pod_with(patch: dict[str, Any]) -> dict[str, Any]:
    annotations = {key: value for key, value in patch["metadata"]["annotations"].items() if value is not None}
    return {"metadata": {"annotations": annotations, "labels": {"ecs.shim.io/service": "web"}}}


def test_protection_lasts_two_hours_unless_told_between_one_minute_and_two_days() -> None:
    assert protection_minutes({}) == DEFAULT_MINUTES == 120
    assert protection_minutes({"expiresInMinutes": 1}) == 1
    assert protection_minutes({"expiresInMinutes": 2880}) == 2880
    for minutes in (0, 2881, -5):
        with pytest.raises(InvalidParameterException, match="between 1 and 2880"):
            protection_minutes({"expiresInMinutes": minutes})


def test_a_protected_task_is_the_last_its_replica_set_removes_until_protection_expires() -> None:
    pod = pod_with(protection_patch(1_000.0))

    assert pod["metadata"]["annotations"][POD_DELETION_COST] == PROTECTED_COST
    assert protected_task_view(ARN, pod, now=999.0) == {
        "taskArn": ARN,
        "protectionEnabled": True,
        "expirationDate": 1_000.0,
    }
    assert protected_task_view(ARN, pod, now=1_000.0) == {"taskArn": ARN, "protectionEnabled": False}


def test_unprotecting_removes_both_annotations() -> None:
    patch = protection_patch(None)

    assert set(patch["metadata"]["annotations"].values()) == {None}
    assert protected_task_view(ARN, pod_with(patch), now=0.0)["protectionEnabled"] is False
