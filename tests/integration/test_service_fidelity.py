"""Service behaviour real clients found differing from ECS, through boto3 against the
shim on a real cluster: a missing task definition, `role`, `availabilityZoneRebalancing` shown and
acted on, failure ARNs of bare names and immutable events."""

import time
from collections.abc import Callable
from typing import Any

import pytest

from shim.kube.client import KubeClients
from shim.translate.names import ATTRIBUTE_LABEL_PREFIX
from tests.integration.conftest import (
    FAST_WAITER,
    ecs_error,
    eventually,
    task_pods,
    unique_name,
)

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

ZONE_SPREAD = [{"type": "spread", "field": "attribute:ecs.availability-zone"}]


def register(ecs: Any, family: str, **fields: Any) -> str:
    container = {"name": "web", "image": "nginx", "memory": 64, "portMappings": [{"containerPort": 80}]}
    registered = ecs.register_task_definition(family=family, containerDefinitions=[container], **fields)
    arn: str = registered["taskDefinition"]["taskDefinitionArn"]
    return arn


def describe(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    [found] = ecs.describe_services(cluster=cluster, services=[service])["services"]
    return dict(found)


def wait_stable(ecs: Any, cluster: str, service: str) -> None:
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=[service], WaiterConfig=FAST_WAITER)


def test_create_service_without_a_task_definition_is_an_invalid_parameter(ecs: Any, cluster: str) -> None:
    error = ecs_error(ecs.create_service, cluster=cluster, serviceName="s")
    assert error["Code"] == "InvalidParameterException"
    assert "task definition must be specified" in error["Message"]
    assert ecs.list_services(cluster=cluster)["serviceArns"] == []


def test_a_role_of_a_load_balanced_service_is_shown_as_its_arn(ecs: Any, cluster: str) -> None:
    definition = register(ecs, unique_name("role"), networkMode="bridge")
    balancer = {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}
    created = ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=definition,
        desiredCount=0,
        role="/team/ecsServiceRole",
        loadBalancers=[{**balancer, "containerName": "web", "containerPort": 80}],
    )["service"]
    assert created["roleArn"] == "arn:aws:iam::123456789012:role/team/ecsServiceRole"
    assert describe(ecs, cluster, "web")["roleArn"] == created["roleArn"]


def test_a_role_without_load_balancers_is_refused_for_the_service_linked_role(ecs: Any, cluster: str) -> None:
    definition = register(ecs, unique_name("role"))
    error = ecs_error(
        ecs.create_service,
        cluster=cluster,
        serviceName="web",
        taskDefinition=definition,
        desiredCount=1,
        role="ecsServiceRole",
    )
    assert error["Code"] == "InvalidParameterException"
    assert "service linked role" in error["Message"]
    assert ecs.list_services(cluster=cluster)["serviceArns"] == []


def test_availability_zone_rebalancing_is_shown_defaulted_and_kept_as_ecs_does(ecs: Any, cluster: str) -> None:
    definition = register(ecs, unique_name("azr"))
    created = ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=0)
    assert created["service"]["availabilityZoneRebalancing"] == "ENABLED"
    binpacked = ecs.create_service(
        cluster=cluster,
        serviceName="packed",
        taskDefinition=definition,
        desiredCount=0,
        placementStrategy=[{"type": "binpack", "field": "memory"}],
    )
    assert binpacked["service"]["availabilityZoneRebalancing"] == "DISABLED"
    first = created["service"]["deployments"][0]["id"]
    updated = ecs.update_service(cluster=cluster, service="web", availabilityZoneRebalancing="DISABLED")["service"]
    assert updated["availabilityZoneRebalancing"] == "DISABLED"
    assert [d["id"] for d in updated["deployments"]] == [first], "the setting starts no deployment"
    kept = ecs.update_service(cluster=cluster, service="web", desiredCount=0)["service"]
    assert kept["availabilityZoneRebalancing"] == "DISABLED"
    assert describe(ecs, cluster, "web")["availabilityZoneRebalancing"] == "DISABLED"


