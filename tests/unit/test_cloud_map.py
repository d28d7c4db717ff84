"""Cloud Map in ECS terms: namespace and service settings checked as Cloud Map checks them, the
instance ECS keeps for a running task, DiscoverInstances' health and attribute filters, List
filters' conditions, and the instances revision."""

from typing import Any

import pytest

from shim.errors import InvalidInput, TooManyTagsException
from shim.translate.cloud_map import (
    DNS_PRIVATE,
    HTTP,
    NAMESPACE_FILTERS,
    OPERATION_FILTERS,
    check_filters,
    discovered,
    instances_revision,
    matches_filters,
    new_namespace,
    new_service,
    registered_instance,
    registering,
    resource_id,
    task_instance,
    with_tags,
)
from tests.unit.test_tasks import POD_IP, container, definition, deleted, exited, running, task_pod

NODE = {"metadata": {"name": "i-0abc", "labels": {"topology.kubernetes.io/zone": "us-east-1b"}}}
ECS_SERVICE = {"clusterName": "prod", "serviceName": "web", "status": "ACTIVE"}
REGISTRY_ARN = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1"
REGISTRY: dict[str, Any] = {"registryArn": REGISTRY_ARN, "containerPort": 8080}


def namespace(kind: str = DNS_PRIVATE, name: str = "corp.local") -> dict[str, Any]:
    params = {"Name": name, "Vpc": "vpc-1"}
    return new_namespace(
        params, kind, namespace_id="ns-1", operation_id="op", region="us-east-1", account="123456789012", now=0.0
    )


def service(params: dict[str, Any], kind: str = DNS_PRIVATE) -> dict[str, Any]:
    return new_service(
        {"Name": "web", **params}, namespace(kind), service_id="srv-1", region="us-east-1", account="1", now=0.0
    )


def instance(instance_id: str, health: str = "HEALTHY", **attributes: str) -> dict[str, Any]:
    return {"Id": instance_id, "Attributes": attributes, "Health": health}


def test_a_dns_namespace_name_must_be_a_domain_name_and_an_http_one_printable() -> None:
    assert namespace()["Properties"]["DnsProperties"]["SOA"] == {"TTL": 15}
    with pytest.raises(InvalidInput):
        namespace(DNS_PRIVATE, "not a domain")
    with pytest.raises(InvalidInput):
        namespace(HTTP, "has space")
    assert namespace(HTTP, "team-a")["Properties"] == {"HttpProperties": {"HttpName": "team-a"}}


