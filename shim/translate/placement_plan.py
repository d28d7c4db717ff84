"""Which instance takes each task of one RunTask or StartTask: ECS's placement decision, made
before the task's pods exist.

ECS places by resources first, then constraints, then strategies. Here a plan decides how many
of the call's tasks can be placed now and why the others cannot (the reasons of RunTask's
`failures`); placement.py says the rest to the real scheduler, which binds each pod.

A node's pods are read through the caller's `pods_on` only when a decision needs them, at most
once per plan: without constraints, the first node that fits is all a task needs, however many
nodes the cluster has.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shim.translate import cql, names
from shim.translate.container_instances import (
    HostPort,
    PodUsage,
    fit_failure,
    instance_facts,
    pod_usage,
    task_requirements,
    task_usage,
)
from shim.translate.placement import (
    DISTINCT_INSTANCE_UNSATISFIED,
    MEMBER_OF_UNSATISFIED,
    CandidateNode,
    PlacementFailure,
    PodScheduling,
    effective_placement,
    on_nodes,
    pod_scheduling,
)
from shim.translate.task_from_pod import is_stopped

Node = Mapping[str, Any]
Pod = dict[str, Any]


@dataclass(frozen=True)
class PlacementRequest:
    """What one call asks of placement: where its tasks count (cluster and task group), what
    one task reserves on an instance, and the constraints and strategies it is placed by."""

    cluster_name: str
    group: str
    cpu: int
    memory: int
    ports: list[HostPort]
    constraints: list[dict[str, Any]]
    strategies: list[dict[str, Any]]

    @property
    def distinct(self) -> bool:
        return any(c["type"] == "distinctInstance" for c in self.constraints)

    @property
    def groups_matter(self) -> bool:
        """Whether the constraints depend on where the task's group runs."""
        return self.distinct or any("task:group" in c.get("expression", "") for c in self.constraints)


def placement_request(
    cluster_name: str, definition: Mapping[str, Any], params: Mapping[str, Any], group: str, launch_type: str
) -> PlacementRequest:
    """The placement a RunTask or StartTask call (`params`) asks for its tasks of `definition`."""
    constraints, strategies = effective_placement(
        launch_type, definition, params.get("placementConstraints", []), params.get("placementStrategy", [])
    )
    cpu, memory, ports = task_requirements(definition, params.get("overrides"))
    return PlacementRequest(cluster_name, group, cpu, memory, ports, constraints, strategies)


@dataclass
class NodeLoads:
    """The pods on nodes and what they take of them, read through `pods_on` when first needed
    and kept for one plan; `usage_of` may remember usages across plans (pod_usage by default)."""

    pods_on: Callable[[str], Sequence[Pod]]
    usage_of: Callable[[Pod], PodUsage] = pod_usage
    _pods: dict[str, Sequence[Pod]] = field(default_factory=dict)
    _usages: dict[str, list[PodUsage]] = field(default_factory=dict)

    def pods(self, node: Node) -> Sequence[Pod]:
        name = node["metadata"]["name"]
        if name not in self._pods:
            self._pods[name] = self.pods_on(name)
        return self._pods[name]

    def usages(self, node: Node) -> list[PodUsage]:
        """The usage of the node's pods and of the tasks this plan has booked on it."""
        name = node["metadata"]["name"]
        if name not in self._usages:
            self._usages[name] = [self.usage_of(pod) for pod in self.pods(node)]
        return self._usages[name]

    def forget(self) -> None:
        """Read every node afresh: the pods on them have changed."""
        self._pods.clear()
        self._usages.clear()


def awaits_node(pod: Pod) -> bool:
    """Whether the scheduler has yet to decide on `pod` (it has neither bound it nor found it
    unschedulable)."""
    if pod["spec"].get("nodeName") or "deletionTimestamp" in pod["metadata"] or is_stopped(pod):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return not any(c.get("type") == "PodScheduled" and c.get("status") == "False" for c in conditions)


def must_await_scheduler(
    request: PlacementRequest, nodes: Sequence[Node], loads: NodeLoads, unbound_pods: Iterable[Pod]
) -> bool:
    """Whether to give the scheduler a moment to bind the pods it has not bound yet before
    placing: a task started a moment ago is on no node, so the resources and ports it will take
    there would otherwise be counted as free, and a task placed in their stead would stay Pending."""
    unbound = [pod for pod in unbound_pods if awaits_node(pod)]
    if not unbound:
        return False
    candidates = ((node, loads.usages(node)) for node in nodes)
    group = request.group if request.groups_matter else None
    return not fits_wherever_they_land(request, candidates, unbound, group, loads.usage_of)


