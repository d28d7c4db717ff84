"""A CreateService or UpdateService lands whole or not at all: what Kubernetes refuses is answered
as ECS answers bad input (never a 500) and leaves no record, workload or pod behind, nor a changed
one; and values outside the Basic Multilingual Plane (an emoji) reach the pods as they were sent."""

from typing import Any

import pytest

from shim.kube.client import KubeClients
from shim.translate.names import cluster_namespace
from tests.integration.conftest import FAST_WAITER, ecs_error, eventually, kube_json, task_pods, unique_name

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

EMOJI = "launch 😀 🚀"
REFUSED_BY_KUBERNETES = [{"name": "A=B", "value": "x"}]
"""An environment variable name ECS takes and Kubernetes refuses ('=' cannot be in a name)."""


def register(ecs: Any, family: str, **container: Any) -> str:
    definition = {"name": "app", "image": "busybox:1.36", "memory": 64, "cpu": 16, **container}
    arn: str = ecs.register_task_definition(family=family, containerDefinitions=[definition])["taskDefinition"][
        "taskDefinitionArn"
    ]
    return arn


def workloads(kube: KubeClients, cluster: str) -> list[dict[str, Any]]:
    deployments = kube_json(kube.apps.list_namespaced_deployment, cluster_namespace(cluster))["items"]
    services = kube_json(kube.core.list_namespaced_service, cluster_namespace(cluster))["items"]
    return [*deployments, *services]


def service_names(ecs: Any, cluster: str) -> list[str]:
    return [arn.rsplit("/", 1)[-1] for arn in ecs.list_services(cluster=cluster)["serviceArns"]]


def env_of(pod: dict[str, Any]) -> dict[str, str]:
    return {pair["name"]: pair.get("value", "") for pair in pod["spec"]["containers"][0].get("env", [])}


def test_an_emoji_round_trips_through_create_and_update_service(ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    family = unique_name("emoji")
    first = register(ecs, family, environment=[{"name": "GREETING", "value": EMOJI}], dockerLabels={"mood": EMOJI})
    ecs.create_service(cluster=ecs_cluster, serviceName="emoji", taskDefinition=first, desiredCount=1)
    described = ecs.describe_task_definition(taskDefinition=first)["taskDefinition"]
    assert described["containerDefinitions"][0]["environment"] == [{"name": "GREETING", "value": EMOJI}]
    assert eventually(lambda: [env_of(p)["GREETING"] for p in task_pods(kube, ecs_cluster)]) == [EMOJI]

    second = register(ecs, family, environment=[{"name": "GREETING", "value": EMOJI + " again"}])
    ecs.update_service(cluster=ecs_cluster, service="emoji", taskDefinition=second)
    ecs.get_waiter("services_stable").wait(cluster=ecs_cluster, services=["emoji"], WaiterConfig=FAST_WAITER)
    assert eventually(
        lambda: {env_of(p)["GREETING"] for p in task_pods(kube, ecs_cluster)} == {EMOJI + " again"} or None
    )
    ecs.delete_service(cluster=ecs_cluster, service="emoji", force=True)


def test_a_create_service_kubernetes_refuses_leaves_nothing(ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    definition = register(ecs, unique_name("refused"), environment=REFUSED_BY_KUBERNETES)

    error = ecs_error(
        ecs.create_service, cluster=ecs_cluster, serviceName="refused", taskDefinition=definition, desiredCount=1
    )

    assert error["Code"] == "InvalidParameterException"
    assert "env" in error["Message"] and "A=B" in error["Message"]
    assert service_names(ecs, ecs_cluster) == []
    assert ecs.describe_services(cluster=ecs_cluster, services=["refused"])["failures"][0]["reason"] == "MISSING"
    assert workloads(kube, ecs_cluster) == []
    assert task_pods(kube, ecs_cluster) == []


def test_a_create_service_whose_registry_service_is_refused_leaves_no_deployment(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    definition = register(ecs, unique_name("registry"))
    registry = {"registryArn": "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1", "port": 70000}

    error = ecs_error(
        ecs.create_service,
        cluster=ecs_cluster,
        serviceName="registry",
        taskDefinition=definition,
        desiredCount=1,
        serviceRegistries=[registry],
    )

    assert error["Code"] in {"InvalidParameterException", "ClientException"}
    assert service_names(ecs, ecs_cluster) == []
    assert workloads(kube, ecs_cluster) == []
    assert task_pods(kube, ecs_cluster) == []


def test_an_update_service_kubernetes_refuses_changes_nothing(ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    family = unique_name("update")
    good = register(ecs, family)
    bad = register(ecs, family, environment=REFUSED_BY_KUBERNETES)
    ecs.create_service(cluster=ecs_cluster, serviceName="steady", taskDefinition=good, desiredCount=1)
    ecs.get_waiter("services_stable").wait(cluster=ecs_cluster, services=["steady"], WaiterConfig=FAST_WAITER)
    before = ecs.describe_services(cluster=ecs_cluster, services=["steady"])["services"][0]
    [deployment] = kube_json(kube.apps.list_namespaced_deployment, cluster_namespace(ecs_cluster))["items"]

    error = ecs_error(ecs.update_service, cluster=ecs_cluster, service="steady", taskDefinition=bad)

    assert error["Code"] == "InvalidParameterException"
    assert "A=B" in error["Message"]
    after = ecs.describe_services(cluster=ecs_cluster, services=["steady"])["services"][0]
    assert after["taskDefinition"] == good
    assert [d["id"] for d in after["deployments"]] == [d["id"] for d in before["deployments"]]
    [unchanged] = kube_json(kube.apps.list_namespaced_deployment, cluster_namespace(ecs_cluster))["items"]
    assert unchanged["metadata"]["generation"] == deployment["metadata"]["generation"]
    assert unchanged["spec"]["template"] == deployment["spec"]["template"]

    scaled = ecs.update_service(cluster=ecs_cluster, service="steady", desiredCount=2)["service"]
    assert scaled["desiredCount"] == 2
    assert scaled["taskDefinition"] == good
    ecs.delete_service(cluster=ecs_cluster, service="steady", force=True)
