"""Inputs that once held a worker or reached the API server unchecked: a regular expression a
backtracking engine never finishes, placement constraints and service registries that are
malformed, and the limits ECS documents for RunTask and RegisterTaskDefinition. Each is answered
quickly, and what ECS refuses is refused with ECS's error code, nothing started."""

import time
from typing import Any

import pytest

from shim.kube.client import KubeClients
from tests.integration.conftest import ShimServer, ecs_error, task_pods, unchecked_ecs_client, unique_name

CATASTROPHIC = "'(.?.?)*x'"


def task_definition(ecs: Any, **container: Any) -> str:
    definition = {"name": "app", "image": "busybox", "memory": 8, **container}
    registered = ecs.register_task_definition(family=unique_name("limits"), containerDefinitions=[definition])
    arn: str = registered["taskDefinition"]["taskDefinitionArn"]
    return arn


def test_a_catastrophic_regular_expression_in_a_filter_is_answered_at_once(ecs: Any, ecs_cluster: str) -> None:
    started = time.monotonic()
    listed = ecs.list_container_instances(cluster=ecs_cluster, filter=f"ec2InstanceId =~ {CATASTROPHIC}")
    assert time.monotonic() - started < 2
    assert listed["containerInstanceArns"] == []


def test_a_catastrophic_member_of_constraint_is_answered_at_once(ecs: Any, ecs_cluster: str) -> None:
    definition = task_definition(ecs)
    started = time.monotonic()
    response = ecs.run_task(
        cluster=ecs_cluster,
        taskDefinition=definition,
        placementConstraints=[{"type": "memberOf", "expression": f"ec2InstanceId =~ {CATASTROPHIC}"}],
    )
    assert time.monotonic() - started < 2
    assert response["tasks"] == []
    assert [failure["reason"] for failure in response["failures"]] == ["MemberOf placement constraint unsatisfied."]


def test_a_regular_expression_only_backtracking_can_run_is_refused(ecs: Any, ecs_cluster: str) -> None:
    error = ecs_error(ecs.list_container_instances, cluster=ecs_cluster, filter=r"ec2InstanceId =~ (a+)\1")
    assert error["Code"] == "InvalidParameterException"
    assert "backreferences are not supported" in error["Message"]


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        (
            {"expression": "attribute:x exists"},
            "Invalid placement constraint type 'None'. Valid values are distinctInstance and memberOf.",
        ),
        ({"type": "memberOf"}, "memberOf expression must be specified."),
    ],
)
def test_a_malformed_placement_constraint_is_refused(
    shim: ShimServer, ecs: Any, kube: KubeClients, ecs_cluster: str, constraint: dict[str, str], message: str
) -> None:
    unchecked = unchecked_ecs_client(shim.url)
    definition = task_definition(ecs)
    for call, params in [
        (unchecked.run_task, {}),
        (unchecked.create_service, {"serviceName": unique_name("svc"), "desiredCount": 0}),
    ]:
        error = ecs_error(
            call, cluster=ecs_cluster, taskDefinition=definition, placementConstraints=[constraint], **params
        )
        assert error == {"Code": "InvalidParameterException", "Message": message}
    assert task_pods(kube, ecs_cluster) == []
    assert ecs.list_services(cluster=ecs_cluster)["serviceArns"] == []


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_a_service_registry_port_outside_the_tcp_range_is_refused(ecs: Any, ecs_cluster: str, port: int) -> None:
    error = ecs_error(
        ecs.create_service,
        cluster=ecs_cluster,
        serviceName=unique_name("svc"),
        taskDefinition=task_definition(ecs),
        desiredCount=0,
        serviceRegistries=[
            {"registryArn": "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1", "port": port}
        ],
    )
    assert error["Code"] == "InvalidParameterException"
    assert "port" in error["Message"]
    assert ecs.list_services(cluster=ecs_cluster)["serviceArns"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"startedBy": "x" * 129}, "startedBy"),
        ({"startedBy": "x" * 200_000}, "startedBy"),
        ({"startedBy": "job 1"}, "startedBy"),
        ({"clientToken": "t" * 65}, "clientToken"),
        ({"clientToken": "token with spaces"}, "clientToken"),
        ({"group": "g" * 256}, "group"),
        ({"referenceId": "r" * 1025}, "referenceId"),
        ({"overrides": {"ephemeralStorage": {"sizeInGiB": -1}}}, "ephemeral storage"),
        ({"overrides": {"containerOverrides": [{"name": "app", "cpu": -1}]}}, "cpu"),
        ({"overrides": {"containerOverrides": [{"name": "app", "memory": -8}]}}, "memory"),
    ],
)
def test_run_task_values_beyond_ecs_limits_are_refused(
    shim: ShimServer, ecs: Any, kube: KubeClients, ecs_cluster: str, params: dict[str, Any], message: str
) -> None:
    error = ecs_error(
        unchecked_ecs_client(shim.url).run_task, cluster=ecs_cluster, taskDefinition=task_definition(ecs), **params
    )
    assert error["Code"] == "InvalidParameterException"
    assert message in error["Message"]
    assert task_pods(kube, ecs_cluster) == []


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"cpu": -1}, "Invalid 'cpu' setting for container 'app'."),
        ({"memory": -8}, "Invalid 'memory' setting for container 'app'."),
        ({"memory": 16, "memoryReservation": -8}, "Invalid 'memoryReservation' setting for container 'app'."),
    ],
)
def test_negative_container_sizes_are_refused(shim: ShimServer, container: dict[str, Any], message: str) -> None:
    family = unique_name("limits")
    unchecked = unchecked_ecs_client(shim.url)
    definition = {"name": "app", "image": "busybox", "memory": 8, **container}
    error = ecs_error(unchecked.register_task_definition, family=family, containerDefinitions=[definition])
    assert error == {"Code": "ClientException", "Message": message}
    assert unchecked.list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == []


