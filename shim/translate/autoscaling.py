"""Application Auto Scaling of ECS services (`ecs:service:DesiredCount`) -> HorizontalPodAutoscaler.

A scalable target, its scaling policies, scheduled actions and scaling activities are kept in the
ECS service's record (`autoScaling`). The Kubernetes side:

- target tracking on the predefined metrics ECSServiceAverageCPUUtilization and
  ECSServiceAverageMemoryUtilization (and their HighResolution forms) becomes one
  HorizontalPodAutoscaler (autoscaling/v2) on the service's Deployment: `minReplicas` and
  `maxReplicas` from the target's MinCapacity and MaxCapacity, one Resource metric per policy
  (`averageUtilization` = TargetValue; a pod's requests are its task's reserved CPU units and
  memory, as ECS measures utilization against them), ScaleInCooldown as the scale-down
  stabilization window, DisableScaleIn as a disabled scale-down;
- what the HPA decides becomes the service's desired count (`autoscaled`), with a scaling
  activity, as AAS sets an ECS service's desiredCount;
- scheduled actions are run by the server at their time (`due_actions`, `scheduled`): the target's
  capacity limits change and the desired count is brought within them.

Step scaling, customized metrics and other predefined metrics need CloudWatch alarms: they are
stored and shown, and nothing runs them.
"""

import copy
import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from shim.errors import ObjectNotFoundException, ValidationException
from shim.translate import names
from shim.translate.service_to_kube import DAEMON, is_external, workload_name
from shim.translate.task_from_pod import epoch_of

Json = dict[str, Any]

SERVICE_NAMESPACE = "ecs"
SCALABLE_DIMENSION = "ecs:service:DesiredCount"
TARGET_TRACKING = "TargetTrackingScaling"
STEP_SCALING = "StepScaling"
RESOURCE_METRICS = {
    "ECSServiceAverageCPUUtilization": "cpu",
    "ECSServiceAverageMemoryUtilization": "memory",
    "ECSServiceAverageCPUUtilizationHighResolution": "cpu",
    "ECSServiceAverageMemoryUtilizationHighResolution": "memory",
}
"""The predefined metrics an HPA can track, by the pod resource they measure."""
DEFAULT_COOLDOWN_SECONDS = 300
MAX_STABILIZATION_SECONDS = 3600
"""The longest stabilization window an HPA takes: a longer ScaleInCooldown waits that long."""
MAX_INT32 = 2**31 - 1
ANNOTATION_SPEC = f"{names.PREFIX}/autoscaler-spec"
"""A hash of the HPA's spec as the server made it: the API server fills in defaults, so the
reconciler compares this, not the specs, to tell an HPA that needs applying."""
MAX_ACTIVITIES = 100
ROLE = (
    "arn:aws:iam::{account}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_ECSService"
)
"""The service-linked role AAS scales ECS services with, when a target names no role."""
_RESOURCE_ID = re.compile(r"service/([^/]+)/([^/]+)")
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_CRON = re.compile(r"cron\((.+)\)")


# Names and references


def resource_id(cluster_name: str, service_name: str) -> str:
    return f"service/{cluster_name}/{service_name}"


def service_of(resource: str) -> tuple[str, str]:
    """The (cluster, service) an ECS resource id names (`service/<cluster>/<service>`)."""
    match = _RESOURCE_ID.fullmatch(resource)
    if match is None:
        raise ValidationException(
            f"Unsupported resource ID {resource}: an ECS service's resource ID is service/<cluster>/<service>."
        )
    return match[1], match[2]


def check_dimension(params: Mapping[str, Any]) -> None:
    """Only ECS services scale here, by their desired count."""
    if params["ServiceNamespace"] != SERVICE_NAMESPACE:
        raise ValidationException(
            f"Unsupported service namespace {params['ServiceNamespace']}: this server scales ECS services only."
        )
    if params.get("ScalableDimension", SCALABLE_DIMENSION) != SCALABLE_DIMENSION:
        raise ValidationException(f"Unsupported scalable dimension {params['ScalableDimension']} for namespace ecs.")


def scaled_resource(record: Mapping[str, Any]) -> Json:
    """What names the service to Application Auto Scaling, as every view of it shows it."""
    return {
        "ServiceNamespace": SERVICE_NAMESPACE,
        "ResourceId": resource_id(record["clusterName"], record["serviceName"]),
        "ScalableDimension": SCALABLE_DIMENSION,
    }


def not_registered(resource: str) -> ObjectNotFoundException:
    return ObjectNotFoundException(
        f"No scalable target registered for service namespace: ecs, resource ID: {resource}, "
        f"scalable dimension: {SCALABLE_DIMENSION}"
    )


