"""The reconciler: what ECS does on its own, done by every server process (idempotently, so any
number may run). A task whose essential container exited is stopped as a whole; a service task
its ReplicaSet or DaemonSet removes is kept as stopped by the service scheduler; stopped tasks
are forgotten after ECS's retention of about an hour, and expired scale-in protection is lifted
within seconds; deleted task definition revisions go once nothing uses them; a service's
deployments are followed (COMPLETED, FAILED, rolled back by the circuit breaker, blue/green ones moved through
their stages and traffic steps), its UNHEALTHY tasks replaced, its tasks rebalanced across
zones, and a drained service becomes INACTIVE. A stopped task's record gets the exit codes its
other containers ended with once its pod is gone."""

import logging
import queue
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from shim import metrics
from shim.kube.cache import KubeObject
from shim.kube.errors import Conflict, Forbidden, NotFound, StoreError
from shim.kube.records import Stored
from shim.kube.store import Store
from shim.operations.services import (
    ServiceObjects,
    apply_autoscaler,
    apply_service_objects,
    label_serving_tasks,
    retire_superseded_replica_sets,
)
from shim.operations.task_definitions import remove_unused_deleted_revisions
from shim.operations.task_sets import follow_task_sets
from shim.operations.tasks import ClusterTasks, keep_task_stop, record_task_stop
from shim.translate import names
from shim.translate.autoscaling import (
    autoscaled,
    autoscaler_current,
    autoscaler_manifest,
    due_actions,
    scheduled,
    settings_of,
)
from shim.translate.blue_green import blue_green_advanced
from shim.translate.service_from_kube import (
    UNHEALTHY_STOP_REASON,
    is_stable,
    rollback_target,
    running_pods,
    scaling_stop_reason,
    unhealthy_tasks,
)
from shim.translate.service_to_kube import (
    ACTIVE,
    COMPLETED,
    DRAINING,
    INACTIVE,
    is_external,
    primary_deployment,
    service_record_observed,
    service_record_rolled_back,
    workload_name,
)
from shim.translate.task_from_pod import (
    ESSENTIAL_CONTAINER_EXITED,
    ESSENTIAL_CONTAINER_EXITED_REASON,
    SERVICE_SCHEDULER_INITIATED,
    TASK_FAILED_TO_START,
    essential_container_exited,
    start_failure,
    stopped_at,
    task_id_of,
    with_final_exits,
)
from shim.translate.task_protection import is_protected, protected_until, protection_patch
from shim.translate.zone_rebalancing import STOP_REASON as REBALANCING_STOP_REASON
from shim.translate.zone_rebalancing import RebalanceStep, may_rebalance, rebalance_step, usable_zones

log = logging.getLogger(__name__)

RETENTION_SECONDS = 3600
SWEEP_SECONDS = 300
TASK_DEFINITION_SWEEP_SECONDS = 10
SERVICE_CHECK_SECONDS = 2.0
PROTECTION_CHECK_SECONDS = 2.0


REPEAT_LOG_SECONDS = 300.0
"""How long a background failure of one kind is logged once: in an outage every loop fails the
same way every few seconds, and one traceback says it all."""
_last_logged: dict[str, float] = {}
_last_logged_lock = threading.Lock()


def carry_on(action: Callable[[], object], failure: str, *, expected: tuple[type[StoreError], ...] = ()) -> None:
    """Run one step of a background loop, which must go on whatever happens: an `expected` store
    error is logged at debug level, any other failure with its traceback, once per kind of
    failure in REPEAT_LOG_SECONDS (repeats at debug level)."""
    started, failed = time.monotonic(), True
    try:
        action()
        failed = False
    except expected as error:
        log.debug("%s: %s %s", failure, error.status, error.reason)
    except Exception as error:
        _log_failure(failure, error)
    finally:
        step = getattr(getattr(action, "func", action), "__name__", "step")
        metrics.background_step(step, time.monotonic() - started, failed)


