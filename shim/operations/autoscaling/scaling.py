"""Scalable targets, scaling policies, scheduled actions, scaling activities and tags of ECS
services: each call changes or reads the `autoScaling` part of the service's record, then makes
the service's HorizontalPodAutoscaler match it."""

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import (
    InvalidParameterException,
    ResourceNotFoundException,
    ServiceNotFoundException,
    ValidationException,
)
from shim.kube.records import Stored
from shim.kube.store import Store
from shim.operations.pagination import page
from shim.operations.services import apply_autoscaler, check_service_objects, save_service_change
from shim.translate import names
from shim.translate.access import SERVICE, permission
from shim.translate.autoscaling import (
    SCALABLE_DIMENSION,
    SERVICE_NAMESPACE,
    activity_views,
    autoscaler_manifest,
    check_dimension,
    deregistered,
    not_registered,
    policy_deleted,
    policy_put,
    policy_views,
    registered,
    resource_id,
    scheduled_action_deleted,
    scheduled_action_put,
    scheduled_action_views,
    service_of,
    settings_of,
    target_of,
    target_view,
)
from shim.translate.service_to_kube import ACTIVE, INACTIVE

Json = dict[str, Any]
MAX_PAGE = 50
MAX_RESOURCE_IDS = 50
NEWEST_FIRST = 1e11
"""Activities are paged by this minus their start time: newest first."""


def change_scaling(store: Store, call: Call, change: Callable[[Json], Json], *, registers: bool = True) -> Json:
    """Save `change(record)` over the record of the service the call's ResourceId names (redone
    from a fresh read when another writer was first), once Kubernetes would take the HPA it makes,
    then apply that HPA; the saved record. A service that is not there is ValidationException for
    a call that `registers`, ObjectNotFoundException (nothing registered) for one that removes."""
    check_dimension(call.params)
    resource = call.params["ResourceId"]
    cluster_name, service_name = service_of(resource)
    missing = ValidationException(f"ECS service doesn't exist: {resource}") if registers else not_registered(resource)

    def changed(found: Stored) -> Json:
        if found.record["status"] != ACTIVE:
            raise missing
        updated = change(found.record)
        check_autoscaler(store, updated)
        return updated

    try:
        saved = save_service_change(store, cluster_name, service_name, changed).record
    except ServiceNotFoundException:
        raise missing from None
    apply_autoscaler(store, saved)
    return saved


def check_autoscaler(store: Store, record: Json) -> None:
    """Refuse, before it is saved, settings whose HPA the API server would not take."""
    manifest = autoscaler_manifest(record, names.cluster_namespace(record["clusterName"]))
    try:
        check_service_objects(store, [] if manifest is None else [manifest])
    except InvalidParameterException as refused:
        raise ValidationException(refused.message) from None


def scaled_services(store: Store, call: Call) -> list[Json]:
    """The records of the services a Describe call may show: those with auto scaling settings,
    of the ResourceId or ResourceIds it asks for (all when it names none)."""
    params = call.params
    if params["ServiceNamespace"] != SERVICE_NAMESPACE or params.get("ScalableDimension", SCALABLE_DIMENSION) != (
        SCALABLE_DIMENSION
    ):
        return []
    wanted = set(params.get("ResourceIds") or []) | ({params["ResourceId"]} if params.get("ResourceId") else set())
    if len(wanted) > MAX_RESOURCE_IDS:
        raise ValidationException(f"At most {MAX_RESOURCE_IDS} resource IDs can be described at once.")
    records = [
        found.record
        for found in store.all_service_records()
        if found.record["status"] != INACTIVE and settings_of(found.record)
    ]
    shown = [r for r in records if not wanted or resource_id(r["clusterName"], r["serviceName"]) in wanted]
    return [r for r in shown if may_read(store, call, r["clusterName"])]


def may_read(store: Store, call: Call, cluster_name: str) -> bool:
    """Whether the caller may read the services of the cluster (as DescribeServices asks RBAC)."""
    if call.caller is None:
        return True
    arn = names.cluster_arn(call.region, call.account, cluster_name)
    return store.allows(call.caller, permission("get", SERVICE, cluster_name, arn, call.region, call.account))


def paged(call: Call, items: list[Json], key: Callable[[Json], str], member: str) -> Response:
    chunk, token = page(
        items,
        key,
        call.params.get("MaxResults"),
        call.params.get("NextToken"),
        limit=MAX_PAGE,
        refused=ValidationException,
    )
    return {member: chunk, **({"NextToken": token} if token else {})}


# Scalable targets


def register_scalable_target(store: Store, call: Call) -> Response:
    now = time.time()
    saved = change_scaling(
        store, call, lambda record: registered(record, call.params, account=call.account, region=call.region, now=now)
    )
    return {"ScalableTargetARN": target_of(saved)["ScalableTargetARN"]}


def deregister_scalable_target(store: Store, call: Call) -> Response:
    change_scaling(store, call, deregistered, registers=False)
    return {}


def describe_scalable_targets(store: Store, call: Call) -> Response:
    views = [target_view(record) for record in scaled_services(store, call) if settings_of(record).get("target")]
    return paged(call, views, lambda view: str(view["ResourceId"]), "ScalableTargets")


