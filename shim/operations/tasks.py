"""Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks."""

import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from shim.errors import InvalidParameterException
from shim.kube.cache import DerivedCache, KubeObject, version_key
from shim.kube.store import Store
from shim.operations.base import Call, Handler, Response, includes_tags, requested
from shim.operations.clusters import active_cluster
from shim.operations.container_instances import node_for_instance
from shim.operations.pagination import page
from shim.operations.task_definitions import find_active_task_definition
from shim.translate import cql, names
from shim.translate.container_instances import (
    PodUsage,
    container_instance_id,
    fit_failure,
    instance_facts,
    pod_usage,
    task_requirements,
    task_usage,
)
from shim.translate.placement import (
    CandidateNode,
    PlacementFailure,
    PodScheduling,
    effective_placement,
    pod_scheduling,
)
from shim.translate.pods import RunParameters, task_to_pod
from shim.translate.tasks import TaskSummary, is_stopped, stopped_task_record, task_id_of, task_summary, task_view

MAX_COUNT = 10
MAX_DESCRIBE = 100
TASK_NOT_FOUND = "The referenced task was not found."
ZONE_LABEL = "topology.kubernetes.io/zone"
SCHEDULER_WAIT_SECONDS = 2.0


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

    def record(self, task_id: str) -> KubeObject | None:
        return self.store.task_record(self.namespace, task_id)

    def exists(self, task_id: str) -> bool:
        return self.pod(task_id) is not None or self.record(task_id) is not None

    def summaries(self) -> list[TaskSummary]:
        records = {
            record["metadata"]["labels"][names.LABEL_TASK_ID]: record
            for record in self.store.task_records_in(self.namespace)
        }
        from_pods = [summary_of(pod, None) for pod in self.store.pods_in(self.namespace)]
        return [task for task in from_pods if task.task_id not in records] + [
            summary_of(None, record) for record in records.values()
        ]


_views: DerivedCache[Response] = DerivedCache()
_summaries: DerivedCache[TaskSummary] = DerivedCache()


def view(store: Store, call: Call, tasks: ClusterTasks, task_id: str, include_tags: bool = False) -> Response:
    pod = tasks.pod(task_id)
    record = tasks.record(task_id)
    node = store.nodes.get(pod["spec"]["nodeName"]) if pod and pod["spec"].get("nodeName") else None
    key = (
        version_key(pod),
        version_key(record),
        version_key(node),
        call.region,
        call.account,
        tasks.name,
        include_tags,
    )
    return _views.get(
        key,
        lambda: task_view(
            pod,
            record["spec"]["record"] if record else None,
            region=call.region,
            account=call.account,
            cluster_name=tasks.name,
            container_instance_id=container_instance_id(node) if node else None,
            availability_zone=zone_of(node),
            include_tags=include_tags,
        ),
    )


def summary_of(pod: KubeObject | None, record: KubeObject | None) -> TaskSummary:
    return _summaries.get(
        (version_key(pod), version_key(record)),
        lambda: task_summary(pod, record["spec"]["record"] if record else None),
    )


def zone_of(node: KubeObject | None) -> str | None:
    return node["metadata"].get("labels", {}).get(ZONE_LABEL) if node else None


def run_task(store: Store, call: Call) -> Response:
    cluster = active_cluster(store, call.params.get("cluster"))
    count = call.params.get("count", 1)
    if not 1 <= count <= MAX_COUNT:
        raise InvalidParameterException(f"count must be between 1 and {MAX_COUNT}.")
    return launch(store, call, cluster["clusterName"], count, pinned_nodes=None)


def start_task(store: Store, call: Call) -> Response:
    cluster = active_cluster(store, call.params.get("cluster"))
    instances = call.params["containerInstances"]
    if not 1 <= len(instances) <= MAX_COUNT:
        raise InvalidParameterException(f"containerInstances must list between 1 and {MAX_COUNT} instances.")
    nodes = [node_for_instance(store, cluster["clusterName"], value) for value in instances]
    return launch(store, call, cluster["clusterName"], len(nodes), pinned_nodes=nodes)