def test_a_service_takes_the_settings_its_namespace_allows() -> None:
    dns = {"DnsRecords": [{"Type": "A", "TTL": 60}]}
    made = service({"DnsConfig": dns})
    assert (made["Type"], made["DnsConfig"]["RoutingPolicy"], made["DnsConfig"]["NamespaceId"]) == (
        "DNS_HTTP",
        "MULTIVALUE",
        "ns-1",
    )
    assert service({})["Type"] == "HTTP"
    refused: list[tuple[dict[str, Any], str]] = [
        ({"DnsConfig": dns}, HTTP),
        ({"HealthCheckConfig": {"Type": "HTTP"}}, DNS_PRIVATE),
        ({"HealthCheckCustomConfig": {}, "HealthCheckConfig": {"Type": "TCP"}}, DNS_PRIVATE),
        ({"DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 1}, {"Type": "A", "TTL": 2}]}}, DNS_PRIVATE),
        ({"DnsConfig": {"DnsRecords": [{"Type": "CNAME", "TTL": 1}]}}, DNS_PRIVATE),
    ]
    for params, kind in refused:
        with pytest.raises(InvalidInput):
            service(params, kind)


def test_a_registered_instance_of_a_dns_service_needs_an_address() -> None:
    dns_service = service({"DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 60}]}})
    with pytest.raises(InvalidInput):
        registered_instance({"InstanceId": "i", "Attributes": {"color": "blue"}}, dns_service)
    made = registered_instance(
        {"InstanceId": "i", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INIT_HEALTH_STATUS": "UNHEALTHY"}},
        dns_service,
    )
    assert made["Health"] == "UNHEALTHY"
    with pytest.raises(InvalidInput):
        registered_instance({"InstanceId": "i", "Attributes": {"AWS_INIT_HEALTH_STATUS": "SICK"}}, service({}))


def test_a_running_task_is_the_instance_ecs_registers_with_its_address_port_and_place() -> None:
    pod = task_pod(phase="Running", statuses={"app": running()})
    made = task_instance(pod, NODE, ECS_SERVICE, REGISTRY, region="us-east-1", now=10**10)
    assert made is not None
    assert made["Attributes"] == {
        "AWS_INSTANCE_IPV4": POD_IP,
        "AWS_INSTANCE_PORT": "8080",
        "AWS_INIT_HEALTH_STATUS": "HEALTHY",
        "AVAILABILITY_ZONE": "us-east-1b",
        "EC2_INSTANCE_ID": "i-0abc",
        "REGION": "us-east-1",
        "ECS_CLUSTER_NAME": "prod",
        "ECS_SERVICE_NAME": "web",
        "ECS_TASK_DEFINITION_FAMILY": "web",
    }
    assert made["Health"] == "HEALTHY"


def test_a_task_that_is_not_running_is_no_instance() -> None:
    pending = task_pod(phase="Pending")
    stopped = task_pod(phase="Failed", statuses={"app": exited(1)})
    stopping = deleted(task_pod(phase="Running", statuses={"app": running()}), 20)
    for pod in (pending, stopped, stopping):
        assert task_instance(pod, NODE, ECS_SERVICE, REGISTRY, region="us-east-1", now=10**10) is None


def test_a_task_whose_health_check_fails_is_an_unhealthy_instance() -> None:
    checked = definition(container(healthCheck={"command": ["CMD-SHELL", "true"]}))
    pod = task_pod(checked, phase="Running", statuses={"app": running(ready=False)})
    made = task_instance(pod, NODE, ECS_SERVICE, REGISTRY, region="us-east-1", now=10**10)
    assert made is not None and made["Health"] == "UNHEALTHY"


def test_only_an_active_ecs_service_registers_in_the_registries_it_names() -> None:
    ecs_service = {**ECS_SERVICE, "serviceRegistries": [REGISTRY]}
    assert registering(ecs_service) == [REGISTRY]
    assert registering({**ecs_service, "serviceRegistries": [{"containerPort": 80}]}) == [], "no ARN, no registry"
    assert registering({**ecs_service, "status": "DRAINING"}) == []


def test_discovery_keeps_the_wanted_health_then_the_attributes_asked_for() -> None:
    checked = service({"HealthCheckCustomConfig": {"FailureThreshold": 1}})
    instances = [instance("a", color="blue"), instance("b", "UNHEALTHY", color="green")]

    def ids(found: list[dict[str, Any]]) -> list[str]:
        return [i["InstanceId"] for i in found]

    assert ids(discovered(instances, checked, "corp.local", {})) == ["a"]
    assert ids(discovered(instances, checked, "corp.local", {"HealthStatus": "UNHEALTHY"})) == ["b"]
    assert ids(discovered(instances, checked, "corp.local", {"HealthStatus": "ALL"})) == ["a", "b"]
    all_unhealthy = [instance("a", "UNHEALTHY"), instance("b", "UNHEALTHY")]
    assert ids(discovered(all_unhealthy, checked, "corp.local", {"HealthStatus": "HEALTHY_OR_ELSE_ALL"})) == ["a", "b"]
    assert ids(discovered(all_unhealthy, checked, "corp.local", {})) == []
    query = {"HealthStatus": "ALL", "QueryParameters": {"color": "green"}}
    assert ids(discovered(instances, checked, "corp.local", query)) == ["b"]
    optional = {"HealthStatus": "ALL", "OptionalParameters": {"color": "red"}}
    assert ids(discovered(instances, checked, "corp.local", optional)) == ["a", "b"], (
        "optional: ignored when none match"
    )
    assert ids(discovered(instances, checked, "corp.local", {"HealthStatus": "ALL", "MaxResults": 1})) == ["a"]


def test_a_service_without_health_checks_shows_every_instance_as_unknown() -> None:
    found = discovered([instance("a"), instance("b", "UNHEALTHY")], service({}), "corp.local", {})
    assert [(i["InstanceId"], i["HealthStatus"]) for i in found] == [("a", "UNKNOWN"), ("b", "UNKNOWN")]


def test_list_filters_take_only_their_conditions() -> None:
    record = {"TYPE": "HTTP", "NAME": "team-a"}
    begins = [{"Name": "NAME", "Values": ["team"], "Condition": "BEGINS_WITH"}]
    either = [{"Name": "TYPE", "Values": ["HTTP", "DNS_PRIVATE"], "Condition": "IN"}]
    for passing in (begins, either):
        check_filters(passing, NAMESPACE_FILTERS)
        assert matches_filters(passing, record.get)
    assert not matches_filters([{"Name": "TYPE", "Values": ["DNS_PRIVATE"]}], record.get)
    for refused in (
        {"Name": "TYPE", "Values": ["HTTP", "DNS_PRIVATE"]},
        {"Name": "NAME", "Values": ["a", "b"], "Condition": "BETWEEN"},
        {"Name": "NAMESPACE_ID", "Values": ["ns-1"]},
    ):
        with pytest.raises(InvalidInput):
            check_filters([refused], NAMESPACE_FILTERS)
    between = [{"Name": "UPDATE_DATE", "Values": ["100", "200"], "Condition": "BETWEEN"}]
    check_filters(between, OPERATION_FILTERS)
    assert matches_filters(between, lambda _: 150.0)
    assert not matches_filters(between, lambda _: 250.0)
    with pytest.raises(InvalidInput):
        check_filters(
            [{"Name": "UPDATE_DATE", "Values": ["yesterday", "now"], "Condition": "BETWEEN"}], OPERATION_FILTERS
        )


def test_the_instances_revision_moves_with_the_instances_and_their_attributes_only() -> None:
    instances = [instance("a", color="blue"), instance("b")]
    assert instances_revision(instances) == instances_revision(list(reversed(instances)))
    assert instances_revision(instances) != instances_revision([instance("a", color="red"), instance("b")])
    assert instances_revision(instances) != instances_revision(instances[:1])
    unhealthy = [instance("a", "UNHEALTHY", color="blue"), instance("b")]
    assert instances_revision(instances) == instances_revision(unhealthy), "health is not part of it, as in Cloud Map"


def test_ids_are_taken_bare_or_as_arns_and_tags_are_limited() -> None:
    assert resource_id("arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-abc") == "ns-abc"
    assert resource_id("arn:aws:servicediscovery:us-east-1:123456789012:service/srv-abc") == "srv-abc"
    assert resource_id("srv-abc") == "srv-abc"
    with pytest.raises(TooManyTagsException):
        with_tags([], [{"Key": f"k{n}", "Value": ""} for n in range(51)])
