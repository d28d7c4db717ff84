"""Application Auto Scaling of ECS services -> a HorizontalPodAutoscaler, scheduled actions and
scaling activities, and the shapes botocore's `application-autoscaling` model gives them."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shim.errors import ObjectNotFoundException, ValidationException
from shim.schemas.responses import output_problems
from shim.translate.autoscaling import (
    activity_views,
    autoscaled,
    autoscaler_current,
    autoscaler_manifest,
    deregistered,
    due_actions,
    next_run,
    policy_put,
    policy_views,
    registered,
    scheduled,
    scheduled_action_put,
    scheduled_action_views,
    target_view,
)
from shim.translate.service_to_kube import workload_name
from tests.unit.test_services import ACCOUNT, NAMESPACE, REGION, T0, create, daemon, iso, round_trips

AAS = "application-autoscaling"
WHERE = {"account": ACCOUNT, "region": REGION}


def target(record: dict[str, Any] | None = None, minimum: int = 2, maximum: int = 4) -> dict[str, Any]:
    return registered(record or create(), {"MinCapacity": minimum, "MaxCapacity": maximum}, now=T0, **WHERE)


def cpu_policy(record: dict[str, Any], value: float = 50.0, name: str = "cpu", **configuration: Any) -> dict[str, Any]:
    tracking = {
        "TargetValue": value,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        **configuration,
    }
    params = {
        "PolicyName": name,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": tracking,
    }
    return policy_put(record, params, now=T0, **WHERE)


def test_a_scalable_target_needs_its_limits_in_order_and_a_replica_service() -> None:
    record = target()
    view = target_view(record)
    assert output_problems("DescribeScalableTargets", {"ScalableTargets": [view]}, AAS) == []
    assert (view["ResourceId"], view["MinCapacity"], view["MaxCapacity"]) == ("service/default/web", 2, 4)
    assert target_view(registered(record, {"MaxCapacity": 6}, now=T0, **WHERE))["MinCapacity"] == 2, "kept"
    for params in ({"MinCapacity": 2}, {"MinCapacity": 5, "MaxCapacity": 4}):
        with pytest.raises(ValidationException):
            registered(create(), params, now=T0, **WHERE)
    with pytest.raises(ValidationException):
        target(daemon())


def test_target_tracking_on_cpu_becomes_an_hpa_with_the_targets_limits() -> None:
    record = cpu_policy(target(), 60.0, ScaleInCooldown=120)
    manifest = autoscaler_manifest(record, NAMESPACE)
    assert manifest is not None
    round_trips(manifest, "V2HorizontalPodAutoscaler")
    spec = manifest["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"], spec["scaleTargetRef"]["name"]) == (2, 4, workload_name("web"))
    assert spec["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
    ]
    assert spec["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 120}}
    disabled = autoscaler_manifest(cpu_policy(target(), DisableScaleIn=True), NAMESPACE)
    assert disabled is not None and disabled["spec"]["behavior"]["scaleDown"]["selectPolicy"] == "Disabled"
    [policy] = policy_views(record)
    assert output_problems("DescribeScalingPolicies", {"ScalingPolicies": [policy]}, AAS) == []


def test_what_an_hpa_cannot_run_makes_none() -> None:
    assert autoscaler_manifest(target(), NAMESPACE) is None, "a target alone scales nothing"
    step = {"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [{"ScalingAdjustment": 1}]}
    params = {"PolicyName": "step", "PolicyType": "StepScaling", "StepScalingPolicyConfiguration": step}
    assert autoscaler_manifest(policy_put(target(), params, now=T0, **WHERE), NAMESPACE) is None
    assert autoscaler_manifest(deregistered(cpu_policy(target())), NAMESPACE) is None


def test_a_policy_needs_a_target_and_a_metric_of_ecs_services() -> None:
    with pytest.raises(ObjectNotFoundException):
        cpu_policy(create())
    dynamo = {
        "TargetValue": 50.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBReadCapacityUtilization"},
    }
    params = {
        "PolicyName": "x",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": dynamo,
    }
    with pytest.raises(ValidationException):
        policy_put(target(), params, now=T0, **WHERE)


def test_the_desired_count_follows_the_hpa_once_it_rescales_after_the_last_update() -> None:
    record = cpu_policy(target())
    hpa = {"status": {"desiredReplicas": 2, "lastScaleTime": iso(T0 + 30), "conditions": []}}
    scaled = autoscaled(record, hpa)
    assert scaled is not None and scaled["desiredCount"] == 2
    [activity] = activity_views(scaled)
    assert activity["Description"] == "Setting desired count to 2."
    assert output_problems("DescribeScalingActivities", {"ScalingActivities": [activity]}, AAS) == []
    assert autoscaled(scaled, hpa) is None, "taken once"
    assert autoscaled({**record, "desiredCountAt": T0 + 60}, hpa) is None, "an UpdateService since wins"


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("at(2023-11-14T23:00:00)", datetime(2023, 11, 14, 23, 0, tzinfo=UTC)),
        ("rate(5 minutes)", datetime.fromtimestamp(T0 + 300, UTC)),
        ("cron(0 9 ? * 2 *)", datetime(2023, 11, 20, 9, 0, tzinfo=UTC)),  # AWS's 2 is Monday
    ],
)
def test_schedules_run_at_their_time(schedule: str, expected: datetime) -> None:
    action = {"Schedule": schedule, "CreationTime": T0}
    assert next_run(action, after=T0) == expected.timestamp()


@pytest.mark.parametrize("schedule", ["every 5 minutes", "rate(0 minutes)", "cron(0 9 * * *)", "cron(0 9 ? * 2 2030)"])
def test_a_schedule_it_cannot_read_is_refused(schedule: str) -> None:
    with pytest.raises(ValidationException):
        scheduled_action_put(target(), {"ScheduledActionName": "a", "Schedule": schedule}, now=T0, **WHERE)


def test_a_due_scheduled_action_changes_the_limits_and_brings_the_count_within_them() -> None:
    action = {
        "ScheduledActionName": "peak",
        "Schedule": "at(2023-11-14T23:00:00)",
        "ScalableTargetAction": {"MinCapacity": 5, "MaxCapacity": 8},
    }
    record = scheduled_action_put(target(), action, now=T0, **WHERE)
    assert output_problems("DescribeScheduledActions", {"ScheduledActions": scheduled_action_views(record)}, AAS) == []
    assert due_actions(record, T0 + 60) == []
    moment = datetime(2023, 11, 14, 23, 0, 5, tzinfo=UTC).timestamp()
    [due] = due_actions(record, moment)
    ran = scheduled(record, due, moment)
    assert (ran["desiredCount"], target_view(ran)["MinCapacity"], target_view(ran)["MaxCapacity"]) == (5, 5, 8)
    assert "peak" in activity_views(ran)[0]["Cause"]
    assert due_actions(ran, moment + 3600) == [], "an at() action runs once"


def test_a_scheduled_actions_times_are_kept_as_epoch_seconds_and_bound_when_it_runs() -> None:
    window = {"StartTime": datetime(2023, 11, 15, tzinfo=UTC), "EndTime": datetime(2023, 11, 16, tzinfo=UTC)}
    action = {"ScheduledActionName": "day", "Schedule": "rate(1 hour)", **window}
    record = json.loads(json.dumps(scheduled_action_put(target(), action, now=T0, **WHERE)))  # as Kubernetes keeps it
    [view] = scheduled_action_views(record)
    assert output_problems("DescribeScheduledActions", {"ScheduledActions": [view]}, AAS) == []
    assert due_actions(record, window["StartTime"].timestamp() - 1) == [], "not before its start"
    [stored] = record["autoScaling"]["scheduledActions"]
    assert next_run(stored, after=window["EndTime"].timestamp()) is None, "not after its end"


def test_a_scheduled_limit_past_the_other_takes_it_along_and_bad_limits_are_refused() -> None:
    raised = {
        "ScheduledActionName": "up",
        "Schedule": "at(2023-11-14T23:00:00)",
        "ScalableTargetAction": {"MinCapacity": 6},
    }
    record = scheduled_action_put(target(minimum=2, maximum=4), raised, now=T0, **WHERE)
    ran = scheduled(record, record["autoScaling"]["scheduledActions"][0], T0 + 3600)
    assert (target_view(ran)["MinCapacity"], target_view(ran)["MaxCapacity"], ran["desiredCount"]) == (6, 6, 6)
    for limits in ({"MinCapacity": 5, "MaxCapacity": 4}, {"MinCapacity": -1}):
        bad = {"ScheduledActionName": "bad", "Schedule": "rate(1 hour)", "ScalableTargetAction": limits}
        with pytest.raises(ValidationException):
            scheduled_action_put(target(), bad, now=T0, **WHERE)


def test_the_nth_weekday_of_a_cron_schedule_counts_from_aws_sunday() -> None:
    action = {"Schedule": "cron(0 9 ? * 2#1 *)", "CreationTime": T0}  # the first Monday of the month
    assert next_run(action, after=T0) == datetime(2023, 12, 4, 9, 0, tzinfo=UTC).timestamp()


def test_the_reconciler_can_tell_an_hpa_that_needs_applying() -> None:
    wanted = autoscaler_manifest(cpu_policy(target(), ScaleInCooldown=7200), NAMESPACE)
    assert wanted is not None and wanted["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 3600
    assert autoscaler_current(wanted, wanted) and autoscaler_current(None, None)
    assert not autoscaler_current(None, wanted) and not autoscaler_current(wanted, None)
    other = autoscaler_manifest(cpu_policy(target(), 70.0), NAMESPACE)
    assert not autoscaler_current(other, wanted)
