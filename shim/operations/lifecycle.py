"""What ECS does on its own, done by every server process (idempotently, so any number may run):
a task whose essential container exited is stopped as a whole; a service task its ReplicaSet or
DaemonSet removes is kept as stopped by the service scheduler; stopped tasks are forgotten after
ECS's retention of about an hour; a service's deployments are followed (COMPLETED, FAILED, rolled
back by the circuit breaker), rebalanced across zones, and a drained service becomes INACTIVE."""

import logging
import queue
import threading
import time
from typing import Any

from kubernetes.client import ApiException

from shim.kube.cache import KubeObject
from shim.kube.store import Store
from shim.operations.services import ServiceObjects, apply_service_objects
from shim.operations.task_definitions import remove_unused_deleted_revisions
from shim.operations.tasks import ClusterTasks, keep_task_stop, record_task_stop
from shim.translate import names
from shim.translate.services import (
    COMPLETED,
    DRAINING,
    INACTIVE,
    is_stable,
    primary_deployment,
    rollback_target,
    running_pods,
    scaling_stop_reason,
    service_record_observed,
    service_record_rolled_back,
)
from shim.translate.tasks import essential_container_exited, stopped_at, task_id_of
from shim.translate.zone_rebalancing import STOP_REASON as REBALANCING_STOP_REASON
from shim.translate.zone_rebalancing import RebalanceStep, rebalance_step, usable_zones

log = logging.getLogger(__name__)

RETENTION_SECONDS = 3600
SWEEP_SECONDS = 300
TASK_DEFINITION_SWEEP_SECONDS = 10
SERVICE_CHECK_SECONDS = 2.0
ESSENTIAL_EXITED = "Essential container in task exited"
SERVICE_SCHEDULER_INITIATED = "ServiceSchedulerInitiated"


