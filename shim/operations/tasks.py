"""Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks."""

import threading
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import InvalidParameterException, ServerException
from shim.kube.cache import DerivedCache, KubeObject, version_key
from shim.kube.errors import Conflict
from shim.kube.records import Stored
from shim.kube.store import Store
from shim.operations.base import includes_tags, requested
from shim.operations.clusters import active_cluster
from shim.operations.container_instances import node_for_instance
from shim.operations.pagination import page
from shim.operations.placement import cluster_nodes, place
from shim.operations.task_definitions import find_active_task_definition
from shim.translate import names
from shim.translate.container_instances import PodUsage, container_instance_id, pod_usage
from shim.translate.placement import PlacementFailure, cluster_scheduling, node_label_for_attribute
from shim.translate.placement_plan import placement_request
from shim.translate.task_from_pod import (
    TaskSummary,
    health_due_at,
    is_stopped,
    stopped_task_record,
    task_id_of,
    task_summary,
    task_view,
)
from shim.translate.task_to_pod import (
    RunParameters,
    client_token_task_id,
    pod_name,
    task_to_pod,
    validate_run_parameters,
)

MAX_COUNT = 10
MAX_DESCRIBE = 100
TASK_NOT_FOUND = "The referenced task was not found."
ZONE_LABEL = node_label_for_attribute("ecs.availability-zone")


@dataclass(frozen=True)
class ClusterTasks:
    """A cluster's tasks as Kubernetes holds them: live Pods and stopped-task records."""

    store: Store
    name: str
    namespace: str

    @classmethod
    def load(cls, store: Store, cluster_name: str) -> "ClusterTasks":
        return cls(store, cluster_name, names.cluster_namespace(cluster_name))

    def pod(self, task_id: str) -> KubeObject | None:
        return self.store.task_pod(self.namespace, task_id)

    def record(self, task_id: str) -> Stored | None:
        return self.store.task_record(self.namespace, task_id)

    def exists(self, task_id: str) -> bool:
        return self.pod(task_id) is not None or self.record(task_id) is not None

    def summaries(self, caches: "TaskCaches") -> list[TaskSummary]:
        records = {record.labels[names.LABEL_TASK_ID]: record for record in self.store.task_records_in(self.namespace)}
        from_pods = [caches.summary_of(pod, None) for pod in self.store.pods_in(self.namespace)]
        return [task for task in from_pods if task.task_id not in records] + [
            caches.summary_of(None, record) for record in records.values()
        ]


class TaskCaches:
    """What the task operations keep between calls, for one set of handlers (build_handlers makes
    it): values derived from the store's cached objects, kept while those objects keep their
    versions (task views and summaries, what each pod takes of its node), and ListTasks answers."""

    def __init__(self, store: Store) -> None:
        self.views: DerivedCache[Response] = DerivedCache()
        self.summaries: DerivedCache[TaskSummary] = DerivedCache()
        self.usages: DerivedCache[PodUsage] = DerivedCache()
        self.listings = TaskListings(store, self)

    def summary_of(self, pod: KubeObject | None, record: Stored | None) -> TaskSummary:
        return self.summaries.get(
            (version_key(pod), record.version if record else None),
            lambda: task_summary(pod, record.record if record else None),
        )

    def usage_of(self, pod: KubeObject) -> PodUsage:
        """What the pod takes of its node, kept while the pod keeps its version."""
        return self.usages.get(version_key(pod), lambda: pod_usage(pod))


def view(
    store: Store, caches: TaskCaches, call: Call, tasks: ClusterTasks, task_id: str, include_tags: bool = False
) -> Response:
    pod = tasks.pod(task_id)
    record = tasks.record(task_id)
    node = store.node_of(pod) if pod else None
    now = time.time()
    due = health_due_at(pod) if pod else None
    key = (
        version_key(pod),
        due is not None and now >= due,
        record.version if record else None,
        version_key(node),
        call.region,
        call.account,
        tasks.name,
        include_tags,
    )
    return caches.views.get(
        key,
        lambda: task_view(
            pod,
            record.record if record else None,
            region=call.region,
            account=call.account,
            cluster_name=tasks.name,
            container_instance_id=container_instance_id(node) if node else None,
            availability_zone=zone_of(node),
            include_tags=include_tags,
            now=now,
        ),
    )


def zone_of(node: KubeObject | None) -> str | None:
    return node["metadata"].get("labels", {}).get(ZONE_LABEL) if node else None