def launch(store: Store, call: Call, cluster_name: str, count: int, pinned_nodes: list[KubeObject] | None) -> Response:
    params = call.params
    definition = find_active_task_definition(store, params["taskDefinition"])
    launch_type = params.get("launchType", "EC2")
    check_launch_type(definition, launch_type, params)
    namespace = names.cluster_namespace(cluster_name)
    token = params.get("clientToken")
    earlier = store.pods_with_client_token(namespace, token) if token else []
    if earlier:
        tasks = ClusterTasks.load(store, cluster_name)
        return {"tasks": [view(store, call, tasks, task_id_of(pod)) for pod in earlier], "failures": []}
    group = params.get("group") or f"family:{definition['family']}"
    placement = Placement.plan(store, cluster_name, definition, params, group, launch_type, pinned_nodes)
    started, failures = [], []
    for index in range(count):
        target = pinned_nodes[index] if pinned_nodes else None
        reason = placement.reserve(target)
        if reason:
            arn = instance_arn(call, cluster_name, target)
            failures.append({"reason": reason, **({"arn": arn} if arn else {})})
            continue
        run = RunParameters(
            cluster_name=cluster_name,
            task_id=uuid.uuid4().hex,
            launch_type=launch_type,
            group=group,
            started_by=params.get("startedBy"),
            overrides=params.get("overrides", {}),
            tags=tuple(params.get("tags", [])),
            reference_id=params.get("referenceId"),
            client_token=token,
        )
        pod = task_to_pod(definition, run, namespace)
        if target is not None:
            pod["spec"]["affinity"] = on_node(target["metadata"]["name"])
        assert isinstance(placement.scheduling, PodScheduling)
        pod["spec"] = placement.scheduling.merged_into(pod["spec"])
        created = store.create_pod(namespace, pod)
        started.append(
            task_view(
                created,
                None,
                region=call.region,
                account=call.account,
                cluster_name=cluster_name,
                container_instance_id=None,
                availability_zone=None,
                include_tags=True,
            )
        )
    return {"tasks": started, "failures": failures}


def on_node(node_name: str) -> dict[str, Any]:
    """Required node affinity for one node: StartTask's choice, still checked by the scheduler."""
    hostname = {"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [hostname]}]}
        }
    }


def instance_arn(call: Call, cluster_name: str, node: KubeObject | None) -> str | None:
    if node is None:
        return None
    return names.container_instance_arn(call.region, call.account, cluster_name, container_instance_id(node))


def check_launch_type(definition: dict[str, Any], launch_type: str, params: dict[str, Any]) -> None:
    if launch_type not in definition.get("compatibilities", ["EC2"]):
        raise InvalidParameterException(f"Task definition does not support launch_type {launch_type}.")
    if launch_type == "FARGATE" and (params.get("placementConstraints") or params.get("placementStrategy")):
        raise InvalidParameterException("Placement constraints and strategies are not supported with FARGATE.")
    if definition.get("networkMode") == "awsvpc" and "networkConfiguration" not in params:
        raise InvalidParameterException(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."
        )


