"""The limits ECS documents for RunTask, RegisterTaskDefinition and CreateService, checked before
anything reaches Kubernetes (which would refuse some of these values with a 500 of ours)."""

from typing import Any

import pytest

from shim.errors import ClientException, InvalidParameterException
from shim.translate.names import cluster_name_from, cluster_resource_id
from shim.translate.placement import effective_placement
from shim.translate.service_to_kube import validate_service_params
from shim.translate.task_definitions import validate_registration
from shim.translate.task_to_pod import validate_run_parameters

DEFINITION = {"family": "web", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 8}]}


@pytest.mark.parametrize(
    "params",
    [
        {"startedBy": "nightly-job/42_a"},
        {"startedBy": "x" * 128},
        {"clientToken": "!" + "~" * 63},
        {"group": "service:" + "g" * 247},
        {"referenceId": "r" * 1024},
        {"overrides": {"ephemeralStorage": {"sizeInGiB": 21}, "containerOverrides": [{"name": "app", "cpu": 0}]}},
    ],
)
def test_run_task_values_within_the_limits_pass(params: dict[str, Any]) -> None:
    validate_run_parameters(params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"startedBy": "x" * 129}, "startedBy must be up to 128 letters"),
        ({"startedBy": "job 1"}, "startedBy must be up to 128 letters"),
        ({"startedBy": ""}, "startedBy must be up to 128 letters"),
        ({"clientToken": "t" * 65}, "clientToken must be 1 to 64 characters"),
        ({"clientToken": "a token"}, "clientToken must be 1 to 64 characters"),
        ({"group": "g" * 256}, "group must be at most 255 characters long."),
        ({"referenceId": "r" * 1025}, "referenceId must be at most 1024 characters long."),
        ({"overrides": {"ephemeralStorage": {"sizeInGiB": -1}}}, "Invalid ephemeral storage size -1 GiB"),
        ({"overrides": {"ephemeralStorage": {"sizeInGiB": 201}}}, "Invalid ephemeral storage size 201 GiB"),
        (
            {"overrides": {"containerOverrides": [{"name": "app", "memoryReservation": -1}]}},
            "Invalid 'memoryReservation' override for container 'app'",
        ),
    ],
)
def test_run_task_values_beyond_the_limits_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterException) as refusal:
        validate_run_parameters(params)
    assert refusal.value.message.startswith(message)


def test_containers_waiting_on_each_other_in_a_ring_are_refused_at_registration() -> None:
    containers = [
        {"name": name, "image": "busybox", "memory": 8, "dependsOn": [{"containerName": after, "condition": "START"}]}
        for name, after in [("a", "b"), ("b", "c"), ("c", "a")]
    ]
    containers.append({"name": "d", "image": "busybox", "memory": 8})
    with pytest.raises(ClientException) as refusal:
        validate_registration({"family": "ring", "containerDefinitions": containers})
    assert refusal.value.message == "Container dependencies form a cycle."


def test_a_chain_of_dependencies_is_registered() -> None:
    containers = [
        {"name": "a", "image": "busybox", "memory": 8, "dependsOn": [{"containerName": "b", "condition": "START"}]},
        {"name": "b", "image": "busybox", "memory": 8},
    ]
    validate_registration({"family": "chain", "containerDefinitions": containers})


@pytest.mark.parametrize("key", ["cpu", "memory", "memoryReservation"])
def test_a_negative_container_size_is_refused_at_registration(key: str) -> None:
    container = {"name": "app", "image": "busybox", "memory": 8, key: -1}
    with pytest.raises(ClientException) as refusal:
        validate_registration({"family": "web", "containerDefinitions": [container]})
    assert refusal.value.message == f"Invalid '{key}' setting for container 'app'."


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ({"expression": "attribute:x exists"}, "Invalid placement constraint type 'None'."),
        ({"type": "memberOf"}, "memberOf expression must be specified."),
    ],
)
def test_run_task_placement_constraints_are_checked(constraint: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParameterException) as refusal:
        effective_placement("EC2", DEFINITION, [constraint], [])
    assert refusal.value.message.startswith(message)