def run_task(store: Store, caches: TaskCaches, call: Call) -> Response:
    cluster = active_cluster(store, call)
    count = call.params.get("count", 1)
    if not 1 <= count <= MAX_COUNT:
        raise InvalidParameterException(f"count must be between 1 and {MAX_COUNT}.")
    return launch(store, caches, call, cluster["clusterName"], count, pinned_nodes=None)


def start_task(store: Store, caches: TaskCaches, call: Call) -> Response:
    cluster = active_cluster(store, call)
    instances = call.params["containerInstances"]
    if not 1 <= len(instances) <= MAX_COUNT:
        raise InvalidParameterException(f"containerInstances must list between 1 and {MAX_COUNT} instances.")
    nodes = [node_for_instance(store, call, cluster["clusterName"], value) for value in instances]
    return launch(store, caches, call, cluster["clusterName"], len(nodes), pinned_nodes=nodes)


def launch(
    store: Store,
    caches: TaskCaches,
    call: Call,
    cluster_name: str,
    count: int,
    pinned_nodes: list[KubeObject] | None,
) -> Response:
    params = call.params
    validate_run_parameters(params)
    definition = find_active_task_definition(store, params["taskDefinition"])
    launch_type = params.get("launchType", "EC2")
    check_launch_type(definition, launch_type, params)
    namespace = names.cluster_namespace(cluster_name)
    token = params.get("clientToken")
    task_ids = [client_token_task_id(cluster_name, token, index) for index in range(count)] if token else None
    tasks = ClusterTasks.load(store, cluster_name)
    earlier = {task_id for task_id in task_ids or [] if tasks.exists(task_id)}
    if task_ids and len(earlier) == count:
        return {"tasks": [view(store, caches, call, tasks, task_id, True) for task_id in task_ids], "failures": []}
    group = params.get("group") or f"family:{definition['family']}"
    nodes = cluster_nodes(store, cluster_name, pinned_nodes)
    request = placement_request(cluster_name, definition, params, group, launch_type)
    placement = place(store, request, nodes, caches.usage_of)
    targets: list[KubeObject | None] = [*pinned_nodes] if pinned_nodes else [None] * count
    if isinstance(placement, PlacementFailure):
        return {"tasks": [], "failures": [failure(call, cluster_name, target, placement.reason) for target in targets]}
    on_cluster = cluster_scheduling(cluster_name, dedicated=store.has_dedicated_nodes(cluster_name), daemon=False)
    started, failures = [], []
    for index, target in enumerate(targets):
        task_id = task_ids[index] if task_ids else uuid.uuid4().hex
        if task_id in earlier:
            started.append(view(store, caches, call, tasks, task_id, True))
            continue
        reason = placement.reserve(target)
        if reason:
            failures.append(failure(call, cluster_name, target, reason))
            continue
        run = RunParameters(
            cluster_name=cluster_name,
            task_id=task_id,
            launch_type=launch_type,
            group=group,
            started_by=params.get("startedBy"),
            overrides=params.get("overrides", {}),
            tags=tuple(params.get("tags", [])),
            reference_id=params.get("referenceId"),
            client_token=token,
            enable_execute_command=bool(params.get("enableExecuteCommand")),
        )
        pod = task_to_pod(definition, run, namespace)
        pod["spec"] = on_cluster.merged_into(placement.pod_spec(pod["spec"], target))
        try:
            started.append(new_task_view(call, cluster_name, store.create_pod(namespace, pod)))
        except Conflict:  # another call with the client token started this task first
            started.append(claimed_task_view(store, caches, call, tasks, task_id))
    return {"tasks": started, "failures": failures}


def new_task_view(call: Call, cluster_name: str, pod: KubeObject) -> Response:
    """The task a pod just created runs, as RunTask and StartTask answer it."""
    return task_view(
        pod,
        None,
        region=call.region,
        account=call.account,
        cluster_name=cluster_name,
        container_instance_id=None,
        availability_zone=None,
        include_tags=True,
        now=time.time(),
    )


def claimed_task_view(store: Store, caches: TaskCaches, call: Call, tasks: ClusterTasks, task_id: str) -> Response:
    """The task another call with the same client token started, as the API server has it now (its
    pod may not have reached this process's cache yet), or as its record keeps it once stopped."""
    pod = store.read_pod(tasks.namespace, pod_name(task_id))
    if pod is not None:
        return new_task_view(call, tasks.name, pod)
    if tasks.record(task_id) is None:
        raise ServerException(f"The task {task_id} of this client token is neither running nor recorded yet.")
    return view(store, caches, call, tasks, task_id, True)