# Scaling policies


def put_scaling_policy(store: Store, call: Call) -> Response:
    now = time.time()
    saved = change_scaling(
        store, call, lambda record: policy_put(record, call.params, account=call.account, region=call.region, now=now)
    )
    [policy] = [p for p in policy_views(saved) if p["PolicyName"] == call.params["PolicyName"]]
    return {"PolicyARN": policy["PolicyARN"], "Alarms": policy["Alarms"]}


def delete_scaling_policy(store: Store, call: Call) -> Response:
    change_scaling(store, call, lambda record: policy_deleted(record, call.params["PolicyName"]), registers=False)
    return {}


def describe_scaling_policies(store: Store, call: Call) -> Response:
    return described(store, call, policy_views, "PolicyName", "PolicyNames", "ScalingPolicies")


def described(
    store: Store, call: Call, views_of: Callable[[Json], list[Json]], key: str, names_member: str, member: str
) -> Response:
    """A page of the policies or scheduled actions (`views_of` a record) the call asks for, by
    the names in `names_member` (all when it names none)."""
    wanted = set(call.params.get(names_member) or [])
    views = [
        view
        for record in scaled_services(store, call)
        for view in views_of(record)
        if not wanted or view[key] in wanted
    ]
    return paged(call, views, lambda view: f"{view['ResourceId']}/{view[key]}", member)


# Scheduled actions


def put_scheduled_action(store: Store, call: Call) -> Response:
    now = time.time()
    change_scaling(
        store,
        call,
        lambda record: scheduled_action_put(record, call.params, account=call.account, region=call.region, now=now),
    )
    return {}


def delete_scheduled_action(store: Store, call: Call) -> Response:
    name = call.params["ScheduledActionName"]
    change_scaling(store, call, lambda record: scheduled_action_deleted(record, name), registers=False)
    return {}


def describe_scheduled_actions(store: Store, call: Call) -> Response:
    member = "ScheduledActions"
    return described(store, call, scheduled_action_views, "ScheduledActionName", "ScheduledActionNames", member)


# Activities


def describe_scaling_activities(store: Store, call: Call) -> Response:
    views = [activity for record in scaled_services(store, call) for activity in activity_views(record)]
    views.sort(key=activity_key)
    return paged(call, views, activity_key, "ScalingActivities")


def activity_key(activity: Json) -> str:
    """Newest first, and a key a new activity does not move (a page resumes where it stopped)."""
    return f"{NEWEST_FIRST - activity['StartTime']:020.6f}/{activity['ActivityId']}"


# Tags (of scalable targets)


def tagged_service(store: Store, call: Call) -> Stored:
    """The service whose scalable target the call's ResourceARN names, if the caller may read it."""
    arn = call.params["ResourceARN"]
    for found in store.all_service_records():
        record = found.record
        target_arn = settings_of(record).get("target", {}).get("ScalableTargetARN")
        if record["status"] != INACTIVE and target_arn == arn and may_read(store, call, record["clusterName"]):
            return found
    raise ResourceNotFoundException(f"No scalable target found for ARN {arn}.")


def change_tags(store: Store, call: Call, change: Callable[[dict[str, str]], dict[str, str]]) -> None:
    found = tagged_service(store, call)

    def changed(current: Stored) -> Json:
        settings = settings_of(current.record)
        if "target" not in settings:
            raise ResourceNotFoundException(f"No scalable target found for ARN {call.params['ResourceARN']}.")
        target = {**settings["target"], "Tags": change(dict(settings["target"].get("Tags") or {}))}
        return {**current.record, "autoScaling": {**settings, "target": target}}

    save_service_change(store, found.record["clusterName"], found.record["serviceName"], changed)


def tag_resource(store: Store, call: Call) -> Response:
    change_tags(store, call, lambda tags: {**tags, **call.params["Tags"]})
    return {}


def untag_resource(store: Store, call: Call) -> Response:
    removed = set(call.params["TagKeys"])
    change_tags(store, call, lambda tags: {key: value for key, value in tags.items() if key not in removed})
    return {}


def list_tags_for_resource(store: Store, call: Call) -> Response:
    found = tagged_service(store, call)
    return {"Tags": dict(target_of(found.record).get("Tags") or {})}


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "RegisterScalableTarget": partial(register_scalable_target, store),
        "DeregisterScalableTarget": partial(deregister_scalable_target, store),
        "DescribeScalableTargets": partial(describe_scalable_targets, store),
        "PutScalingPolicy": partial(put_scaling_policy, store),
        "DeleteScalingPolicy": partial(delete_scaling_policy, store),
        "DescribeScalingPolicies": partial(describe_scaling_policies, store),
        "PutScheduledAction": partial(put_scheduled_action, store),
        "DeleteScheduledAction": partial(delete_scheduled_action, store),
        "DescribeScheduledActions": partial(describe_scheduled_actions, store),
        "DescribeScalingActivities": partial(describe_scaling_activities, store),
        "TagResource": partial(tag_resource, store),
        "UntagResource": partial(untag_resource, store),
        "ListTagsForResource": partial(list_tags_for_resource, store),
    }
