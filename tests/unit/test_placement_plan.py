"""Which instance takes each task of a RunTask or StartTask, decided without a cluster: the
instances and the pods on them are plain manifests."""

from typing import Any

import pytest

from shim.translate import names
from shim.translate.container_instances import RESOURCE_CPU, RESOURCE_MEMORY, RESOURCE_PORTS
from shim.translate.placement import (
    DISTINCT_INSTANCE_UNSATISFIED,
    HOSTNAME_LABEL,
    MEMBER_OF_UNSATISFIED,
    PlacementFailure,
)
from shim.translate.placement_plan import (
    NodeLoads,
    Placement,
    PlacementRequest,
    awaits_node,
    must_await_scheduler,
    placement_request,
    plan,
)
from shim.translate.task_to_pod import RunParameters, task_to_pod

CLUSTER = "default"
GROUP = "family:web"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def node(name: str, *, cpu: str = "2", memory: str = "4Gi", zone: str = "us-east-1a", **labels: str) -> dict[str, Any]:
    """A Ready node with `cpu` and `memory` allocatable."""
    return {
        "metadata": {
            "name": name,
            "labels": {HOSTNAME_LABEL: name, "topology.kubernetes.io/zone": zone, **labels},
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def definition(cpu: int = 1024, memory: int = 512, host_port: int | None = None, **fields: Any) -> dict[str, Any]:
    app: dict[str, Any] = {"name": "app", "image": "registry.example/app:1", "cpu": cpu, "memory": memory}
    if host_port is not None:
        app["portMappings"] = [{"containerPort": 80, "hostPort": host_port}]
    return {"family": "web", "revision": 1, "containerDefinitions": [app], **fields}


def task_pod(on: str | None, *, group: str = GROUP, task_id: str = "a" * 32, cpu: int = 1024) -> dict[str, Any]:
    """A task's pod, bound to node `on` (None: the scheduler has yet to bind it)."""
    run = RunParameters(cluster_name=CLUSTER, task_id=task_id, group=group)
    pod = task_to_pod(definition(cpu=cpu), run, names.cluster_namespace(CLUSTER))
    pod["status"] = {"phase": "Running" if on else "Pending"}
    if on:
        pod["spec"]["nodeName"] = on
    return pod


def request(params: dict[str, Any] | None = None, task_definition: dict[str, Any] | None = None) -> PlacementRequest:
    return placement_request(CLUSTER, task_definition or definition(), params or {}, GROUP, "EC2")


class Cluster:
    """The pods on each node; `reads` lists the nodes whose pods placement asked for."""

    def __init__(self, pods: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.pods = pods or {}
        self.reads: list[str] = []

    def pods_on(self, name: str) -> list[dict[str, Any]]:
        self.reads.append(name)
        return self.pods.get(name, [])

    def loads(self) -> NodeLoads:
        return NodeLoads(self.pods_on)


def placed(
    nodes: list[dict[str, Any]], params: dict[str, Any] | None = None, cluster: Cluster | None = None
) -> Placement:
    result = plan(request(params), nodes, (cluster or Cluster()).loads())
    assert isinstance(result, Placement)
    return result


def reserve_all(placement: Placement, count: int) -> list[str | None]:
    return [placement.reserve(None) for _ in range(count)]


def test_tasks_take_the_first_instance_with_room_until_every_instance_is_full() -> None:
    placement = placed([node("i-a", cpu="2"), node("i-b", cpu="1")])

    assert reserve_all(placement, 4) == [None, None, None, RESOURCE_CPU]
    assert placement.used_nodes == {"i-a", "i-b"}


def test_the_pods_already_on_an_instance_count_against_it() -> None:
    cluster = Cluster({"i-a": [task_pod("i-a", task_id="b" * 32, cpu=2048)]})
    placement = placed([node("i-a", cpu="2"), node("i-b", cpu="1")], cluster=cluster)

    assert reserve_all(placement, 2) == [None, RESOURCE_CPU]
    assert placement.used_nodes == {"i-b"}


def test_the_reason_names_the_first_resource_no_instance_has() -> None:
    memory_bound = plan(request(task_definition=definition(cpu=0, memory=3072)), [node("i-a")], Cluster().loads())
    assert isinstance(memory_bound, Placement)
    assert reserve_all(memory_bound, 2) == [None, RESOURCE_MEMORY]

    port_bound = plan(request(task_definition=definition(cpu=0, host_port=8080)), [node("i-a")], Cluster().loads())
    assert isinstance(port_bound, Placement)
    assert reserve_all(port_bound, 2) == [None, RESOURCE_PORTS]


def test_without_constraints_only_the_instance_a_task_lands_on_is_read() -> None:
    cluster = Cluster()
    placement = placed([node(f"i-{index}") for index in range(1000)], cluster=cluster)

    assert reserve_all(placement, 2) == [None, None]
    assert cluster.reads == ["i-0"]


def test_member_of_keeps_tasks_on_the_matching_instances() -> None:
    nodes = [node("i-a", zone="us-east-1a"), node("i-b", zone="us-east-1b")]
    constraint = {"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1b"}
    placement = placed(nodes, {"placementConstraints": [constraint]})

    assert [candidate["metadata"]["name"] for candidate in placement.candidates] == ["i-b"]
    assert reserve_all(placement, 3) == [None, None, RESOURCE_CPU]
    node_terms = placement.scheduling.affinity["nodeAffinity"][REQUIRED]["nodeSelectorTerms"]
    assert node_terms == [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1b"]}]}
    ]


def test_member_of_that_no_instance_meets_is_a_failure_for_the_whole_call() -> None:
    constraint = {"type": "memberOf", "expression": "attribute:ecs.instance-type == p4d.24xlarge"}

    result = plan(request({"placementConstraints": [constraint]}), [node("i-a")], Cluster().loads())

    assert result == PlacementFailure(MEMBER_OF_UNSATISFIED)


def test_distinct_instance_places_one_task_of_the_group_per_instance() -> None:
    cluster = Cluster({"i-a": [task_pod("i-a")]})
    nodes = [node("i-a", cpu="8"), node("i-b", cpu="8"), node("i-c", cpu="8")]
    placement = placed(nodes, {"placementConstraints": [{"type": "distinctInstance"}]}, cluster)

    assert placement.used_nodes == {"i-a"}
    assert reserve_all(placement, 3) == [None, None, DISTINCT_INSTANCE_UNSATISFIED]
    assert placement.used_nodes == {"i-a", "i-b", "i-c"}


def test_distinct_instance_fails_the_call_when_every_instance_runs_the_group() -> None:
    cluster = Cluster({"i-a": [task_pod("i-a")]})
    result = plan(request({"placementConstraints": [{"type": "distinctInstance"}]}), [node("i-a")], cluster.loads())

    assert result == PlacementFailure(DISTINCT_INSTANCE_UNSATISFIED)


def test_start_task_places_each_task_on_the_instance_it_names() -> None:
    first, second = node("i-a", cpu="1"), node("i-b", cpu="1")
    placement = placed([first, second])

    assert [placement.reserve(first), placement.reserve(first), placement.reserve(second)] == [
        None,
        RESOURCE_CPU,
        None,
    ]
    spec = placement.pod_spec({"containers": []}, second)
    assert spec["affinity"]["nodeAffinity"][REQUIRED]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": ["i-b"]}]}
    ]


def test_a_task_placed_by_run_task_carries_only_the_calls_scheduling() -> None:
    strategy = {"type": "binpack", "field": "memory"}
    placement = placed([node("i-a")], {"placementStrategy": [strategy]})

    spec = placement.pod_spec({"containers": []}, None)

    assert spec == {"containers": [], "schedulerName": "ecs-binpack"}


def test_placement_waits_for_unbound_pods_that_could_take_the_room_the_task_needs() -> None:
    nodes = [node("i-a", cpu="1")]
    unbound = [task_pod(None, group="family:other", task_id="c" * 32)]

    assert must_await_scheduler(request(), nodes, Cluster().loads(), unbound)


def test_placement_does_not_wait_when_the_task_fits_wherever_unbound_pods_land() -> None:
    nodes = [node("i-a", cpu="4")]
    unbound = [task_pod(None, group="family:other", task_id="c" * 32)]

    assert not must_await_scheduler(request(), nodes, Cluster().loads(), unbound)
    assert not must_await_scheduler(request(), nodes, Cluster().loads(), [])


def test_deciding_not_to_wait_reads_only_the_first_instance_with_room() -> None:
    cluster = Cluster()
    unbound = [task_pod(None, group="family:other", task_id="c" * 32)]

    assert not must_await_scheduler(
        request(), [node(f"i-{index}", cpu="4") for index in range(1000)], cluster.loads(), unbound
    )
    assert cluster.reads == ["i-0"]


def test_placement_waits_for_unbound_pods_of_its_group_when_constraints_depend_on_the_group() -> None:
    nodes = [node("i-a", cpu="8")]
    unbound = [task_pod(None, task_id="c" * 32)]
    distinct = request({"placementConstraints": [{"type": "distinctInstance"}]})

    assert must_await_scheduler(distinct, nodes, Cluster().loads(), unbound)
    assert not must_await_scheduler(request(), nodes, Cluster().loads(), unbound)


def unschedulable(pod: dict[str, Any]) -> dict[str, Any]:
    pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    return pod


def deleted(pod: dict[str, Any]) -> dict[str, Any]:
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return pod


def finished(pod: dict[str, Any]) -> dict[str, Any]:
    pod["status"]["phase"] = "Succeeded"
    return pod


@pytest.mark.parametrize(
    ("pod", "awaits"),
    [
        (task_pod(None), True),
        (task_pod("i-a"), False),
        (unschedulable(task_pod(None)), False),
        (deleted(task_pod(None)), False),
        (finished(task_pod(None)), False),
    ],
)
def test_only_pods_the_scheduler_has_yet_to_decide_on_await_a_node(pod: dict[str, Any], awaits: bool) -> None:
    assert awaits_node(pod) is awaits


def test_forgetting_reads_the_instances_afresh() -> None:
    cluster = Cluster()
    loads = cluster.loads()
    loads.usages(node("i-a"))
    loads.usages(node("i-a"))
    loads.forget()
    loads.usages(node("i-a"))

    assert cluster.reads == ["i-a", "i-a"]