def settings_of(record: Mapping[str, Any]) -> Json:
    """The record's auto scaling settings (empty when it has none)."""
    settings: Json = record.get("autoScaling") or {}
    return settings


def target_of(record: Mapping[str, Any]) -> Json:
    """The record's scalable target, or ObjectNotFoundException."""
    target: Json | None = settings_of(record).get("target")
    if target is None:
        raise not_registered(resource_id(record["clusterName"], record["serviceName"]))
    return target


# Scalable targets


def registered(record: Mapping[str, Any], params: Mapping[str, Any], *, account: str, region: str, now: float) -> Json:
    """The record after RegisterScalableTarget: a new target, or the existing one updated."""
    if record["schedulingStrategy"] == DAEMON or is_external(record):
        raise ValidationException("Only REPLICA ECS services with the ECS deployment controller can scale.")
    settings = copy.deepcopy(settings_of(record))
    target = settings.get("target")
    if target is None:
        if params.get("MinCapacity") is None or params.get("MaxCapacity") is None:
            raise ValidationException("MinCapacity and MaxCapacity are required for a new scalable target.")
        target = {
            "ScalableTargetARN": f"{_arn_base(region, account)}:scalable-target/0e{uuid.uuid4().hex}",
            "RoleARN": params.get("RoleARN") or ROLE.format(account=account),
            "CreationTime": now,
            "Tags": dict(params.get("Tags") or {}),
        }
    for key in ("MinCapacity", "MaxCapacity", "RoleARN"):
        if params.get(key) is not None:
            target[key] = params[key]
    _check_limits(target)
    target["SuspendedState"] = {**target.get("SuspendedState", _NOT_SUSPENDED), **(params.get("SuspendedState") or {})}
    settings["target"] = target
    return {**record, "autoScaling": settings}


def _check_limits(limits: Mapping[str, Any]) -> None:
    minimum, maximum = limits.get("MinCapacity"), limits.get("MaxCapacity")
    if any(value is not None and value < 0 for value in (minimum, maximum)):
        raise ValidationException("Capacity limits must be at least 0.")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ValidationException("Minimum capacity cannot be greater than maximum capacity")


_NOT_SUSPENDED = {
    "DynamicScalingInSuspended": False,
    "DynamicScalingOutSuspended": False,
    "ScheduledScalingSuspended": False,
}


def _arn_base(region: str, account: str) -> str:
    return f"arn:aws:application-autoscaling:{region}:{account}"


def deregistered(record: Mapping[str, Any]) -> Json:
    """The record after DeregisterScalableTarget: its policies and scheduled actions go with the
    target; its activities stay, as AAS keeps them."""
    target_of(record)
    activities = settings_of(record).get("activities", [])
    return {**record, "autoScaling": {"activities": copy.deepcopy(activities)}}


def target_view(record: Mapping[str, Any]) -> Json:
    target = target_of(record)
    return {**{key: copy.deepcopy(value) for key, value in target.items() if key != "Tags"}, **scaled_resource(record)}


# Scaling policies


def policy_put(record: Mapping[str, Any], params: Mapping[str, Any], *, account: str, region: str, now: float) -> Json:
    """The record after PutScalingPolicy (a new policy, or the one of that name replaced)."""
    target_of(record)
    policy_type = params.get("PolicyType") or STEP_SCALING
    configuration_key = f"{policy_type}PolicyConfiguration"
    configuration = params.get(configuration_key)
    if policy_type not in (TARGET_TRACKING, STEP_SCALING) or configuration is None:
        raise ValidationException(f"A {policy_type} policy needs a {configuration_key}.")
    if policy_type == TARGET_TRACKING:
        _check_target_tracking(configuration)
    settings = copy.deepcopy(settings_of(record))
    policies = settings.setdefault("policies", [])
    existing = next((p for p in policies if p["PolicyName"] == params["PolicyName"]), None)
    policy = {
        "PolicyName": params["PolicyName"],
        "PolicyType": policy_type,
        configuration_key: copy.deepcopy(configuration),
        "PolicyARN": existing["PolicyARN"] if existing else _policy_arn(record, params["PolicyName"], account, region),
        "CreationTime": existing["CreationTime"] if existing else now,
    }
    settings["policies"] = [p for p in policies if p["PolicyName"] != params["PolicyName"]] + [policy]
    return {**record, "autoScaling": settings}