class TaskLifecycle:
    def __init__(self, store: Store, region: str, account: str) -> None:
        self.store = store
        self.region = region
        self.account = account
        self.exited: queue.Queue[KubeObject] = queue.Queue()
        self.removed: queue.Queue[KubeObject] = queue.Queue()
        self.terminating: dict[str, KubeObject] = {}
        """Service pods being deleted, by namespace/name, as last seen."""
        self.terminating_lock = threading.Lock()

    def start(self) -> None:
        self.store.pods.add_listener(self.on_pod_event)
        threading.Thread(target=self.stop_exited_tasks, name="task-lifecycle", daemon=True).start()
        threading.Thread(target=self.record_removed_tasks, name="removed-service-tasks", daemon=True).start()
        threading.Thread(target=self.forget_old_tasks, name="task-retention", daemon=True).start()
        threading.Thread(
            target=self.forget_deleted_task_definitions, name="task-definition-removal", daemon=True
        ).start()
        threading.Thread(target=self.follow_services, name="service-deployments", daemon=True).start()

    def on_pod_event(self, event_type: str, pod: KubeObject) -> None:
        if event_type == "MODIFIED" and "deletionTimestamp" not in pod["metadata"] and essential_container_exited(pod):
            self.exited.put(pod)
        self.follow_removals(event_type, pod)

    def follow_removals(self, event_type: str, pod: KubeObject) -> None:
        """Queue the service pods that went for `record_removed_tasks`: those deleted, and those
        seen being deleted that a relisted cache no longer holds (they went while the watch was
        down). A pod is recorded as it was last seen, with its containers' final states."""
        if event_type == "RELISTED":
            with self.terminating_lock:
                gone = [key for key in self.terminating if self.store.pods.get(key) is None]
                for key in gone:
                    self.removed.put(self.terminating.pop(key))
            return
        metadata = pod["metadata"]
        key = f"{metadata['namespace']}/{metadata['name']}"
        removed_by_scheduler = scaling_stop_reason(pod) is not None
        with self.terminating_lock:
            if event_type == "DELETED":
                self.terminating.pop(key, None)
                if removed_by_scheduler:
                    self.removed.put(pod)
            elif removed_by_scheduler and "deletionTimestamp" in metadata:
                self.terminating[key] = pod

    def stop_exited_tasks(self) -> None:
        while True:
            pod = self.exited.get()
            try:
                self.stop_task(pod)
            except Exception:
                log.exception("could not stop task %s", pod["metadata"]["name"])

    def stop_task(self, pod: KubeObject) -> None:
        cluster_name = self.cluster_of(pod)
        if cluster_name is None:
            return
        tasks = ClusterTasks.load(self.store, cluster_name)
        record_task_stop(
            self.store,
            tasks,
            pod,
            "EssentialContainerExited",
            ESSENTIAL_EXITED,
            region=self.region,
            account=self.account,
        )

    def record_removed_tasks(self) -> None:
        while True:
            pod = self.removed.get()
            try:
                self.record_removed_task(pod)
            except ApiException as error:
                if error.status in (403, 404):
                    log.debug("no record of task %s: its cluster is going", pod["metadata"]["name"])
                else:
                    log.exception("could not record task %s", pod["metadata"]["name"])
            except Exception:
                log.exception("could not record task %s", pod["metadata"]["name"])

    def record_removed_task(self, pod: KubeObject) -> None:
        """Keep a STOPPED record of a service task its ReplicaSet or DaemonSet removed (a rollout,
        a scale-in, a deleted service), unless it has one (StopTask, an essential container's exit)."""
        reason = scaling_stop_reason(pod)
        cluster_name = self.cluster_of(pod)
        if reason is None or cluster_name is None:
            return
        tasks = ClusterTasks.load(self.store, cluster_name)
        if tasks.record(task_id_of(pod)) is None:
            keep_task_stop(
                self.store, tasks, pod, SERVICE_SCHEDULER_INITIATED, reason, region=self.region, account=self.account
            )

    def cluster_of(self, pod: KubeObject) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for record in self.store.list_clusters():
            if names.cluster_namespace(record["spec"]["clusterName"]) == namespace:
                return str(record["spec"]["clusterName"])
        return None

    def forget_old_tasks(self) -> None:
        while True:
            time.sleep(SWEEP_SECONDS)
            try:
                self.sweep(time.time() - RETENTION_SECONDS)
            except Exception:
                log.exception("could not sweep stopped tasks")

    def sweep(self, before: float) -> None:
        for record in self.store.task_records.items():
            if (stopped_at(record["spec"]["record"]) or time.time()) < before:
                self.store.delete_task_record(record["metadata"]["namespace"], record["metadata"]["name"])
        for pod in self.store.pods.items():
            if (stopped_at(pod) or time.time()) < before:
                self.store.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])

    def forget_deleted_task_definitions(self) -> None:
        """Remove deleted task definition revisions once nothing uses them (see task_definitions.py)."""
        while True:
            time.sleep(TASK_DEFINITION_SWEEP_SECONDS)
            try:
                remove_unused_deleted_revisions(self.store, time.time())
            except Exception:
                log.exception("could not remove deleted task definitions")

    def follow_services(self) -> None:
        while True:
            time.sleep(SERVICE_CHECK_SECONDS)
            for record_object in self.store.services.items():
                try:
                    self.follow_service(record_object)
                except ApiException as error:
                    if error.status in (404, 409):
                        log.debug("service %s changed or went while followed", record_object["metadata"]["name"])
                    else:
                        log.exception("could not follow service %s", record_object["metadata"]["name"])
                except Exception:
                    log.exception("could not follow service %s", record_object["metadata"]["name"])

    def follow_service(self, record_object: KubeObject) -> None:
        record = record_object["spec"]["record"]
        if record["status"] == INACTIVE:
            return
        objects = ServiceObjects.load(self.store, record_object)
        now = time.time()
        view = objects.view(self.region, self.account)
        observed = service_record_observed(record, view, now=now)
        if observed["status"] == DRAINING and not objects.pods:
            observed = {**observed, "status": INACTIVE}
        target = rollback_target(
            observed, objects.replica_sets, objects.workload, objects.pods, now=now, stopped_tasks=objects.stopped_tasks
        )
        step = None
        if target is not None:
            failed = primary_deployment(observed)["id"]
            observed = service_record_rolled_back(observed, failed_id=failed, restored_id=target["id"], now=now)
        else:
            step = self.zone_rebalancing(observed, view, objects, now)
            if step is not None:
                observed = {**observed, "zoneRebalancing": step.history}
        if observed == record:
            return
        metadata = record_object["metadata"]
        self.store.save_service_record(
            metadata["namespace"], metadata["name"], metadata.get("labels", {}), observed, record_object
        )
        if target is not None:
            apply_service_objects(self.store, record["clusterName"], observed)
        if step is not None and step.stop is not None:
            self.stop_for_rebalancing(record["clusterName"], step.stop, primary_deployment(observed)["id"])

    def zone_rebalancing(
        self, record: dict[str, Any], view: dict[str, Any], objects: ServiceObjects, now: float
    ) -> RebalanceStep | None:
        """The next step of Availability Zone rebalancing (see translate/zone_rebalancing.py)."""
        pod_spec = ((objects.workload or {}).get("spec") or {}).get("template", {}).get("spec", {})
        node_zones = usable_zones(self.store.nodes_serving(record["clusterName"]), pod_spec)
        return rebalance_step(
            record,
            steady=is_stable(view) and view["deployments"][0]["rolloutState"] == COMPLETED,
            running=running_pods(objects.pods),
            terminating=any(pod["metadata"].get("deletionTimestamp") for pod in objects.pods),
            node_zones=node_zones,
            now=now,
        )

    def stop_for_rebalancing(self, cluster_name: str, pod: KubeObject, deployment_id: str) -> None:
        tasks = ClusterTasks.load(self.store, cluster_name)
        reason = REBALANCING_STOP_REASON.format(deployment_id=deployment_id)
        record_task_stop(
            self.store, tasks, pod, SERVICE_SCHEDULER_INITIATED, reason, region=self.region, account=self.account
        )