def _log_failure(failure: str, error: Exception) -> None:
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    now = time.monotonic()
    with _last_logged_lock:
        repeated = now - _last_logged.get(kind, -REPEAT_LOG_SECONDS) < REPEAT_LOG_SECONDS
        if not repeated:
            _last_logged[kind] = now
    if repeated:
        log.debug("%s: %s", failure, error)
    else:
        log.exception("%s (the same failure is logged again in %g s at the earliest)", failure, REPEAT_LOG_SECONDS)


class Reconciler:
    """The background component of each server process: follows pods, tasks, task definitions and
    services and acts on them as ECS does (see the module docstring)."""

    def __init__(self, store: Store, region: str, account: str) -> None:
        self.store = store
        self.region = region
        self.account = account
        self.exited: queue.Queue[tuple[KubeObject, str, str]] = queue.Queue()
        """Task pods to stop, with their stopCode and stoppedReason: an essential container
        exited, or a container cannot start."""
        self.removed: queue.Queue[tuple[KubeObject, str]] = queue.Queue()
        """Service pods their ReplicaSet or DaemonSet removed, with the stop reason to record."""
        self.final_exits: queue.Queue[KubeObject] = queue.Queue()
        """Task pods as last seen before they went: how their containers ended."""
        self.terminating: dict[str, tuple[KubeObject, str]] = {}
        """Service pods being deleted, by namespace/name, as last seen, with their stop reason."""
        self.terminating_lock = threading.Lock()

    def start(self) -> None:
        self.store.add_pod_listener(self.on_pod_event)
        threading.Thread(target=self.stop_exited_tasks, name="exited-tasks", daemon=True).start()
        threading.Thread(target=self.record_removed_tasks, name="removed-service-tasks", daemon=True).start()
        threading.Thread(target=self.record_final_exits, name="final-exits", daemon=True).start()
        threading.Thread(target=self.forget_old_tasks, name="task-retention", daemon=True).start()
        threading.Thread(target=self.end_expired_protection, name="task-protection", daemon=True).start()
        threading.Thread(
            target=self.forget_deleted_task_definitions, name="task-definition-removal", daemon=True
        ).start()
        threading.Thread(target=self.follow_services, name="service-deployments", daemon=True).start()

    def on_pod_event(self, event_type: str, pod: KubeObject) -> None:
        if event_type == "MODIFIED" and "deletionTimestamp" not in pod["metadata"]:
            failure = start_failure(pod)
            if failure is not None:
                self.exited.put((pod, TASK_FAILED_TO_START, failure))
            elif essential_container_exited(pod):
                self.exited.put((pod, ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_CONTAINER_EXITED_REASON))
        if event_type == "DELETED":
            self.final_exits.put(pod)
        self.follow_removals(event_type, pod)

    def record_final_exits(self) -> None:
        """Add to stopped tasks' records how their other containers ended (see with_final_exits)."""
        while True:
            pod = self.final_exits.get()
            carry_on(partial(self.record_final_exit, pod), f"could not record how {pod['metadata']['name']} ended")

    def record_final_exit(self, pod: KubeObject) -> None:
        stored = self.store.task_record(pod["metadata"]["namespace"], task_id_of(pod))
        updated = with_final_exits(stored.record, pod) if stored is not None else None
        if stored is not None and updated is not None:
            self.store.update_task_record(stored, updated)

    def follow_removals(self, event_type: str, pod: KubeObject) -> None:
        """Queue the service pods that went for `record_removed_tasks`: those deleted, and those
        seen being deleted that a relisted cache no longer holds (they went while the watch was
        down). A pod is recorded as it was last seen, with its containers' final states, and with
        the reason it had when its deletion began: a kubelet ends a deleted pod Succeeded or Failed
        before it goes, which alone would read as a task that stopped on its own."""
        if event_type == "RELISTED":
            with self.terminating_lock:
                gone = [key for key in self.terminating if self.store.pod(*key.split("/", 1)) is None]
                for key in gone:
                    self.removed.put(self.terminating.pop(key))
            return
        metadata = pod["metadata"]
        key = f"{metadata['namespace']}/{metadata['name']}"
        with self.terminating_lock:
            tracked = self.terminating.pop(key, None)
            reason = tracked[1] if tracked else scaling_stop_reason(pod)
            if reason is None:
                return
            if event_type == "DELETED":
                self.removed.put((pod, reason))
            elif "deletionTimestamp" in metadata:
                self.terminating[key] = (pod, reason)

    def stop_exited_tasks(self) -> None:
        while True:
            pod, stop_code, reason = self.exited.get()
            failure = f"could not stop task {pod['metadata']['name']}"
            carry_on(partial(self.stop_task, pod, stop_code, reason), failure)

    def stop_task(self, pod: KubeObject, stop_code: str, reason: str) -> None:
        cluster_name = self.cluster_of(pod)
        if cluster_name is None:
            return
        tasks = ClusterTasks.load(self.store, cluster_name)
        record_task_stop(self.store, tasks, pod, stop_code, reason, region=self.region, account=self.account)

    def record_removed_tasks(self) -> None:
        while True:
            pod, reason = self.removed.get()
            # 403, 404: its cluster's namespace is going.
            failure = f"could not record task {pod['metadata']['name']}"
            carry_on(partial(self.record_removed_task, pod, reason), failure, expected=(Forbidden, NotFound))

    def record_removed_task(self, pod: KubeObject, reason: str) -> None:
        """Keep a STOPPED record of a service task its ReplicaSet or DaemonSet removed (a rollout,
        a scale-in, a deleted service), unless it has one (StopTask, an essential container's exit)."""
        cluster_name = self.cluster_of(pod)
        if cluster_name is None:
            return
        tasks = ClusterTasks.load(self.store, cluster_name)
        if tasks.record(task_id_of(pod)) is None:
            keep_task_stop(
                self.store, tasks, pod, SERVICE_SCHEDULER_INITIATED, reason, region=self.region, account=self.account
            )

    def cluster_of(self, pod: KubeObject) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for cluster in self.store.list_clusters():
            if names.cluster_namespace(cluster.record["clusterName"]) == namespace:
                return str(cluster.record["clusterName"])
        return None

    def forget_old_tasks(self) -> None:
        while True:
            time.sleep(SWEEP_SECONDS)
            carry_on(self.sweep_stopped_tasks, "could not sweep stopped tasks")

    def sweep_stopped_tasks(self) -> None:
        self.sweep(time.time() - RETENTION_SECONDS)

    def sweep(self, before: float) -> None:
        for stopped in self.store.all_task_records():
            if (stopped_at(stopped.record) or time.time()) < before:
                self.store.delete_task_record(stopped)
        now = time.time()
        for pod in self.store.all_pods():
            metadata = pod["metadata"]
            if (stopped_at(pod) or now) < before:
                self.store.delete_pod(metadata["namespace"], metadata["name"])

    def end_expired_protection(self) -> None:
        """Take expired scale-in protection off pods within PROTECTION_CHECK_SECONDS: a scale-in
        or a rolling deployment waiting on a protected task (the admission policy refuses its
        deletion) goes on at once, as the pod's change wakes its ReplicaSet's controller."""
        while True:
            time.sleep(PROTECTION_CHECK_SECONDS)
            carry_on(self.lift_expired_protection, "could not lift expired task protection", expected=(NotFound,))

    def lift_expired_protection(self) -> None:
        now = time.time()
        for pod in self.store.all_pods():
            if protected_until(pod) is not None and not is_protected(pod, now):
                metadata = pod["metadata"]
                self.store.patch_pod(metadata["namespace"], metadata["name"], protection_patch(None))

    def forget_deleted_task_definitions(self) -> None:
        """Remove deleted task definition revisions once nothing uses them (see task_definitions.py)."""
        while True:
            time.sleep(TASK_DEFINITION_SWEEP_SECONDS)
            carry_on(self.remove_deleted_task_definitions, "could not remove deleted task definitions")

    def remove_deleted_task_definitions(self) -> None:
        remove_unused_deleted_revisions(self.store, time.time())

    def follow_services(self) -> None:
        while True:
            time.sleep(SERVICE_CHECK_SECONDS)
            for stored in self.store.all_service_records():
                # 404, 409: another writer changed or deleted the service meanwhile.
                failure = f"could not follow service {stored.name}"
                carry_on(partial(self.follow_service, stored), failure, expected=(NotFound, Conflict))

    def follow_service(self, stored: Stored) -> None:
        if stored.record["status"] == INACTIVE:
            return
        if stored.record["status"] == ACTIVE and settings_of(stored.record):
            stored = self.follow_autoscaling(stored)
        record = stored.record
        objects = ServiceObjects.load(self.store, stored)
        now = time.time()
        for pod in unhealthy_tasks(record, objects.pods, now):
            self.stop_service_task(record["clusterName"], pod, UNHEALTHY_STOP_REASON)
        if is_external(record):
            follow_task_sets(self.store, stored, objects.pods)
            return
        view = objects.view(self.region, self.account)
        observed = service_record_observed(record, view, now=now)
        if observed["status"] == DRAINING and not objects.pods:
            observed = {**observed, "status": INACTIVE}
        target = rollback_target(
            observed, objects.replica_sets, objects.workload, objects.pods, now=now, stopped_tasks=objects.stopped_tasks
        )
        step = None
        advanced = None
        if target is not None:
            failed = primary_deployment(observed)["id"]
            observed = service_record_rolled_back(observed, failed_id=failed, restored_id=target["id"], now=now)
        else:
            advanced = blue_green_advanced(observed, view, now=now)
            observed = advanced or observed
            step = self.zone_rebalancing(observed, view, objects, now)
            if step is not None:
                observed = {**observed, "zoneRebalancing": step.history}
        label_serving_tasks(self.store, observed, objects.pods, additions=True)  # a step's new tasks serve too
        if observed == record:
            label_serving_tasks(self.store, observed, objects.pods, additions=False)
            retire_superseded_replica_sets(self.store, observed)
            return
        self.store.save_service_record(str(stored.namespace), stored.name, stored.labels, observed, stored)
        if target is not None or advanced is not None:
            apply_service_objects(self.store, record["clusterName"], observed)
        if step is not None and step.stop is not None:
            reason = REBALANCING_STOP_REASON.format(deployment_id=primary_deployment(observed)["id"])
            self.stop_service_task(record["clusterName"], step.stop, reason)

    def follow_autoscaling(self, stored: Stored) -> Stored:
        """Take the desired count the service's HPA set, run its scheduled actions that are due
        (translate/autoscaling.py), and apply its HPA if it is not the one its record makes (a
        change another server applied late, or an apply that failed); the record as it now stands."""
        record, now = stored.record, time.time()
        namespace = str(stored.namespace)
        existing = self.store.autoscaler(namespace, workload_name(record["serviceName"]))
        updated = autoscaled(record, existing) or record
        for action in due_actions(updated, now):
            updated = scheduled(updated, action, now)
        if updated != record:
            stored = self.store.save_service_record(namespace, stored.name, stored.labels, updated, stored)
            apply_service_objects(self.store, record["clusterName"], updated)
        if not autoscaler_current(existing, autoscaler_manifest(updated, namespace)):
            apply_autoscaler(self.store, updated)
        return stored

    def zone_rebalancing(
        self, record: dict[str, Any], view: dict[str, Any], objects: ServiceObjects, now: float
    ) -> RebalanceStep | None:
        """The next step of Availability Zone rebalancing (see translate/zone_rebalancing.py)."""
        steady = is_stable(view) and view["deployments"][0]["rolloutState"] == COMPLETED
        terminating = any(pod["metadata"].get("deletionTimestamp") for pod in objects.pods)
        if not may_rebalance(record, steady=steady, terminating=terminating):
            return None
        pod_spec = ((objects.workload or {}).get("spec") or {}).get("template", {}).get("spec", {})
        node_zones = usable_zones(self.store.nodes_serving(record["clusterName"]), pod_spec, now)
        return rebalance_step(
            record,
            steady=steady,
            running=running_pods(objects.pods),
            terminating=terminating,
            node_zones=node_zones,
            now=now,
        )

    def stop_service_task(self, cluster_name: str, pod: KubeObject, reason: str) -> None:
        tasks = ClusterTasks.load(self.store, cluster_name)
        record_task_stop(
            self.store, tasks, pod, SERVICE_SCHEDULER_INITIATED, reason, region=self.region, account=self.account
        )