def test_a_dependency_cycle_is_refused_at_registration(ecs: Any) -> None:
    family = unique_name("limits")
    containers = [
        {"name": "a", "image": "busybox", "memory": 8, "dependsOn": [{"containerName": "b", "condition": "START"}]},
        {"name": "b", "image": "busybox", "memory": 8, "dependsOn": [{"containerName": "a", "condition": "START"}]},
    ]
    error = ecs_error(ecs.register_task_definition, family=family, containerDefinitions=containers)
    assert error == {"Code": "ClientException", "Message": "Container dependencies form a cycle."}
    assert ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == []


def test_an_empty_cluster_name_is_refused_rather_than_read_as_default(ecs: Any) -> None:
    definition = task_definition(ecs)
    calls: list[tuple[Any, dict[str, Any]]] = [
        (ecs.run_task, {"taskDefinition": definition}),
        (ecs.list_tasks, {}),
        (ecs.list_services, {}),
        (ecs.list_container_instances, {}),
        (ecs.create_service, {"serviceName": unique_name("svc"), "taskDefinition": definition, "desiredCount": 0}),
    ]
    for call, params in calls:
        error = ecs_error(call, cluster="", **params)
        assert error == {"Code": "InvalidParameterException", "Message": "Cluster can not be blank."}


@pytest.mark.parametrize(
    ("arn_of", "message"),
    [
        (
            lambda cluster: f"arn:aws:ecs:us-east-1:123456789012:task/{cluster}/{'a' * 32}",
            "Invalid identifier: Identifier is for cluster {other}. Your cluster is {cluster}",
        ),
        (lambda cluster: f"arn:aws:ecs:eu-west-1:123456789012:task/{cluster}/{'a' * 32}", "Invalid Region in ARN"),
        (
            lambda cluster: f"arn:aws:ecs:us-east-1:999999999999:task/{cluster}/{'a' * 32}",
            "Invalid identifier: Identifier is for account 999999999999 in region us-east-1. "
            "Your account is 123456789012 in region us-east-1",
        ),
    ],
)
def test_a_task_arn_of_another_cluster_account_or_region_is_refused(
    ecs: Any, ecs_cluster: str, other_ecs_cluster: str, arn_of: Any, message: str
) -> None:
    arn = arn_of(other_ecs_cluster if "{other}" in message else ecs_cluster)
    expected = message.format(other=other_ecs_cluster, cluster=ecs_cluster)
    for call, params in [(ecs.describe_tasks, {"tasks": [arn]}), (ecs.stop_task, {"task": arn})]:
        assert ecs_error(call, cluster=ecs_cluster, **params) == {
            "Code": "InvalidParameterException",
            "Message": expected,
        }


ACCOUNT_MISMATCH = (
    "Invalid identifier: Identifier is for account 999999999999 in region us-east-1. "
    "Your account is 123456789012 in region us-east-1"
)


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        (
            "us-east-1:123456789012:{resource}/{other}",
            "Invalid identifier: Identifier is for cluster {other}. Your cluster is {cluster}",
        ),
        ("eu-west-1:123456789012:{resource}/{cluster}", "Invalid Region in ARN"),
        ("us-east-1:999999999999:{resource}/{cluster}", ACCOUNT_MISMATCH),
    ],
)
def test_a_service_or_container_instance_arn_of_another_cluster_account_or_region_is_refused(
    ecs: Any, ecs_cluster: str, other_ecs_cluster: str, owner: str, message: str
) -> None:
    def arn(resource: str, name: str) -> str:
        return f"arn:aws:ecs:{owner.format(resource=resource, other=other_ecs_cluster, cluster=ecs_cluster)}/{name}"

    service, instance = arn("service", "web"), arn("container-instance", "a" * 32)
    calls: list[tuple[Any, dict[str, Any]]] = [
        (ecs.describe_services, {"services": [service]}),
        (ecs.update_service, {"service": service, "desiredCount": 0}),
        (ecs.delete_service, {"service": service, "force": True}),
        (ecs.list_service_deployments, {"service": service}),
        (ecs.describe_container_instances, {"containerInstances": [instance]}),
        (ecs.update_container_instances_state, {"containerInstances": [instance], "status": "ACTIVE"}),
    ]
    expected = message.format(other=other_ecs_cluster, cluster=ecs_cluster)
    for call, params in calls:
        assert ecs_error(call, cluster=ecs_cluster, **params) == {
            "Code": "InvalidParameterException",
            "Message": expected,
        }


@pytest.mark.parametrize(
    ("owner", "message"),
    [("eu-west-1:123456789012", "Invalid Region in ARN"), ("us-east-1:999999999999", ACCOUNT_MISMATCH)],
)
def test_a_cluster_arn_of_another_account_or_region_is_refused(
    ecs: Any, ecs_cluster: str, owner: str, message: str
) -> None:
    arn = f"arn:aws:ecs:{owner}:cluster/{ecs_cluster}"
    calls: list[tuple[Any, dict[str, Any]]] = [
        (ecs.describe_clusters, {"clusters": [arn]}),
        (ecs.list_services, {"cluster": arn}),
        (ecs.list_tasks, {"cluster": arn}),
        (ecs.update_cluster_settings, {"cluster": arn, "settings": []}),
    ]
    for call, params in calls:
        assert ecs_error(call, **params) == {"Code": "InvalidParameterException", "Message": message}
