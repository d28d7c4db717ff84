"""ECS placement on the real kube-scheduler, judged by the nodes the pods actually landed on.

The local cluster has 10 nodes: in each of us-east-1a/b/c two m5.large (1930m, 7220Mi
allocatable) and one c5.xlarge (3920m, 7220Mi), plus one arm64 t4g.medium in us-east-1a
(1930m, 3380Mi). Task sizes below are chosen against those numbers."""

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from shim.kube.client import KubeClients
from tests.integration.conftest import eventually, landed_on, node_labels, task_pods, unique_name

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

ZONE = "topology.kubernetes.io/zone"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ARCH = "kubernetes.io/arch"
SPREAD_BY_ZONE = {"type": "spread", "field": "attribute:ecs.availability-zone"}
SPREAD_BY_INSTANCE = {"type": "spread", "field": "instanceId"}
MEMBER_OF_UNSATISFIED = "MemberOf placement constraint unsatisfied."
DISTINCT_INSTANCE_UNSATISFIED = "DistinctInstance placement constraint unsatisfied."


def member_of(expression: str) -> dict[str, str]:
    return {"type": "memberOf", "expression": expression}


def task_definition(ecs: Any, *, memory: int = 64, cpu: int = 32, **params: Any) -> str:
    container = {"name": "app", "image": "busybox", "memory": memory, "cpu": cpu, **params.pop("container", {})}
    registered = ecs.register_task_definition(family=unique_name("placed"), containerDefinitions=[container], **params)
    arn: str = registered["taskDefinition"]["taskDefinitionArn"]
    return arn