def test_a_service_is_rebalanced_when_a_zone_it_may_use_gains_a_node(
    ecs: Any, kube: KubeClients, cluster: str, add_node: Callable[..., str]
) -> None:
    """The service may only use nodes carrying its attribute: first one in zone a, where both its
    tasks start; then one in zone b, and ECS moves a task there."""
    attribute = unique_name("rebalance")
    marked = {ATTRIBUTE_LABEL_PREFIX + attribute: "yes"}
    node_a = add_node("c5.xlarge", zone="us-east-1a", labels=marked)
    definition = register(ecs, unique_name("azr"))
    ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=definition,
        desiredCount=2,
        placementStrategy=ZONE_SPREAD,
        placementConstraints=[{"type": "memberOf", "expression": f"attribute:{attribute} == yes"}],
    )
    wait_stable(ecs, cluster, "web")
    node_b = add_node("c5.xlarge", zone="us-east-1b", labels=marked)

    def one_task_per_node() -> bool:
        running = [
            pod["spec"].get("nodeName")
            for pod in task_pods(kube, cluster)
            if pod["status"].get("phase") == "Running" and "deletionTimestamp" not in pod["metadata"]
        ]
        return sorted(running) == sorted([node_a, node_b])

    try:
        eventually(one_task_per_node, timeout=90, interval=1)
    except AssertionError as error:
        raise AssertionError(describe(ecs, cluster, "web")["events"]) from error
    wait_stable(ecs, cluster, "web")

    def balanced_event() -> list[str]:
        return [
            event["message"]
            for event in describe(ecs, cluster, "web")["events"]
            if "is AZ balanced" in event["message"]
        ]

    messages = [event["message"] for event in describe(ecs, cluster, "web")["events"]]
    assert any("is not AZ balanced with 2 tasks in us-east-1a and 0 tasks in us-east-1b" in m for m in messages), (
        messages
    )
    assert any("to AZ Rebalance" in m for m in messages)
    assert eventually(balanced_event, timeout=30) == [
        "service (web) is AZ balanced with 1 tasks in us-east-1a and 1 tasks in us-east-1b."
    ]


def test_a_missing_service_named_by_bare_name_fails_with_the_arn_ecs_gives(ecs: Any, cluster: str) -> None:
    full = f"arn:aws:ecs:us-east-1:123456789012:service/{cluster}/gone"
    described = ecs.describe_services(cluster=cluster, services=["missing", full])
    assert described["failures"] == [
        {"arn": "arn:aws:ecs:us-east-1:123456789012:service/missing", "reason": "MISSING"},
        {"arn": full, "reason": "MISSING"},
    ]


def test_service_events_never_change_once_shown(ecs: Any, kube: KubeClients, cluster: str) -> None:
    """Scaled up and down while polled: every event id keeps its time and message, and the tasks'
    start events stay after their tasks are gone."""
    definition = register(ecs, unique_name("events"))
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=2)
    seen: dict[str, tuple[Any, str]] = {}

    def record_events() -> dict[str, Any]:
        shown = describe(ecs, cluster, "web")
        for event in shown["events"]:
            assert seen.setdefault(event["id"], (event["createdAt"], event["message"])) == (
                event["createdAt"],
                event["message"],
            ), event
        times = [event["createdAt"] for event in shown["events"]]
        assert times == sorted(times, reverse=True)
        return shown

    def poll_until_stable(count: int) -> None:
        deadline = time.monotonic() + 90
        while True:
            shown = record_events()
            if len(shown["deployments"]) == 1 and shown["runningCount"] == shown["desiredCount"] == count:
                break
            assert time.monotonic() < deadline, shown
            time.sleep(0.2)

    poll_until_stable(2)
    ecs.update_service(cluster=cluster, service="web", desiredCount=4)
    poll_until_stable(4)

    def started_events() -> list[str]:
        return [event["message"] for event in record_events()["events"] if "has started" in event["message"]]

    started = eventually(started_events, timeout=10)
    ecs.update_service(cluster=cluster, service="web", desiredCount=0)
    poll_until_stable(0)
    eventually(lambda: not [p for p in task_pods(kube, cluster) if "deletionTimestamp" not in p["metadata"]])
    time.sleep(3)
    record_events()
    final = [event["message"] for event in describe(ecs, cluster, "web")["events"]]
    assert set(started) <= set(final)


def test_services_refuse_a_task_definition_that_is_not_active(ecs: Any, cluster: str) -> None:
    """New services and new deployments cannot use an INACTIVE revision; a service already on it
    still scales (ECS's rule for deregistered task definitions)."""
    current = register(ecs, unique_name("inactive"))
    retired = register(ecs, unique_name("inactive"))
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=current, desiredCount=0)
    ecs.deregister_task_definition(taskDefinition=current)
    ecs.deregister_task_definition(taskDefinition=retired)
    refused: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (ecs.create_service, {"serviceName": "other", "taskDefinition": retired, "desiredCount": 0}),
        (ecs.update_service, {"service": "web", "taskDefinition": retired}),
    ]
    for call, params in refused:
        error = ecs_error(call, cluster=cluster, **params)
        assert (error["Code"], error["Message"]) == ("ClientException", "TaskDefinition is inactive")
    scaled = ecs.update_service(cluster=cluster, service="web", taskDefinition=current, desiredCount=1)["service"]
    assert (scaled["desiredCount"], scaled["taskDefinition"]) == (1, current)
    assert [arn.rsplit("/", 1)[-1] for arn in ecs.list_services(cluster=cluster)["serviceArns"]] == ["web"]
