"""Task sets of EXTERNAL services: CreateTaskSet, UpdateTaskSet, DeleteTaskSet, DescribeTaskSets,
UpdateServicePrimaryTaskSet.

A task set is an entry of its service's record (`taskSets`) plus the Kubernetes objects made from
it: its Deployment and the Services of the target groups it names (translate/task_sets.py)."""

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import InvalidParameterException, ServiceNotActiveException, ServiceNotFoundException
from shim.kube.cache import KubeObject
from shim.kube.records import Stored
from shim.kube.store import Store
from shim.operations.base import includes_tags
from shim.operations.clusters import active_cluster
from shim.operations.services import (
    SERVICE_NOT_FOUND,
    apply_task_sets,
    check_service_objects,
    delete_task_set_objects,
    find_service,
    in_service,
    save_service_change,
    service_named,
    service_pods,
    task_set_objects,
)
from shim.operations.task_definitions import find_active_task_definition
from shim.translate.service_to_kube import ACTIVE, DRAINING, INACTIVE, new_deployment_id, service_selector
from shim.translate.task_sets import (
    check_external,
    check_task_set_load_balancers,
    checked_scale,
    drained_task_sets,
    find_task_set,
    names_task_set,
    shown_task_sets,
    task_set_arn,
    task_set_entry,
    task_set_view,
    task_set_workload_name,
    with_primary,
    with_task_set,
    without_task_sets,
)

Json = dict[str, Any]
MAX_DESCRIBE = 10


def external_service(store: Store, call: Call, statuses: tuple[str, ...] = (ACTIVE,)) -> Stored:
    """The EXTERNAL service a task set call names, in one of `statuses`."""
    cluster_name = active_cluster(store, call)["clusterName"]
    found = find_service(store, cluster_name, service_named(call, cluster_name, call.params["service"]))
    if found is None:
        raise ServiceNotFoundException(SERVICE_NOT_FOUND)
    check_external(found.record)
    if found.record["status"] not in statuses:
        raise ServiceNotActiveException("Service was not ACTIVE.")
    return found


def change_task_sets(store: Store, found: Stored, change: Callable[[Json], Json]) -> Json:
    """Save `change(record)` over the service's stored record (redone from a fresh read when
    another writer was first); the saved record."""

    def changed(current: Stored) -> Json:
        if current.record["status"] != ACTIVE:
            raise ServiceNotActiveException("Service was not ACTIVE.")
        return change(current.record)

    record = found.record
    return save_service_change(store, record["clusterName"], record["serviceName"], changed).record


def shown(store: Store, call: Call, record: Json, task_set_id: str, include_tags: bool = False) -> Json:
    """The ECS view of one of the record's task sets, as it stands now."""
    task_set = find_task_set(record, task_set_id)
    now = time.time()
    pods = service_pods(store, record)
    return task_set_view(
        record, task_set, pods, region=call.region, account=call.account, now=now, include_tags=include_tags
    )


def create_task_set(store: Store, call: Call) -> Response:
    params = call.params
    found = external_service(store, call)
    token = params.get("clientToken")
    retried = next((entry for entry in found.record["taskSets"] if token and entry.get("clientToken") == token), None)
    if retried is not None:  # the same request again: its task set, not a second one
        return {"taskSet": shown(store, call, found.record, retried["id"], include_tags=True)}
    definition = find_active_task_definition(store, params["taskDefinition"])
    check_task_set_load_balancers(params, definition)
    resolved = {**params, "taskDefinition": definition["taskDefinitionArn"]}
    entry = task_set_entry(resolved, found.record, task_set_id=new_deployment_id(), now=time.time())
    check_service_objects(store, task_set_objects(store, with_task_set(found.record, entry), [entry]))
    saved = change_task_sets(store, found, lambda record: with_task_set(record, entry))
    try:
        apply_task_sets(store, saved, [entry])
    except Exception:
        without = change_task_sets(store, found, lambda record: without_task_sets(record, {entry["id"]}))
        delete_task_set_objects(store, saved, without)
        raise
    return {"taskSet": shown(store, call, saved, entry["id"], include_tags=True)}


def update_task_set(store: Store, call: Call) -> Response:
    scale = checked_scale(call.params["scale"])

    def scaled(task_set: Json) -> Json:
        if task_set["status"] == DRAINING:
            raise InvalidParameterException("A task set that is being deleted cannot be updated.")
        return {**task_set, "scale": scale}

    return change_task_set(store, call, scaled)