def _check_target_tracking(configuration: Mapping[str, Any]) -> None:
    predefined, customized = (
        configuration.get("PredefinedMetricSpecification"),
        configuration.get("CustomizedMetricSpecification"),
    )
    if (predefined is None) == (customized is None):
        raise ValidationException(
            "A target tracking policy needs one of PredefinedMetricSpecification and CustomizedMetricSpecification."
        )
    metric = (predefined or {}).get("PredefinedMetricType", "ECSService")
    if not metric.startswith("ECSService") and metric != "ALBRequestCountPerTarget":
        raise ValidationException(f"{metric} is not a metric of ECS services.")
    if configuration["TargetValue"] <= 0:
        raise ValidationException("TargetValue must be greater than 0.")
    if any(configuration.get(key, 0) < 0 for key in ("ScaleInCooldown", "ScaleOutCooldown")):
        raise ValidationException("Cooldowns must be at least 0 seconds.")


def _policy_arn(record: Mapping[str, Any], policy_name: str, account: str, region: str) -> str:
    resource = resource_id(record["clusterName"], record["serviceName"])
    return (
        f"arn:aws:autoscaling:{region}:{account}:scalingPolicy:{uuid.uuid4()}:"
        f"resource/ecs/{resource}:policyName/{policy_name}"
    )


def policy_deleted(record: Mapping[str, Any], policy_name: str) -> Json:
    missing = ObjectNotFoundException(
        f"No scaling policy found for service namespace: ecs, resource ID: "
        f"{resource_id(record['clusterName'], record['serviceName'])}, scalable dimension: "
        f"{SCALABLE_DIMENSION}, policy name: {policy_name}"
    )
    return _without(record, "policies", "PolicyName", policy_name, missing)


def _without(record: Mapping[str, Any], kind: str, key: str, name: str, missing: Exception) -> Json:
    """The record without the entry of `kind` (policies, scheduled actions) whose `key` is `name`."""
    settings = copy.deepcopy(settings_of(record))
    entries = settings.get(kind, [])
    if not any(entry[key] == name for entry in entries):
        raise missing
    settings[kind] = [entry for entry in entries if entry[key] != name]
    return {**record, "autoScaling": settings}


def policy_views(record: Mapping[str, Any]) -> list[Json]:
    return [
        {**copy.deepcopy(p), **scaled_resource(record), "Alarms": []} for p in settings_of(record).get("policies", [])
    ]


# Scheduled actions


def scheduled_action_put(
    record: Mapping[str, Any], params: Mapping[str, Any], *, account: str, region: str, now: float
) -> Json:
    """The record after PutScheduledAction (a new action, or the one of that name updated)."""
    target_of(record)
    settings = copy.deepcopy(settings_of(record))
    actions = settings.setdefault("scheduledActions", [])
    existing = next((a for a in actions if a["ScheduledActionName"] == params["ScheduledActionName"]), None)
    action: Json = copy.deepcopy(existing) if existing else {"CreationTime": now}
    if existing is None:
        resource = resource_id(record["clusterName"], record["serviceName"])
        action["ScheduledActionARN"] = (
            f"arn:aws:autoscaling:{region}:{account}:scheduledAction:{uuid.uuid4()}:"
            f"resource/ecs/{resource}:scheduledActionName/{params['ScheduledActionName']}"
        )
    for key in ("ScheduledActionName", "Schedule", "Timezone", "ScalableTargetAction"):
        if params.get(key) is not None:
            action[key] = copy.deepcopy(params[key])
    for key in ("StartTime", "EndTime"):  # kept as epoch seconds, as every time in the record
        if params.get(key) is not None:
            action[key] = _epoch(params[key])
    _check_limits(action.get("ScalableTargetAction") or {})
    if not action.get("Schedule"):
        raise ValidationException("A new scheduled action needs a Schedule.")
    next_run(action, after=now)  # refuses a schedule it cannot read
    settings["scheduledActions"] = [a for a in actions if a["ScheduledActionName"] != action["ScheduledActionName"]]
    settings["scheduledActions"].append(action)
    return {**record, "autoScaling": settings}


def scheduled_action_deleted(record: Mapping[str, Any], name: str) -> Json:
    missing = ObjectNotFoundException(f"No scheduled action found for scheduled action name: {name}")
    return _without(record, "scheduledActions", "ScheduledActionName", name, missing)


def scheduled_action_views(record: Mapping[str, Any]) -> list[Json]:
    return [
        {**{k: copy.deepcopy(v) for k, v in action.items() if k != "LastRunAt"}, **scaled_resource(record)}
        for action in settings_of(record).get("scheduledActions", [])
    ]