def fits_wherever_they_land(
    request: PlacementRequest,
    candidates: Iterable[tuple[Node, list[PodUsage]]],
    unbound: Sequence[Pod],
    group: str | None,
    usage_of: Callable[[Pod], PodUsage] = pod_usage,
) -> bool:
    """Whether the task fits even if every pod the scheduler has yet to bind landed on every
    candidate node: then their decisions cannot change this one, and there is no need to wait.
    `group` is the task's group when constraints depend on where its group runs."""
    group_label = names.label_value(group) if group else None
    if any(pod["metadata"].get("labels", {}).get(names.LABEL_GROUP) == group_label for pod in unbound):
        return False
    pending = [usage_of(pod) for pod in unbound]
    worst_case = ((node, [*usages, *pending]) for node, usages in candidates)
    return first_fit(request, worst_case) is not None


def first_fit(
    request: PlacementRequest, candidates: Iterable[tuple[Node, list[PodUsage]]]
) -> tuple[Node, list[PodUsage]] | None:
    """The first node (with the usage of its pods) the task fits on, looking no further than that."""
    return next(
        (
            candidate
            for candidate in candidates
            if fit_failure(request.cpu, request.memory, request.ports, [candidate]) is None
        ),
        None,
    )


@dataclass
class Placement:
    """Where the tasks of one call may go: the candidate instances (those the memberOf
    constraints allow), the instances distinctInstance rules out, and the scheduling rules
    every task's pod carries. `reserve` books one task at a time."""

    request: PlacementRequest
    candidates: Sequence[Node]
    scheduling: PodScheduling
    loads: NodeLoads
    used_nodes: set[str]

    def reserve(self, target: Node | None) -> str | None:
        """Why one more task cannot be placed (on `target` if given; an ECS failure reason), or
        None after booking it on the first instance it fits on."""
        request, distinct = self.request, self.request.distinct

        def open_nodes() -> Iterator[tuple[Node, list[PodUsage]]]:
            for node in self.candidates:
                name = node["metadata"]["name"]
                if (target is None or name == target["metadata"]["name"]) and not (
                    distinct and name in self.used_nodes
                ):
                    yield node, self.loads.usages(node)

        if next(open_nodes(), None) is None:
            return DISTINCT_INSTANCE_UNSATISFIED if distinct else MEMBER_OF_UNSATISFIED
        chosen = first_fit(request, open_nodes())
        if chosen is None:
            return fit_failure(request.cpu, request.memory, request.ports, open_nodes())
        chosen[1].append(task_usage(request.cpu, request.memory, request.ports))
        self.used_nodes.add(chosen[0]["metadata"]["name"])
        return None

    def pod_spec(self, spec: Mapping[str, Any], target: Node | None) -> dict[str, Any]:
        """A task's pod `spec` as placed: on `target` when the call chose the instance
        (StartTask; the scheduler still checks it), by the call's constraints and strategies."""
        if target is not None:
            spec = {**spec, "affinity": on_nodes([target["metadata"]["name"]])}
        return self.scheduling.merged_into(spec)


def plan(request: PlacementRequest, nodes: Sequence[Node], loads: NodeLoads) -> Placement | PlacementFailure:
    """Where the call's tasks may go among `nodes` (the cluster's instances, or those the call
    chose), or why none of them can be placed now."""
    candidates = nodes
    used_nodes: set[str] = set()
    facts: dict[str, cql.InstanceFacts] = {}
    if request.constraints:
        facts = {
            node["metadata"]["name"]: instance_facts(node, loads.pods(node), cluster_name=request.cluster_name)
            for node in nodes
        }
        expressions = [cql.parse(c["expression"]) for c in request.constraints if c["type"] == "memberOf"]
        candidates = [
            node
            for node in nodes
            if all(cql.evaluate(expression, facts[node["metadata"]["name"]]) for expression in expressions)
        ]
        if request.distinct:
            used_nodes = {
                node["metadata"]["name"]
                for node in candidates
                if request.group in facts[node["metadata"]["name"]].task_groups
            }
    scheduling = pod_scheduling(
        request.constraints,
        request.strategies,
        group=request.group,
        nodes=[CandidateNode(name, node_facts) for name, node_facts in facts.items()],
    )
    if isinstance(scheduling, PlacementFailure):
        return scheduling
    return Placement(request, candidates, scheduling, loads, used_nodes)