def delete_task_set(store: Store, call: Call) -> Response:
    def draining(task_set: Json) -> Json:
        if task_set["scale"]["value"] > 0 and not call.params.get("force"):
            raise InvalidParameterException(
                "The task set cannot be deleted while it is scaled above 0; scale it to 0 or use force."
            )
        return {**task_set, "status": DRAINING}

    return change_task_set(store, call, draining)


def change_task_set(store: Store, call: Call, change: Callable[[Json], Json]) -> Response:
    """Save `change(task set)` in place of the task set the call names (`taskSet`), and apply
    its Deployment as it now is."""
    found = external_service(store, call)
    task_set_id = find_task_set(found.record, call.params["taskSet"])["id"]

    def changed(record: Json) -> Json:
        return with_task_set(record, {**change(find_task_set(record, task_set_id)), "updatedAt": time.time()})

    saved = change_task_sets(store, found, changed)
    apply_task_sets(store, saved, [find_task_set(saved, task_set_id)])
    return {"taskSet": shown(store, call, saved, task_set_id)}


def update_service_primary_task_set(store: Store, call: Call) -> Response:
    found = external_service(store, call)
    task_set_id = find_task_set(found.record, call.params["primaryTaskSet"])["id"]
    saved = change_task_sets(store, found, lambda record: with_primary(record, task_set_id, time.time()))
    return {"taskSet": shown(store, call, saved, task_set_id)}


def describe_task_sets(store: Store, call: Call) -> Response:
    record = external_service(store, call, (ACTIVE, DRAINING)).record
    wanted = call.params.get("taskSets") or []
    if len(wanted) > MAX_DESCRIBE:
        raise InvalidParameterException(f"Too many task sets requested: at most {MAX_DESCRIBE}.")
    pods = service_pods(store, record)
    now, include_tags = time.time(), includes_tags(call)
    shown_sets = shown_task_sets(record, pods)
    if wanted:
        shown_sets = [entry for entry in shown_sets if any(names_task_set(record, entry, ref) for ref in wanted)]
    views = [
        task_set_view(record, entry, pods, region=call.region, account=call.account, now=now, include_tags=include_tags)
        for entry in shown_sets
    ]
    failures = [
        {
            "arn": ref if ref.startswith("arn:") else task_set_arn(call.region, call.account, record, ref),
            "reason": "MISSING",
        }
        for ref in wanted
        if not any(names_task_set(record, entry, ref) for entry in shown_sets)
    ]
    return {"taskSets": views, "failures": [{**failure, "reason": "MISSING"} for failure in failures]}


def follow_task_sets(store: Store, stored: Stored, pods: list[KubeObject]) -> None:
    """What the reconciler does for an EXTERNAL service whose tasks' pods are `pods`: drained
    task sets leave the record with their objects, a deleted service whose tasks are all gone
    becomes INACTIVE, and a task set Deployment its record does not have (one a call applied
    again after it was removed) goes."""
    record = stored.record
    updated = without_task_sets(record, {entry["id"] for entry in drained_task_sets(record, pods)})
    if record["status"] == DRAINING and not pods:
        updated["status"] = INACTIVE
    if updated != record:
        store.save_service_record(str(stored.namespace), stored.name, stored.labels, updated, stored)
        delete_task_set_objects(store, record, updated)
    remove_stray_task_set_deployments(store, stored)


def remove_stray_task_set_deployments(store: Store, stored: Stored) -> None:
    namespace = str(stored.namespace)
    service = stored.record["serviceName"]
    deployments = [
        deployment["metadata"]["name"]
        for deployment in store.deployments_in(namespace)
        if in_service(deployment, namespace, service_selector(service))
        and deployment["metadata"]["name"].startswith("ts-")
    ]
    strays = set(deployments) - task_set_workloads(stored.record)
    if strays:  # asked again of the API server: a record is saved before its objects are applied
        current = store.get_service_record(namespace, stored.name, cached=False)
        strays -= task_set_workloads(current.record) if current is not None else set()
    for name in sorted(strays):
        store.delete_object("Deployment", namespace, name)


def task_set_workloads(record: Json) -> set[str]:
    """The names of the Deployments of the record's task sets (none once it is deleted)."""
    if record["status"] != ACTIVE:
        return set()
    return {task_set_workload_name(record["serviceName"], entry["id"]) for entry in record["taskSets"]}


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "CreateTaskSet": partial(create_task_set, store),
        "UpdateTaskSet": partial(update_task_set, store),
        "DeleteTaskSet": partial(delete_task_set, store),
        "DescribeTaskSets": partial(describe_task_sets, store),
        "UpdateServicePrimaryTaskSet": partial(update_service_primary_task_set, store),
    }
