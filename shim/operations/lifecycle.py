"""What ECS does on its own, done by every server process (idempotently, so any number may run):
a task whose essential container exited is stopped as a whole; stopped tasks are forgotten after
ECS's retention of about an hour; a service's deployments are followed (COMPLETED, FAILED, rolled
back by the circuit breaker) and a drained service becomes INACTIVE."""

import logging
import queue
import threading
import time

from kubernetes.client import ApiException

from shim.kube.cache import KubeObject
from shim.kube.store import Store
from shim.operations.services import ServiceObjects, apply_service_objects
from shim.operations.tasks import ClusterTasks, record_task_stop
from shim.translate import names
from shim.translate.services import (
    DRAINING,
    INACTIVE,
    primary_deployment,
    rollback_target,
    service_record_observed,
    service_record_rolled_back,
)
from shim.translate.tasks import essential_container_exited, stopped_at

log = logging.getLogger(__name__)

RETENTION_SECONDS = 3600
SWEEP_SECONDS = 300
SERVICE_CHECK_SECONDS = 2.0
ESSENTIAL_EXITED = "Essential container in task exited"


class TaskLifecycle:
    def __init__(self, store: Store, region: str, account: str) -> None:
        self.store = store
        self.region = region
        self.account = account
        self.exited: queue.Queue[KubeObject] = queue.Queue()

    def start(self) -> None:
        self.store.pods.add_listener(self.on_pod_event)
        threading.Thread(target=self.stop_exited_tasks, name="task-lifecycle", daemon=True).start()
        threading.Thread(target=self.forget_old_tasks, name="task-retention", daemon=True).start()
        threading.Thread(target=self.follow_services, name="service-deployments", daemon=True).start()

    def on_pod_event(self, event_type: str, pod: KubeObject) -> None:
        if event_type == "MODIFIED" and "deletionTimestamp" not in pod["metadata"] and essential_container_exited(pod):
            self.exited.put(pod)

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

    def follow_services(self) -> None:
        while True:
            time.sleep(SERVICE_CHECK_SECONDS)
            for record_object in self.store.services.items():
                try:
                    self.follow_service(record_object)
                except ApiException as error:
                    if error.status != 409:
                        log.exception("could not follow service %s", record_object["metadata"]["name"])
                except Exception:
                    log.exception("could not follow service %s", record_object["metadata"]["name"])

    def follow_service(self, record_object: KubeObject) -> None:
        record = record_object["spec"]["record"]
        if record["status"] == INACTIVE:
            return
        objects = ServiceObjects.load(self.store, record_object)
        now = time.time()
        observed = service_record_observed(record, objects.view(self.region, self.account), now=now)
        if observed["status"] == DRAINING and not objects.pods:
            observed = {**observed, "status": INACTIVE}
        target = rollback_target(
            observed, objects.replica_sets, objects.workload, objects.pods, now=now, stopped_tasks=objects.stopped_tasks
        )
        if target is not None:
            failed = primary_deployment(observed)["id"]
            observed = service_record_rolled_back(observed, failed_id=failed, restored_id=target["id"], now=now)
        if observed == record:
            return
        metadata = record_object["metadata"]
        self.store.save_service_record(
            metadata["namespace"], metadata["name"], metadata.get("labels", {}), observed, record_object
        )
        if target is not None:
            apply_service_objects(self.store, record["clusterName"], observed)