@dataclass
class Placement:
    """ECS's placement for one RunTask or StartTask: resources first, then constraints, then
    strategies. It decides how many tasks can be placed and tells the real scheduler the rest.

    A node's pods are read only when needed: without constraints, the first node that fits is
    all a task needs, however many nodes the cluster has."""

    store: Store
    group: str
    candidates: list[KubeObject]
    cpu: int
    memory: int
    ports: list[tuple[int, str]]
    distinct: bool
    scheduling: PodScheduling | PlacementFailure
    used_nodes: set[str] = field(default_factory=set)
    node_pods: dict[str, list[KubeObject]] = field(default_factory=dict)
    node_usages: dict[str, list[PodUsage]] = field(default_factory=dict)

    @classmethod
    def plan(
        cls,
        store: Store,
        cluster_name: str,
        definition: dict[str, Any],
        params: dict[str, Any],
        group: str,
        launch_type: str,
        pinned_nodes: list[KubeObject] | None,
    ) -> "Placement":
        constraints, strategies = effective_placement(
            launch_type, definition, params.get("placementConstraints", []), params.get("placementStrategy", [])
        )
        nodes = pinned_nodes if pinned_nodes is not None else store.nodes_serving(cluster_name)
        if not nodes:
            raise InvalidParameterException("No Container Instances were found in your cluster.")
        cpu, memory, ports = task_requirements(definition, params.get("overrides"))
        distinct = any(c["type"] == "distinctInstance" for c in constraints)
        groups_matter = distinct or any("task:group" in c.get("expression", "") for c in constraints)
        placement = cls(store, group, nodes, cpu, memory, ports, distinct, PlacementFailure(""))
        unbound = [pod for pod in store.unbound_pods() if awaits_node(pod)]
        if unbound and not fits_wherever_they_land(
            cpu,
            memory,
            ports,
            ((node, placement.usages_of(node)) for node in nodes),
            unbound,
            group if groups_matter else None,
        ):
            await_scheduler(store)
            placement.node_usages.clear()
        facts: dict[str, cql.InstanceFacts] = {}
        if constraints:
            facts = {
                node["metadata"]["name"]: instance_facts(node, placement.pods_of(node), cluster_name=cluster_name)
                for node in nodes
            }
            expressions = [cql.parse(c["expression"]) for c in constraints if c["type"] == "memberOf"]
            placement.candidates = [
                node
                for node in nodes
                if all(cql.evaluate(expression, facts[node["metadata"]["name"]]) for expression in expressions)
            ]
            placement.used_nodes = {
                node["metadata"]["name"]
                for node in placement.candidates
                if distinct and group in facts[node["metadata"]["name"]].task_groups
            }
        placement.scheduling = pod_scheduling(
            constraints,
            strategies,
            group=group,
            nodes=[CandidateNode(name, node_facts) for name, node_facts in facts.items()],
        )
        return placement

    def pods_of(self, node: KubeObject) -> list[KubeObject]:
        name = node["metadata"]["name"]
        if name not in self.node_pods:
            self.node_pods[name] = self.store.pods_on(name)
        return self.node_pods[name]

    def usages_of(self, node: KubeObject) -> list[PodUsage]:
        name = node["metadata"]["name"]
        if name not in self.node_usages:
            self.node_usages[name] = [usage_of(pod) for pod in self.store.pods_on(name)]
        return self.node_usages[name]

    def reserve(self, target: KubeObject | None) -> str | None:
        """Why one more task cannot be placed (an ECS failure reason), or None after booking it."""
        if isinstance(self.scheduling, PlacementFailure):
            return self.scheduling.reason

        def open_nodes() -> Iterator[tuple[KubeObject, list[PodUsage]]]:
            for node in self.candidates:
                name = node["metadata"]["name"]
                if (target is None or name == target["metadata"]["name"]) and not (
                    self.distinct and name in self.used_nodes
                ):
                    yield node, self.usages_of(node)

        if next(open_nodes(), None) is None:
            return (
                "DistinctInstance placement constraint unsatisfied."
                if self.distinct
                else "MemberOf placement constraint unsatisfied."
            )
        chosen = first_fit(self.cpu, self.memory, self.ports, open_nodes())
        if chosen is None:
            return fit_failure(self.cpu, self.memory, self.ports, open_nodes())
        chosen[1].append(task_usage(self.cpu, self.memory, self.ports))
        self.used_nodes.add(chosen[0]["metadata"]["name"])
        return None


def fits_wherever_they_land(
    cpu: int,
    memory: int,
    ports: list[tuple[int, str]],
    candidates: Iterable[tuple[KubeObject, list[PodUsage]]],
    unbound: list[KubeObject],
    group: str | None,
) -> bool:
    """Whether the task fits even if every pod the scheduler has yet to bind landed on every
    candidate node: then their decisions cannot change this one, and there is no need to wait.
    `group` is the task's group when constraints depend on where its group runs."""
    group_label = names.label_value(group) if group else None
    if any(pod["metadata"].get("labels", {}).get(names.LABEL_GROUP) == group_label for pod in unbound):
        return False
    pending = [usage_of(pod) for pod in unbound]
    worst_case = ((node, [*usages, *pending]) for node, usages in candidates)
    return first_fit(cpu, memory, ports, worst_case) is not None


def first_fit(
    cpu: int, memory: int, ports: list[tuple[int, str]], candidates: Iterable[tuple[KubeObject, list[PodUsage]]]
) -> tuple[KubeObject, list[PodUsage]] | None:
    """The first node (with the usage of its pods) the task fits on, looking no further than that."""
    return next((candidate for candidate in candidates if fit_failure(cpu, memory, ports, [candidate]) is None), None)


_usages: DerivedCache[PodUsage] = DerivedCache()


def usage_of(pod: KubeObject) -> PodUsage:
    """What the pod takes of its node, kept while the pod keeps its version."""
    return _usages.get(version_key(pod), lambda: pod_usage(pod))


