"""Task scale-in protection: UpdateTaskProtection and GetTaskProtection (translate/
task_protection.py says what a protected task's pod carries)."""

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.kube.cache import KubeObject
from shim.kube.store import Store
from shim.operations.base import requested
from shim.operations.clusters import active_cluster
from shim.translate import names
from shim.translate.task_from_pod import is_stopped, task_id_of
from shim.translate.task_protection import (
    MAX_READ,
    MAX_UPDATED,
    TASK_NOT_VALID,
    is_protected,
    is_service_task,
    protected_task_view,
    protection_minutes,
    protection_patch,
)

TaskAction = Callable[[KubeObject], KubeObject]
"""What a call does to a protectable task's pod; returns the pod as it is afterwards."""


def update_task_protection(store: Store, call: Call) -> Response:
    wanted = requested(call, "tasks", MAX_UPDATED, "tasks", empty="Tasks cannot be empty.")
    until = time.time() + 60 * protection_minutes(call.params) if call.params["protectionEnabled"] else None

    def protect(pod: KubeObject) -> KubeObject:
        metadata = pod["metadata"]
        return store.patch_pod(metadata["namespace"], metadata["name"], protection_patch(until))

    return _each_task(store, call, active_cluster(store, call)["clusterName"], wanted, protect)


def get_task_protection(store: Store, call: Call) -> Response:
    cluster_name = active_cluster(store, call)["clusterName"]
    if call.params.get("tasks") is None:
        now = time.time()
        pods = store.pods_in(names.cluster_namespace(cluster_name))
        wanted = [task_id_of(pod) for pod in pods if is_service_task(pod) and is_protected(pod, now)]
    else:
        wanted = requested(call, "tasks", MAX_READ, "tasks", empty="Tasks cannot be empty.")
    return _each_task(store, call, cluster_name, wanted, lambda pod: pod)


def _each_task(store: Store, call: Call, cluster_name: str, wanted: list[str], action: TaskAction) -> Response:
    """`action` on each named task of the cluster that can be protected: a running service task;
    the others are failures, as ECS lists them."""
    namespace = names.cluster_namespace(cluster_name)
    now = time.time()
    protected: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for value in wanted:
        task_id = names.cluster_resource_id(value, cluster_name, call.region, call.account)
        arn = names.task_arn(call.region, call.account, cluster_name, task_id)
        pod = store.task_pod(namespace, task_id)
        if pod is None and store.task_record(namespace, task_id) is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        elif pod is None or is_stopped(pod) or not is_service_task(pod):
            failures.append({"arn": arn, "reason": TASK_NOT_VALID, "detail": _not_valid_detail(pod)})
        else:
            protected.append(protected_task_view(arn, action(pod), now))
    return {"protectedTasks": protected, "failures": failures}


def _not_valid_detail(pod: KubeObject | None) -> str:
    if pod is None or is_stopped(pod):
        return "The task is not running."
    return "Task protection is supported only for tasks that belong to a service."


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "UpdateTaskProtection": partial(update_task_protection, store),
        "GetTaskProtection": partial(get_task_protection, store),
    }