def run(ecs: Any, cluster: str, definition: str, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    response = ecs.run_task(cluster=cluster, taskDefinition=definition, **params)
    return response["tasks"], response["failures"]


def arns(tasks: list[dict[str, Any]]) -> list[str]:
    return [task["taskArn"] for task in tasks]


def test_spread_by_zone_puts_three_of_nine_tasks_in_each_zone(ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    definition = task_definition(ecs)

    tasks, failures = run(ecs, ecs_cluster, definition, count=9, placementStrategy=[SPREAD_BY_ZONE])

    assert failures == []
    labels = node_labels(kube)
    landed = landed_on(kube, ecs_cluster, arns(tasks))
    assert Counter(labels[node][ZONE] for node in landed.values()) == {
        "us-east-1a": 3,
        "us-east-1b": 3,
        "us-east-1c": 3,
    }
    described = ecs.describe_tasks(cluster=ecs_cluster, tasks=arns(tasks))["tasks"]
    assert {task["taskArn"]: task["availabilityZone"] for task in described} == {
        arn: labels[node][ZONE] for arn, node in landed.items()
    }


def test_distinct_instance_never_shares_a_node_and_the_task_too_many_is_a_failure(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    definition = task_definition(ecs)
    constraints = [member_of("attribute:ecs.instance-type == c5.xlarge"), {"type": "distinctInstance"}]

    tasks, failures = run(ecs, ecs_cluster, definition, count=4, placementConstraints=constraints)

    assert failures == [{"reason": DISTINCT_INSTANCE_UNSATISFIED}]
    labels = node_labels(kube)
    landed = landed_on(kube, ecs_cluster, arns(tasks))
    assert len(set(landed.values())) == len(landed) == 3
    assert {labels[node][INSTANCE_TYPE] for node in landed.values()} == {"c5.xlarge"}
    again, failures = run(ecs, ecs_cluster, definition, placementConstraints=constraints)
    assert again == [] and failures == [{"reason": DISTINCT_INSTANCE_UNSATISFIED}]
    assert len(task_pods(kube, ecs_cluster)) == 3


def test_distinct_instance_uses_every_node_once_across_calls(ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    definition = task_definition(ecs)
    node_count = len(node_labels(kube))
    distinct = [{"type": "distinctInstance"}]

    first, _ = run(ecs, ecs_cluster, definition, count=node_count - 2, placementConstraints=distinct)
    second, failures = run(ecs, ecs_cluster, definition, count=3, placementConstraints=distinct)

    assert len(second) == 2 and failures == [{"reason": DISTINCT_INSTANCE_UNSATISFIED}]
    landed = landed_on(kube, ecs_cluster, arns(first + second))
    assert sorted(landed.values()) == sorted(node_labels(kube))


def test_distinct_instance_counts_only_the_groups_tasks_in_the_same_cluster(
    ecs: Any, kube: KubeClients, ecs_cluster: str, other_ecs_cluster: str
) -> None:
    definition = task_definition(ecs)
    constraints = [member_of("attribute:ecs.instance-type == c5.xlarge"), {"type": "distinctInstance"}]
    first, _ = run(ecs, ecs_cluster, definition, count=3, placementConstraints=constraints)

    second, failures = run(ecs, other_ecs_cluster, definition, count=3, placementConstraints=constraints)

    assert failures == []
    assert sorted(landed_on(kube, other_ecs_cluster, arns(second)).values()) == sorted(
        landed_on(kube, ecs_cluster, arns(first)).values()
    )


MEMBER_OF_CASES: list[tuple[str, Callable[[dict[str, str]], bool]]] = [
    ("attribute:ecs.instance-type == c5.xlarge", lambda labels: labels[INSTANCE_TYPE] == "c5.xlarge"),
    (
        "attribute:ecs.instance-type in [t4g.medium, c5.xlarge]",
        lambda labels: labels[INSTANCE_TYPE] in ("t4g.medium", "c5.xlarge"),
    ),
    ("attribute:ecs.instance-type =~ m5\\..*", lambda labels: labels[INSTANCE_TYPE].startswith("m5.")),
    ("not(attribute:ecs.availability-zone == us-east-1a)", lambda labels: labels[ZONE] != "us-east-1a"),
    (
        "attribute:ecs.availability-zone == us-east-1b and attribute:ecs.instance-type == m5.large",
        lambda labels: labels[ZONE] == "us-east-1b" and labels[INSTANCE_TYPE] == "m5.large",
    ),
    (
        "attribute:ecs.cpu-architecture == arm64 or attribute:ecs.availability-zone == us-east-1c",
        lambda labels: labels[ARCH] == "arm64" or labels[ZONE] == "us-east-1c",
    ),
    (
        "(attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and attribute:ecs.instance-type != m5.large)"
        " or not(attribute:ecs.cpu-architecture == x86_64 or attribute:ecs.availability-zone != us-east-1c)",
        lambda labels: (
            (labels[ZONE] in ("us-east-1a", "us-east-1b") and labels[INSTANCE_TYPE] != "m5.large")
            or (labels[ARCH] != "amd64" and labels[ZONE] == "us-east-1c")
        ),
    ),
]


@pytest.mark.parametrize(("expression", "matches"), MEMBER_OF_CASES, ids=[case[0] for case in MEMBER_OF_CASES])
def test_member_of_places_every_task_on_a_matching_node(
    ecs: Any, kube: KubeClients, ecs_cluster: str, expression: str, matches: Callable[[dict[str, str]], bool]
) -> None:
    definition = task_definition(ecs)
    labels = node_labels(kube)
    matching = {node for node, node_label in labels.items() if matches(node_label)}

    tasks, failures = run(
        ecs,
        ecs_cluster,
        definition,
        count=6,
        placementConstraints=[member_of(expression)],
        placementStrategy=[SPREAD_BY_INSTANCE],
    )

    assert failures == []
    used = set(landed_on(kube, ecs_cluster, arns(tasks)).values())
    assert used <= matching
    assert len(used) == min(len(matching), 6)


def test_unsatisfiable_member_of_is_a_failure_per_task_and_creates_no_pod(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    definition = task_definition(ecs)

    tasks, failures = run(
        ecs,
        ecs_cluster,
        definition,
        count=2,
        placementConstraints=[member_of("attribute:ecs.instance-type == p3.2xlarge")],
    )

    assert tasks == []
    assert failures == [{"reason": MEMBER_OF_UNSATISFIED}] * 2
    assert task_pods(kube, ecs_cluster) == []


def free_slots(ecs: Any, cluster: str, memory: int, nodes: set[str]) -> list[int]:
    """How many tasks of `memory` MiB each of `nodes` still takes, as the shim reports it."""
    listed = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=listed)["containerInstances"]
    return [
        next(r["integerValue"] for r in instance["remainingResources"] if r["name"] == "MEMORY") // memory
        for instance in described
        if instance["ec2InstanceId"] in nodes
    ]


def fewest_nodes_for(count: int, slots: list[int]) -> int:
    filled = 0
    for used, free in enumerate(sorted(slots, reverse=True), start=1):
        filled += free
        if filled >= count:
            return used
    raise AssertionError(f"{count} tasks do not fit in {slots}")


BINPACK_ON_MEMORY = {"type": "binpack", "field": "memory"}


@pytest.mark.parametrize("strategy", [BINPACK_ON_MEMORY, SPREAD_BY_INSTANCE], ids=["binpack", "spread"])
def test_binpack_on_memory_fills_a_node_before_using_the_next(
    ecs: Any, kube: KubeClients, ecs_cluster: str, strategy: dict[str, str]
) -> None:
    """2 GiB tasks on m5.large nodes (7220Mi): three fit on one node, so six need two nodes.
    Spreading the same tasks by instance is the contrast: it uses six."""
    memory, count = 2048, 6
    definition = task_definition(ecs, memory=memory, cpu=128)
    m5_nodes = {node for node, labels in node_labels(kube).items() if labels[INSTANCE_TYPE] == "m5.large"}
    fewest = fewest_nodes_for(count, free_slots(ecs, ecs_cluster, memory, m5_nodes))

    tasks, failures = run(
        ecs,
        ecs_cluster,
        definition,
        count=count,
        placementConstraints=[member_of("attribute:ecs.instance-type == m5.large")],
        placementStrategy=[strategy],
    )

    assert failures == []
    used = set(landed_on(kube, ecs_cluster, arns(tasks)).values())
    assert used <= m5_nodes
    assert len(used) == (fewest if strategy == BINPACK_ON_MEMORY else count)


def test_task_needing_more_memory_than_any_node_has_is_a_memory_failure(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    definition = task_definition(ecs, memory=8000)

    tasks, failures = run(ecs, ecs_cluster, definition)

    assert tasks == [] and failures == [{"reason": "RESOURCE:MEMORY"}]
    assert task_pods(kube, ecs_cluster) == []


def test_task_needing_more_cpu_than_any_node_has_is_a_cpu_failure(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    definition = task_definition(ecs, cpu=4096)

    tasks, failures = run(ecs, ecs_cluster, definition)

    assert tasks == [] and failures == [{"reason": "RESOURCE:CPU"}]
    assert task_pods(kube, ecs_cluster) == []


def test_a_host_port_taken_on_the_only_eligible_node_is_a_ports_failure(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    definition = task_definition(
        ecs, networkMode="bridge", container={"portMappings": [{"containerPort": 80, "hostPort": 8080}]}
    )
    on_arm = [member_of("attribute:ecs.cpu-architecture == arm64")]

    first, first_failures = run(ecs, ecs_cluster, definition, placementConstraints=on_arm)
    second, second_failures = run(ecs, ecs_cluster, definition, placementConstraints=on_arm)

    assert first_failures == [] and len(first) == 1
    assert second == [] and second_failures == [{"reason": "RESOURCE:PORTS"}]
    [node] = landed_on(kube, ecs_cluster, arns(first)).values()
    assert node_labels(kube)[node][ARCH] == "arm64"
    assert len(task_pods(kube, ecs_cluster)) == 1

    def bindings() -> list[dict[str, Any]]:
        [task] = ecs.describe_tasks(cluster=ecs_cluster, tasks=arns(first))["tasks"]
        return list(task["containers"][0]["networkBindings"])

    [binding] = eventually(bindings)
    assert (binding["containerPort"], binding["hostPort"], binding["protocol"]) == (80, 8080, "tcp")