def await_scheduler(store: Store) -> None:
    """Give the scheduler a moment to bind the task pods it has not bound yet: a task started
    a moment ago is on no node, so the resources and ports it will take there would otherwise
    be counted as free, and a task placed in their stead would stay Pending."""
    deadline = time.monotonic() + SCHEDULER_WAIT_SECONDS
    while any(awaits_node(pod) for pod in store.unbound_pods()) and time.monotonic() < deadline:
        time.sleep(0.02)


def awaits_node(pod: KubeObject) -> bool:
    """Whether the scheduler has yet to decide on `pod` (it has neither bound it nor found it
    unschedulable)."""
    if pod["spec"].get("nodeName") or "deletionTimestamp" in pod["metadata"] or is_stopped(pod):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return not any(c.get("type") == "PodScheduled" and c.get("status") == "False" for c in conditions)


def stop_task(store: Store, call: Call) -> Response:
    cluster = active_cluster(store, call.params.get("cluster"))
    tasks = ClusterTasks.load(store, cluster["clusterName"])
    task_id = names.resource_id(call.params["task"])
    pod = tasks.pod(task_id)
    recorded = tasks.record(task_id) is not None
    if pod is None and not recorded:
        raise InvalidParameterException(TASK_NOT_FOUND)
    if pod is not None and not recorded and not is_stopped(pod):
        reason = call.params.get("reason", "Task stopped by user")
        record_task_stop(store, tasks, pod, "UserInitiated", reason, region=call.region, account=call.account)
        tasks = ClusterTasks.load(store, cluster["clusterName"])
    return {"task": view(store, call, tasks, task_id)}


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
    node = store.nodes.get(pod["spec"]["nodeName"]) if pod["spec"].get("nodeName") else None
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


def describe_tasks(store: Store, call: Call) -> Response:
    cluster = active_cluster(store, call.params.get("cluster"))
    wanted = requested(call, "tasks", MAX_DESCRIBE, "tasks")
    include_tags = includes_tags(call)
    tasks = ClusterTasks.load(store, cluster["clusterName"])
    found, failures = [], []
    for value in wanted:
        task_id = names.resource_id(value)
        if tasks.exists(task_id):
            found.append(view(store, call, tasks, task_id, include_tags))
        else:
            arn = (
                value
                if value.startswith("arn:")
                else names.task_arn(call.region, call.account, cluster["clusterName"], value)
            )
            failures.append({"arn": arn, "reason": "MISSING"})
    return {"tasks": found, "failures": failures}


def list_tasks(store: Store, listings: "TaskListings", call: Call) -> Response:
    params = call.params
    cluster_name = active_cluster(store, params.get("cluster"))["clusterName"]
    instance = params.get("containerInstance")
    node = node_for_instance(store, cluster_name, instance) if instance else None
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
    arns = [names.task_arn(call.region, call.account, cluster_name, task_id) for task_id in listings.task_ids(query)]
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

    def __init__(self, store: Store) -> None:
        self.store = store
        self.version = 0
        self.shown: dict[str, TaskSummary] = {}
        self.changed: dict[str, KubeObject | None] = {}
        self.answers: dict[TaskQuery, tuple[int, list[str]]] = {}
        self.lock = threading.Lock()
        store.pods.add_listener(self.on_change)
        store.task_records.add_listener(self.on_change)

    def on_change(self, event_type: str, obj: KubeObject) -> None:
        with self.lock:
            if event_type == "RELISTED":
                self.version += 1
                return
            kind = "record" if "record" in obj.get("spec", {}) else "pod"
            key = f"{kind}/{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
            self.changed[key] = None if event_type == "DELETED" else obj

    def current_version(self) -> int:
        """The version after the changes noted so far: bumped if any changed what ListTasks shows."""
        with self.lock:
            changed, self.changed = self.changed, {}
            for key, obj in changed.items():
                shown = (
                    None
                    if obj is None
                    else summary_of(None, obj)
                    if key.startswith("record/")
                    else summary_of(obj, None)
                )
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
            for task in ClusterTasks.load(self.store, query.cluster_name).summaries()
            if query.matches(task)
        )
        with self.lock:
            if len(self.answers) >= self.MAX_CACHED:
                self.answers.clear()
            self.answers[query] = (version, task_ids)
        return task_ids


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "RunTask": partial(run_task, store),
        "StartTask": partial(start_task, store),
        "StopTask": partial(stop_task, store),
        "DescribeTasks": partial(describe_tasks, store),
        "ListTasks": partial(list_tasks, store, TaskListings(store)),
    }