def next_run(action: Mapping[str, Any], *, after: float) -> float | None:
    """When the action runs next after `after` (None: never again): `at(...)` once, `rate(...)`
    from its creation, `cron(...)` (AWS's six fields) in its Timezone; within StartTime and EndTime."""
    schedule = action["Schedule"]
    zone = _zone(action.get("Timezone"))
    start = max(after, _epoch(action.get("StartTime")) or after)
    if match := _AT.fullmatch(schedule):
        moment = datetime.fromisoformat(match[1]).replace(tzinfo=zone).timestamp()
        found = moment if moment > after else None
    elif match := _RATE.fullmatch(schedule):
        period = timedelta(**{match[2].rstrip("s") + "s": int(match[1])}).total_seconds()
        if period <= 0:
            raise ValidationException(f"Invalid schedule {schedule}: the rate must be at least 1.")
        origin = float(action["CreationTime"])
        found = origin + period * (int((start - origin) // period) + 1)
    elif match := _CRON.fullmatch(schedule):
        found = croniter(_unix_cron(match[1], schedule), datetime.fromtimestamp(start, zone)).get_next(float)
    else:
        raise ValidationException(f"Invalid schedule {schedule}: expected at(...), rate(...) or cron(...).")
    end = _epoch(action.get("EndTime"))
    return None if found is None or (end is not None and found > end) else found


def _unix_cron(fields: str, schedule: str) -> str:
    """AWS's six cron fields (minutes hours day-of-month month day-of-week year) as the five of
    Unix cron: `?` is `*`, days of the week count from 1 (Sunday) instead of 0, the year must be `*`."""
    parts = fields.split()
    if len(parts) != 6 or parts[5] not in ("*", "?"):
        raise ValidationException(f"Invalid schedule {schedule}: cron takes six fields, the last (year) *.")
    minute, hour, day, month, weekday = (part.replace("?", "*") for part in parts[:5])
    weekday = re.sub(r"(?<![#\d])\d+", lambda number: str(int(number[0]) - 1), weekday)  # not the n of d#n
    expression = f"{minute} {hour} {day} {month} {weekday}"
    if not croniter.is_valid(expression):
        raise ValidationException(f"Invalid schedule {schedule}.")
    return expression


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationException(f"Invalid Timezone {name}.") from None


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)


def due_actions(record: Mapping[str, Any], now: float) -> list[Json]:
    """The scheduled actions whose time has come since they last ran (or were made)."""
    settings = settings_of(record)
    if settings.get("target", {}).get("SuspendedState", {}).get("ScheduledScalingSuspended"):
        return []
    due = []
    for action in settings.get("scheduledActions", []):
        moment = next_run(action, after=float(action.get("LastRunAt") or action["CreationTime"]))
        if moment is not None and moment <= now:
            due.append(action)
    return due


def scheduled(record: Mapping[str, Any], action: Mapping[str, Any], now: float) -> Json:
    """The record once `action` ran: the target's limits changed, the desired count within them."""
    settings = copy.deepcopy(settings_of(record))
    target = settings["target"]
    change = action.get("ScalableTargetAction") or {}
    target.update({key: change[key] for key in ("MinCapacity", "MaxCapacity") if change.get(key) is not None})
    if target["MinCapacity"] > target["MaxCapacity"]:  # one limit moved past the other: it takes it along
        moved = "MinCapacity" if change.get("MinCapacity") is not None else "MaxCapacity"
        target["MinCapacity"] = target["MaxCapacity"] = target[moved]
    for entry in settings["scheduledActions"]:
        if entry["ScheduledActionName"] == action["ScheduledActionName"]:
            entry["LastRunAt"] = now
    desired = min(max(record["desiredCount"], target["MinCapacity"]), target["MaxCapacity"])
    updated = {**record, "autoScaling": settings, "desiredCount": desired, "desiredCountAt": now}
    cause = f"scheduled action name {action['ScheduledActionName']} was triggered"
    return with_activity(updated, desired, cause, f"{action['ScheduledActionName']}:{now}", now)


# Activities


def with_activity(record: Json, desired: int, cause: str, key: str, now: float) -> Json:
    """`record` with a scaling activity to `desired` tasks; `key` names it (the same activity gets
    the same id whichever server records it)."""
    settings = copy.deepcopy(settings_of(record))
    activity = {
        "ActivityId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{record['clusterName']}/{record['serviceName']}/{key}")),
        "Description": f"Setting desired count to {desired}.",
        "Cause": cause,
        "StartTime": now,
        "EndTime": now,
        "StatusCode": "Successful",
        "StatusMessage": f"Successfully set desired count to {desired}. Change successfully fulfilled by ecs.",
    }
    settings["activities"] = [*settings.get("activities", []), activity][-MAX_ACTIVITIES:]
    return {**record, "autoScaling": settings}


