"""AWS Cloud Map through boto3 (in AWS JSON 1.1, as boto3 picks it, and in Smithy RPC v2 CBOR, as
newer SDKs speak it) and the AWS CLI on the local cluster: an ECS service whose serviceRegistries
name a Cloud Map service registers exactly its running tasks, which DiscoverInstances finds
before and after a scale change and a StopTask; namespaces, services, custom instances, health,
operations and tags behave as Cloud Map's, and bad input gets Cloud Map's own errors."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session
import pytest

from shim.kube.client import KubeClients
from shim.translate.names import LABEL_SERVICE
from shim.translate.task_from_pod import task_id_of
from tests.integration.conftest import (
    FAST_WAITER,
    ShimServer,
    checked_client,
    error_code,
    eventually,
    run_aws,
    task_id_of_arn,
    task_pods,
    unique_name,
)
from tests.integration.test_services import register

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

SERVICE = "servicediscovery"


def cloud_map_client(url: str, model_directory: Path | None = None) -> Any:
    """A Cloud Map client whose every response is checked against the model; with
    `model_directory`, botocore reads its model of Cloud Map from there."""
    session = botocore.session.get_session()
    if model_directory is not None:
        session.get_component("data_loader").search_paths.insert(0, str(model_directory))
    return checked_client(url, SERVICE, session)


@pytest.fixture(scope="module")
def cloud_map(shim: ShimServer) -> Any:
    """boto3 as it comes: it picks AWS JSON 1.1, which Cloud Map's model also offers."""
    client = cloud_map_client(shim.url)
    assert client.meta.service_model.resolved_protocol == "json"
    return client


@pytest.fixture(scope="module")
def cloud_map_cbor(shim: ShimServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """boto3 with Cloud Map's model offering Smithy RPC v2 CBOR only, so botocore's own CBOR
    serializer and parser carry every call, as SDKs that prefer CBOR do."""
    loader = botocore.loaders.Loader()
    version = loader.determine_latest_version(SERVICE, "service-2")
    model = loader.load_service_model(SERVICE, "service-2", version)
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    directory = tmp_path_factory.mktemp("models")
    (directory / SERVICE / version).mkdir(parents=True)
    (directory / SERVICE / version / "service-2.json").write_text(json.dumps(model))
    client = cloud_map_client(shim.url, directory)
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    return client


def operation_target(client: Any, operation_id: str, target: str) -> str:
    operation = client.get_operation(OperationId=operation_id)["Operation"]
    assert operation["Status"] == "SUCCESS"
    return str(operation["Targets"][target])


@pytest.fixture
def private_namespace(cloud_map: Any) -> Iterator[dict[str, Any]]:
    name = f"{unique_name('apps')}.local"
    created = cloud_map.create_private_dns_namespace(Name=name, Vpc="vpc-0123456789abcdef0")
    namespace_id = operation_target(cloud_map, created["OperationId"], "NAMESPACE")
    yield cloud_map.get_namespace(Id=namespace_id)["Namespace"]
    for service in cloud_map.list_services(Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace_id]}])["Services"]:
        # Another server process may see the ECS service's deletion a moment later.
        eventually(partial(deleted, cloud_map, service["Id"]))
    cloud_map.delete_namespace(Id=namespace_id)


def deleted(cloud_map: Any, service_id: str) -> bool:
    """Whether DeleteService went through (False: instances are still registered)."""
    try:
        cloud_map.delete_service(Id=service_id)
    except botocore.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUse":
            raise
        return False
    return True


def running_endpoints(kube: KubeClients, cluster: str, service: str) -> dict[str, str]:
    """task id -> pod IP of the service's pods that run (phase Running, not being deleted)."""
    return {
        task_id_of(pod): pod["status"]["podIP"]
        for pod in task_pods(kube, cluster)
        if pod["metadata"]["labels"].get(LABEL_SERVICE) == service
        and "deletionTimestamp" not in pod["metadata"]
        and pod.get("status", {}).get("phase") == "Running"
        and pod["status"].get("podIP")
    }


def discovered(cloud_map: Any, namespace: str, service: str) -> dict[str, tuple[str, str]]:
    instances = cloud_map.discover_instances(NamespaceName=namespace, ServiceName=service)["Instances"]
    return {
        i["InstanceId"]: (i["Attributes"]["AWS_INSTANCE_IPV4"], i["Attributes"]["AWS_INSTANCE_PORT"]) for i in instances
    }


def discovery_matches(
    cloud_map: Any, kube: KubeClients, namespace: str, cluster: str, count: int
) -> dict[str, tuple[str, str]] | None:
    """DiscoverInstances' answer once it is exactly the service's `count` running tasks."""
    endpoints = running_endpoints(kube, cluster, "web")
    found = discovered(cloud_map, namespace, "web")
    expected = {task_id: (address, "8080") for task_id, address in endpoints.items()}
    return found if len(found) == count and found == expected else None