@pytest.mark.parametrize("port", [0, 65536])
def test_a_service_registry_port_outside_the_tcp_range_is_refused(port: int) -> None:
    registry = {"registryArn": "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1", "port": port}
    with pytest.raises(InvalidParameterException) as refusal:
        validate_service_params(
            {"serviceName": "web", "taskDefinition": "web", "desiredCount": 1, "serviceRegistries": [registry]}
        )
    assert refusal.value.message == (f"Invalid service registry port {port}. The port must be between 1 and 65535.")


@pytest.mark.parametrize(
    ("value", "task_id"),
    [
        ("4f2a", "4f2a"),
        ("arn:aws:ecs:us-east-1:123456789012:task/prod/4f2a", "4f2a"),
        ("arn:aws:ecs:us-east-1:123456789012:task/4f2a", "4f2a"),
    ],
)
def test_a_task_reference_within_the_cluster_gives_its_id(value: str, task_id: str) -> None:
    assert cluster_resource_id(value, "prod", "us-east-1", "123456789012") == task_id


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "arn:aws:ecs:us-east-1:123456789012:task/test/4f2a",
            "Invalid identifier: Identifier is for cluster test. Your cluster is prod",
        ),
        ("arn:aws:ecs:eu-west-1:123456789012:task/prod/4f2a", "Invalid Region in ARN"),
        (
            "arn:aws:ecs:us-east-1:999999999999:task/prod/4f2a",
            "Invalid identifier: Identifier is for account 999999999999 in region us-east-1. "
            "Your account is 123456789012 in region us-east-1",
        ),
    ],
)
def test_a_task_arn_of_another_cluster_or_region_is_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidParameterException) as refusal:
        cluster_resource_id(value, "prod", "us-east-1", "123456789012")
    assert refusal.value.message == message


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("prod", "prod"),
        ("arn:aws:ecs:us-east-1:123456789012:cluster/prod", "prod"),
    ],
)
def test_a_cluster_reference_of_the_callers_account_and_region_gives_its_name(value: str, name: str) -> None:
    assert cluster_name_from(value, "us-east-1", "123456789012") == name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("arn:aws:ecs:eu-west-1:123456789012:cluster/prod", "Invalid Region in ARN"),
        (
            "arn:aws:ecs:us-east-1:999999999999:cluster/prod",
            "Invalid identifier: Identifier is for account 999999999999 in region us-east-1. "
            "Your account is 123456789012 in region us-east-1",
        ),
    ],
)
def test_a_cluster_arn_of_another_account_or_region_is_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidParameterException) as refusal:
        cluster_name_from(value, "us-east-1", "123456789012")
    assert refusal.value.message == message


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("web", "web"),
        ("arn:aws:ecs:us-east-1:123456789012:service/prod/web", "web"),
        ("arn:aws:ecs:us-east-1:123456789012:service/web", "web"),
        ("arn:aws:ecs:us-east-1:123456789012:container-instance/prod/4f2a", "4f2a"),
    ],
)
def test_a_service_or_instance_reference_within_the_cluster_gives_its_name(value: str, name: str) -> None:
    assert cluster_resource_id(value, "prod", "us-east-1", "123456789012") == name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "arn:aws:ecs:us-east-1:123456789012:service/test/web",
            "Invalid identifier: Identifier is for cluster test. Your cluster is prod",
        ),
        ("arn:aws:ecs:eu-west-1:123456789012:service/prod/web", "Invalid Region in ARN"),
        (
            "arn:aws:ecs:us-east-1:999999999999:container-instance/prod/4f2a",
            "Invalid identifier: Identifier is for account 999999999999 in region us-east-1. "
            "Your account is 123456789012 in region us-east-1",
        ),
    ],
)
def test_a_service_or_instance_arn_of_another_cluster_account_or_region_is_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidParameterException) as refusal:
        cluster_resource_id(value, "prod", "us-east-1", "123456789012")
    assert refusal.value.message == message