def activity_views(record: Mapping[str, Any]) -> list[Json]:
    activities = reversed(settings_of(record).get("activities", []))
    return [{**copy.deepcopy(activity), **scaled_resource(record)} for activity in activities]


def autoscaled(record: Mapping[str, Any], autoscaler: Mapping[str, Any] | None) -> Json | None:
    """The record with the desired count the service's HPA last set, and its activity, when the
    HPA set it after the desired count was last set otherwise (None: nothing to take)."""
    status = (autoscaler or {}).get("status") or {}
    desired, scaled_at = status.get("desiredReplicas"), epoch_of(status.get("lastScaleTime"))
    set_at = float(record.get("desiredCountAt") or record["createdAt"])
    if desired is None or scaled_at is None or scaled_at <= set_at:
        return None
    if desired == record.get("desiredCount"):  # the same count: nothing to take, but this decision is seen
        return {**record, "desiredCountAt": scaled_at}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    reason = (conditions.get("AbleToScale") or {}).get("message") or "the HPA rescaled the Deployment"
    cause = f"HorizontalPodAutoscaler {workload_name(record['serviceName'])}: {reason}"
    updated = {**record, "desiredCount": int(desired), "desiredCountAt": scaled_at}
    return with_activity(updated, int(desired), cause, f"hpa:{scaled_at}", scaled_at)


# The HorizontalPodAutoscaler


def tracked_metrics(record: Mapping[str, Any]) -> list[Json]:
    """The target tracking policies an HPA runs: those on the ECS services' CPU or memory."""
    policies = settings_of(record).get("policies", [])
    configurations = [
        p[f"{TARGET_TRACKING}PolicyConfiguration"] for p in policies if p["PolicyType"] == TARGET_TRACKING
    ]
    return [
        c
        for c in configurations
        if (c.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType") in RESOURCE_METRICS
    ]


def autoscaler_manifest(record: Mapping[str, Any], namespace: str) -> Json | None:
    """The HPA of the service (None: it has no target tracking an HPA can run, or dynamic scaling
    is suspended both ways)."""
    settings = settings_of(record)
    target, tracked = settings.get("target"), tracked_metrics(record)
    suspended = (target or {}).get("SuspendedState") or {}
    if target is None or not tracked or record["status"] != "ACTIVE":
        return None
    if suspended.get("DynamicScalingInSuspended") and suspended.get("DynamicScalingOutSuspended"):
        return None
    scale_in_disabled = suspended.get("DynamicScalingInSuspended") or any(c.get("DisableScaleIn") for c in tracked)
    cooldown = max(int(c.get("ScaleInCooldown", DEFAULT_COOLDOWN_SECONDS)) for c in tracked)
    scale_down: Json = {"stabilizationWindowSeconds": min(max(cooldown, 0), MAX_STABILIZATION_SECONDS)}
    if scale_in_disabled:
        scale_down["selectPolicy"] = "Disabled"
    behavior: Json = {"scaleDown": scale_down}
    if suspended.get("DynamicScalingOutSuspended"):
        behavior["scaleUp"] = {"selectPolicy": "Disabled"}
    name = workload_name(record["serviceName"])
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": max(1, int(target["MinCapacity"])),
        "maxReplicas": max(1, int(target["MaxCapacity"])),
        "metrics": [_resource_metric(c) for c in tracked],
        "behavior": behavior,
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                names.LABEL_MANAGED: "true",
                names.LABEL_SERVICE: names.label_value(record["serviceName"]),
                names.LABEL_CLUSTER: names.label_value(record["clusterName"]),
            },
            "annotations": {ANNOTATION_SPEC: _spec_hash(spec)},
        },
        "spec": spec,
    }


def autoscaler_current(existing: Mapping[str, Any] | None, wanted: Mapping[str, Any] | None) -> bool:
    """Whether the HPA the API server has (`existing`) is the one the record makes (`wanted`;
    None for both: there is none and should be none)."""
    if existing is None or wanted is None:
        return existing is None and wanted is None
    annotations = (existing.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(ANNOTATION_SPEC) == wanted["metadata"]["annotations"][ANNOTATION_SPEC])


def _spec_hash(spec: Mapping[str, Any]) -> str:
    return names.short_hash(json.dumps(spec, sort_keys=True), 16)


def _resource_metric(configuration: Mapping[str, Any]) -> Json:
    resource = RESOURCE_METRICS[configuration["PredefinedMetricSpecification"]["PredefinedMetricType"]]
    utilization = min(max(1, round(configuration["TargetValue"])), MAX_INT32)
    return {
        "type": "Resource",
        "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": utilization}},
    }
