"""What ECS does to tasks on its own, done by every server process (idempotently, so any number
may run): a task whose essential container exited is stopped as a whole, and stopped tasks are
forgotten after ECS's retention of about an hour."""

import logging
import queue
import threading
import time

from shim.kube.cache import KubeObject
from shim.kube.store import Store
from shim.operations.tasks import ClusterTasks, record_task_stop
from shim.translate import names
from shim.translate.tasks import essential_container_exited, stopped_at

log = logging.getLogger(__name__)

RETENTION_SECONDS = 3600
SWEEP_SECONDS = 300
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

    def on_pod_event(self, event_type: str, pod: KubeObject) -> None:
        if event_type != "DELETED" and "deletionTimestamp" not in pod["metadata"] and essential_container_exited(pod):
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