def test_an_ecs_service_registers_exactly_its_running_tasks_through_scaling_and_stop_task(
    private_namespace: dict[str, Any], ecs: Any, cloud_map: Any, kube: KubeClients, cluster: str, shim: ShimServer
) -> None:
    namespace = private_namespace["Name"]
    registry = cloud_map.create_service(
        Name="web",
        NamespaceId=private_namespace["Id"],
        DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]},
        HealthCheckCustomConfig={"FailureThreshold": 1},
    )["Service"]
    assert (registry["Type"], registry["InstanceCount"]) == ("DNS_HTTP", 0)
    definition = register(ecs, unique_name("web"), portMappings=[{"containerPort": 8080}])
    ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=definition,
        desiredCount=2,
        serviceRegistries=[{"registryArn": registry["Arn"], "containerName": "app", "containerPort": 8080}],
    )
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=["web"], WaiterConfig=FAST_WAITER)
    two = eventually(lambda: discovery_matches(cloud_map, kube, namespace, cluster, 2))
    task_ids = {task_id_of_arn(arn) for arn in ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"]}
    assert set(two) == task_ids

    some_task = sorted(two)[0]
    instance = cloud_map.get_instance(ServiceId=registry["Id"], InstanceId=some_task)["Instance"]
    assert instance["Attributes"]["ECS_CLUSTER_NAME"] == cluster
    assert instance["Attributes"]["ECS_SERVICE_NAME"] == "web"
    assert instance["Attributes"]["AVAILABILITY_ZONE"].startswith("us-east-1")
    assert cloud_map.get_service(Id=registry["Id"])["Service"]["InstanceCount"] == 2
    health = cloud_map.get_instances_health_status(ServiceId=registry["Id"])["Status"]
    assert health == dict.fromkeys(two, "HEALTHY")
    assert error_code(cloud_map.delete_service, Id=registry["Id"]) == "ResourceInUse"

    ecs.update_service(cluster=cluster, service="web", desiredCount=3)
    three = eventually(lambda: discovery_matches(cloud_map, kube, namespace, cluster, 3))
    assert set(two) < set(three)

    ecs.stop_task(cluster=cluster, task=some_task, reason="gone")

    def replaced() -> dict[str, tuple[str, str]] | None:
        found = discovery_matches(cloud_map, kube, namespace, cluster, 3)
        return found if found is not None and some_task not in found else None

    after_stop = eventually(replaced)
    listed = cloud_map.list_instances(ServiceId=registry["Id"])["Instances"]
    assert {i["Id"] for i in listed} == set(after_stop)

    cli = run_aws(
        shim.url, "discover-instances", "--namespace-name", namespace, "--service-name", "web", service=SERVICE
    )
    assert cli.returncode == 0, cli.stderr
    assert {i["InstanceId"] for i in json.loads(cli.stdout)["Instances"]} == set(after_stop)

    ecs.delete_service(cluster=cluster, service="web", force=True)
    eventually(lambda: discovered(cloud_map, namespace, "web") == {})  # at once, in each server process


def test_namespaces_services_instances_operations_and_tags_over_cbor(cloud_map_cbor: Any) -> None:
    client, name = cloud_map_cbor, unique_name("http")
    started = datetime.now(UTC) - timedelta(seconds=5)
    created = client.create_http_namespace(
        Name=name, CreatorRequestId=f"{name}-1", Tags=[{"Key": "team", "Value": "a"}]
    )
    assert (
        client.create_http_namespace(Name=name, CreatorRequestId=f"{name}-1")["OperationId"] == created["OperationId"]
    )
    assert error_code(client.create_http_namespace, Name=name) == "NamespaceAlreadyExists"
    operation = client.get_operation(OperationId=created["OperationId"])["Operation"]
    assert (operation["Type"], operation["Status"]) == ("CREATE_NAMESPACE", "SUCCESS")
    assert started <= operation["CreateDate"] <= datetime.now(UTC) + timedelta(seconds=5)
    namespace_id = operation["Targets"]["NAMESPACE"]
    namespace = client.get_namespace(Id=namespace_id)["Namespace"]
    assert (namespace["Name"], namespace["Type"], namespace["Properties"]["HttpProperties"]["HttpName"]) == (
        name,
        "HTTP",
        name,
    )
    by_name = client.list_namespaces(Filters=[{"Name": "NAME", "Values": [name]}])["Namespaces"]
    assert [n["Id"] for n in by_name] == [namespace_id]
    assert client.list_tags_for_resource(ResourceARN=namespace["Arn"])["Tags"] == [{"Key": "team", "Value": "a"}]

    dns = {"DnsRecords": [{"Type": "A", "TTL": 10}]}
    assert error_code(client.create_service, Name="api", NamespaceId=namespace_id, DnsConfig=dns) == "InvalidInput"
    assert error_code(client.create_service, Name="api", NamespaceId="ns-doesnotexist00") == "NamespaceNotFound"
    service = client.create_service(
        Name="api", NamespaceId=namespace_id, HealthCheckCustomConfig={"FailureThreshold": 1}
    )["Service"]
    assert service["Type"] == "HTTP" and isinstance(service["CreateDate"], datetime)
    assert client.get_service(Id=service["Arn"])["Service"]["Id"] == service["Id"], "an ARN names it too"
    for instance_id, health in (("blue", "HEALTHY"), ("green", "UNHEALTHY")):
        registered = client.register_instance(
            ServiceId=service["Id"],
            InstanceId=instance_id,
            Attributes={"color": instance_id, "AWS_INIT_HEALTH_STATUS": health},
        )
        assert operation_target(client, registered["OperationId"], "INSTANCE") == instance_id

    def discover(**params: Any) -> list[str]:
        found = client.discover_instances(NamespaceName=name, ServiceName="api", **params)["Instances"]
        return sorted(instance["InstanceId"] for instance in found)

    assert discover() == ["blue"]
    assert discover(HealthStatus="ALL") == ["blue", "green"]
    assert discover(HealthStatus="UNHEALTHY") == ["green"]
    assert discover(HealthStatus="ALL", QueryParameters={"color": "green"}) == ["green"]
    assert discover(HealthStatus="ALL", OptionalParameters={"color": "none"}) == ["blue", "green"]
    revision = client.discover_instances_revision(NamespaceName=name, ServiceName="api")["InstancesRevision"]
    client.update_instance_custom_health_status(ServiceId=service["Id"], InstanceId="blue", Status="UNHEALTHY")
    assert client.get_instances_health_status(ServiceId=service["Id"])["Status"] == {
        "blue": "UNHEALTHY",
        "green": "UNHEALTHY",
    }
    assert discover(HealthStatus="HEALTHY_OR_ELSE_ALL") == ["blue", "green"]
    assert client.discover_instances_revision(NamespaceName=name, ServiceName="api")["InstancesRevision"] == revision
    assert error_code(client.get_instance, ServiceId=service["Id"], InstanceId="red") == "InstanceNotFound"
    assert error_code(client.discover_instances, NamespaceName=name, ServiceName="nope") == "ServiceNotFound"

    client.tag_resource(ResourceARN=service["Arn"], Tags=[{"Key": "tier", "Value": "1"}])
    client.untag_resource(ResourceARN=namespace["Arn"], TagKeys=["team"])
    assert client.list_tags_for_resource(ResourceARN=service["Arn"])["Tags"] == [{"Key": "tier", "Value": "1"}]
    assert client.list_tags_for_resource(ResourceARN=namespace["Arn"])["Tags"] == []
    assert error_code(client.list_tags_for_resource, ResourceARN=namespace["Arn"] + "x") == "ResourceNotFoundException"

    assert error_code(client.delete_namespace, Id=namespace_id) == "ResourceInUse"
    assert error_code(client.delete_service, Id=service["Id"]) == "ResourceInUse"
    for instance_id in ("blue", "green"):
        client.deregister_instance(ServiceId=service["Id"], InstanceId=instance_id)
        assert (
            client.discover_instances_revision(NamespaceName=name, ServiceName="api")["InstancesRevision"] != revision
        )
        revision = client.discover_instances_revision(NamespaceName=name, ServiceName="api")["InstancesRevision"]
    client.delete_service(Id=service["Id"])
    deleted = client.delete_namespace(Id=namespace_id)["OperationId"]
    assert operation_target(client, deleted, "NAMESPACE") == namespace_id
    assert error_code(client.get_namespace, Id=namespace_id) == "NamespaceNotFound"
    assert error_code(client.get_operation, OperationId="no-such-operation") == "OperationNotFound"
    assert error_code(client.list_namespaces, NextToken="not a token") == "InvalidInput"
    between = [{"Name": "TYPE", "Values": ["HTTP", "DNS_PRIVATE"], "Condition": "BETWEEN"}]
    assert error_code(client.list_namespaces, Filters=between) == "InvalidInput"
    update_dates = [
        {"Name": "UPDATE_DATE", "Values": [str(time.time() - 600), str(time.time())], "Condition": "BETWEEN"}
    ]
    assert deleted in {o["Id"] for o in client.list_operations(Filters=update_dates)["Operations"]}