def failure(call: Call, cluster_name: str, target: KubeObject | None, reason: str) -> Response:
    """A RunTask or StartTask `failures` entry: why a task was not placed (on `target`, if chosen)."""
    if target is None:
        return {"reason": reason}
    arn = names.container_instance_arn(call.region, call.account, cluster_name, container_instance_id(target))
    return {"reason": reason, "arn": arn}


def check_launch_type(definition: dict[str, Any], launch_type: str, params: dict[str, Any]) -> None:
    if launch_type not in definition.get("compatibilities", ["EC2"]):
        raise InvalidParameterException(f"Task definition does not support launch_type {launch_type}.")
    if launch_type == "FARGATE" and (params.get("placementConstraints") or params.get("placementStrategy")):
        raise InvalidParameterException("Placement constraints and strategies are not supported with FARGATE.")
    if definition.get("networkMode") == "awsvpc" and "networkConfiguration" not in params:
        raise InvalidParameterException(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."
        )


def stop_task(store: Store, caches: TaskCaches, call: Call) -> Response:
    cluster = active_cluster(store, call)
    tasks = ClusterTasks.load(store, cluster["clusterName"])
    task_id = names.cluster_resource_id(call.params["task"], cluster["clusterName"], call.region, call.account)
    pod = tasks.pod(task_id)
    recorded = tasks.record(task_id) is not None
    if pod is None and not recorded:
        raise InvalidParameterException(TASK_NOT_FOUND)
    if pod is not None and not recorded and not is_stopped(pod):
        reason = call.params.get("reason", "Task stopped by user")
        record_task_stop(store, tasks, pod, "UserInitiated", reason, region=call.region, account=call.account)
        tasks = ClusterTasks.load(store, cluster["clusterName"])
    return {"task": view(store, caches, call, tasks, task_id)}


def record_task_stop(
    store: Store, tasks: ClusterTasks, pod: KubeObject, stop_code: str, reason: str, *, region: str, account: str
) -> None:
    """Keep the task's record with why it stopped, then delete its Pod."""
    keep_task_stop(store, tasks, pod, stop_code, reason, region=region, account=account)
    store.delete_pod(tasks.namespace, pod["metadata"]["name"])


def keep_task_stop(
    store: Store, tasks: ClusterTasks, pod: KubeObject, stop_code: str, reason: str, *, region: str, account: str
) -> None:
    """Keep the record of a task whose pod stops, with why; the record named after the pod that
    was written first wins, so any number of writers keep one record."""
    node = store.node_of(pod)
    record = stopped_task_record(
        pod,
        stop_code=stop_code,
        stopped_reason=reason,
        stopping_at=time.time(),
        region=region,
        account=account,
        cluster_name=tasks.name,
        container_instance_id=container_instance_id(node) if node else None,
        availability_zone=zone_of(node),
    )
    labels = {key: value for key, value in pod["metadata"].get("labels", {}).items() if key.startswith(names.PREFIX)}
    labels[names.LABEL_TASK_ID] = task_id_of(pod)
    store.save_task_record(tasks.namespace, pod["metadata"]["name"], labels, record)


def describe_tasks(store: Store, caches: TaskCaches, call: Call) -> Response:
    cluster = active_cluster(store, call)
    wanted = requested(call, "tasks", MAX_DESCRIBE, "tasks", empty="Tasks cannot be empty.")
    include_tags = includes_tags(call)
    tasks = ClusterTasks.load(store, cluster["clusterName"])
    found, failures = [], []
    for value in wanted:
        task_id = names.cluster_resource_id(value, cluster["clusterName"], call.region, call.account)
        if tasks.exists(task_id):
            found.append(view(store, caches, call, tasks, task_id, include_tags))
        else:
            arn = (
                value
                if value.startswith("arn:")
                else names.task_arn(call.region, call.account, cluster["clusterName"], value)
            )
            failures.append({"arn": arn, "reason": "MISSING"})
    return {"tasks": found, "failures": failures}


