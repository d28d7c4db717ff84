"""Nodes pinned to an ECS cluster (label ecs.shim.io/cluster) and tainted with the pin are that
cluster's alone, as the local cluster's real node is for the cluster `real`: the cluster runs its
tasks, services and daemons there only, and no other cluster lists, places on or runs a daemon on
them. A DAEMON service never runs on a node pinned to another cluster, tainted or not."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shim.kube.client import KubeClients
from tests.integration.conftest import (
    FAST_WAITER,
    eventually,
    remove_services,
    task_pods,
    unique_name,
)


def register(ecs: Any, family: str) -> str:
    definition = ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "app", "image": "busybox", "memory": 16}]
    )["taskDefinition"]
    return str(definition["taskDefinitionArn"])


@pytest.fixture
def other_cluster(ecs: Any, kube: KubeClients) -> Iterator[str]:
    name = unique_name("other")
    ecs.create_cluster(clusterName=name)
    yield name
    remove_services(ecs, kube, name)
    eventually(lambda: ecs.delete_cluster(cluster=name), timeout=30)


def instance_nodes(ecs: Any, cluster: str) -> set[str]:
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    if not arns:
        return set()
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]
    return {instance["ec2InstanceId"] for instance in described}


def nodes_running(kube: KubeClients, cluster: str, service: str | None = None) -> list[str]:
    return sorted(
        pod["spec"].get("nodeName", "")
        for pod in task_pods(kube, cluster)
        if "deletionTimestamp" not in pod["metadata"]
        and (service is None or pod["metadata"]["labels"].get("ecs.shim.io/service") == service)
    )


def test_a_cluster_with_a_dedicated_node_runs_there_only_and_no_other_cluster_sees_it(
    ecs: Any, kube: KubeClients, cluster: str, other_cluster: str, add_node: Callable[..., str]
) -> None:
    dedicated = add_node("c5.xlarge", dedicated=True)
    definition = register(ecs, unique_name("dedicated"))

    assert instance_nodes(ecs, cluster) == {dedicated}
    assert dedicated not in instance_nodes(ecs, other_cluster)
    tasks = ecs.run_task(cluster=cluster, taskDefinition=definition, count=3)["tasks"]
    ecs.get_waiter("tasks_running").wait(
        cluster=cluster, tasks=[task["taskArn"] for task in tasks], WaiterConfig=FAST_WAITER
    )
    assert nodes_running(kube, cluster) == [dedicated] * 3
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=2)
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=["web"], WaiterConfig=FAST_WAITER)
    assert nodes_running(kube, cluster, "web") == [dedicated] * 2

    others = ecs.run_task(cluster=other_cluster, taskDefinition=definition, count=5)["tasks"]
    ecs.get_waiter("tasks_running").wait(
        cluster=other_cluster, tasks=[task["taskArn"] for task in others], WaiterConfig=FAST_WAITER
    )
    assert dedicated not in nodes_running(kube, other_cluster)
    for name, started in ((cluster, tasks), (other_cluster, others)):
        for task in started:
            ecs.stop_task(cluster=name, task=task["taskArn"])


def test_daemons_run_on_the_nodes_that_serve_their_cluster_only(
    ecs: Any, kube: KubeClients, cluster: str, other_cluster: str, add_node: Callable[..., str]
) -> None:
    pinned = add_node("m5.large")
    dedicated = add_node("m5.large", dedicated=True)
    definition = register(ecs, unique_name("daemon"))
    for name in (cluster, other_cluster):
        ecs.create_service(cluster=name, serviceName="agent", taskDefinition=definition, schedulingStrategy="DAEMON")

    def placed() -> bool:
        return bool(nodes_running(kube, cluster, "agent")) and len(nodes_running(kube, other_cluster, "agent")) > 1

    eventually(placed, timeout=30)
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=["agent"], WaiterConfig=FAST_WAITER)
    ecs.get_waiter("services_stable").wait(cluster=other_cluster, services=["agent"], WaiterConfig=FAST_WAITER)
    assert nodes_running(kube, cluster, "agent") == sorted([pinned, dedicated])
    elsewhere = nodes_running(kube, other_cluster, "agent")
    assert pinned not in elsewhere and dedicated not in elsewhere
    assert len(elsewhere) == len(instance_nodes(ecs, other_cluster))