def list_tasks(store: Store, caches: TaskCaches, call: Call) -> Response:
    params = call.params
    cluster_name = active_cluster(store, call)["clusterName"]
    instance = params.get("containerInstance")
    node = node_for_instance(store, call, cluster_name, instance) if instance else None
    query = TaskQuery(
        cluster_name=cluster_name,
        desired_status=params.get("desiredStatus", "RUNNING"),
        family=params.get("family"),
        started_by=params.get("startedBy"),
        group=f"service:{params['serviceName']}" if "serviceName" in params else None,
        launch_type=params.get("launchType"),
        node_name=node["metadata"]["name"] if node else None,
        container_instance_id=container_instance_id(node) if node else None,
    )
    arns = [
        names.task_arn(call.region, call.account, cluster_name, task_id) for task_id in caches.listings.task_ids(query)
    ]
    chunk, token = page(arns, str, params.get("maxResults"), params.get("nextToken"))
    return {"taskArns": chunk, **({"nextToken": token} if token else {})}


@dataclass(frozen=True)
class TaskQuery:
    """ListTasks' filters."""

    cluster_name: str
    desired_status: str
    family: str | None
    started_by: str | None
    group: str | None
    launch_type: str | None
    node_name: str | None
    container_instance_id: str | None

    def matches(self, task: TaskSummary) -> bool:
        return (
            task.desired_status == self.desired_status
            and self.family in (None, task.family)
            and self.started_by in (None, task.started_by)
            and self.group in (None, task.group)
            and self.launch_type in (None, task.launch_type)
            and (
                self.node_name is None
                or self.node_name == task.node_name
                or self.container_instance_id == task.container_instance_id
            )
        )


class TaskListings:
    """ListTasks answers, kept while no task of any cluster changes in a way ListTasks can see.

    Paging through thousands of tasks asks the same query again and again; pods change all the
    time (status, readiness) without changing what ListTasks shows of them, so the answers are
    versioned by changes to task summaries, not to pods. The watch only notes which objects
    changed; they are summarized at the next ListTasks, not at every event."""

    MAX_CACHED = 64

    def __init__(self, store: Store, caches: TaskCaches) -> None:
        self.store = store
        self.caches = caches
        self.version = 0
        self.shown: dict[str, TaskSummary] = {}
        self.changed: dict[str, tuple[KubeObject | None, Stored | None] | None] = {}
        """What changed since the last ListTasks, by pod/namespace/name or record/namespace/name:
        the pod or the record (None: deleted)."""
        self.answers: dict[TaskQuery, tuple[int, list[str]]] = {}
        self.lock = threading.Lock()
        store.add_pod_listener(self.on_pod_change)
        store.add_task_record_listener(self.on_record_change)

    def on_pod_change(self, event_type: str, pod: KubeObject) -> None:
        with self.lock:
            if event_type == "RELISTED":
                self.version += 1
                return
            key = f"pod/{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"
            self.changed[key] = None if event_type == "DELETED" else (pod, None)

    def on_record_change(self, event_type: str, record: Stored | None) -> None:
        with self.lock:
            if record is None:
                self.version += 1
                return
            key = f"record/{record.namespace}/{record.name}"
            self.changed[key] = None if event_type == "DELETED" else (None, record)

    def current_version(self) -> int:
        """The version after the changes noted so far: bumped if any changed what ListTasks shows."""
        with self.lock:
            changed, self.changed = self.changed, {}
            for key, task in changed.items():
                shown = None if task is None else self.caches.summary_of(*task)
                if self.shown.get(key) != shown:
                    self.version += 1
                    if shown is None:
                        self.shown.pop(key, None)
                    else:
                        self.shown[key] = shown
            return self.version

    def task_ids(self, query: TaskQuery) -> list[str]:
        """The ids of the tasks the query selects, sorted as their ARNs are."""
        version = self.current_version()
        with self.lock:
            cached = self.answers.get(query)
        if cached is not None and cached[0] == version:
            return cached[1]
        task_ids = sorted(
            task.task_id
            for task in ClusterTasks.load(self.store, query.cluster_name).summaries(self.caches)
            if query.matches(task)
        )
        with self.lock:
            if len(self.answers) >= self.MAX_CACHED:
                self.answers.clear()
            self.answers[query] = (version, task_ids)
        return task_ids


def handlers(store: Store) -> dict[str, Handler]:
    caches = TaskCaches(store)
    return {
        "RunTask": partial(run_task, store, caches),
        "StartTask": partial(start_task, store, caches),
        "StopTask": partial(stop_task, store, caches),
        "DescribeTasks": partial(describe_tasks, store, caches),
        "ListTasks": partial(list_tasks, store, caches),
    }
