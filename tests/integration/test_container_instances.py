"""Container instances are the cluster's Nodes: listing, describing, filtering, custom attributes
and draining, checked against the Nodes the API server holds."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import pytest
from kubernetes.utils import parse_quantity

from shim.kube.client import KubeClients
from shim.kube.store import raw_json
from shim.translate.names import ATTRIBUTE_LABEL_PREFIX, LABEL_CLUSTER, label_value
from tests.integration.conftest import (
    FAST_WAITER,
    ShimServer,
    eventually,
    landed_on,
    node_labels,
    run_aws,
    task_pods,
    unique_name,
)

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

ZONE = "topology.kubernetes.io/zone"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ARCH = "kubernetes.io/arch"
ECS_ARCHITECTURE = {"amd64": "x86_64", "arm64": "arm64"}
INSTANCE_ARN_PREFIX = "arn:aws:ecs:us-east-1:123456789012:container-instance"


def all_instances(ecs: Any, cluster: str, **filters: Any) -> dict[str, dict[str, Any]]:
    """The cluster's container instances by ec2InstanceId (the node name)."""
    pages = ecs.get_paginator("list_container_instances").paginate(cluster=cluster, **filters)
    arns = [arn for page in pages for arn in page["containerInstanceArns"]]
    if not arns:
        return {}
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
    assert described["failures"] == []
    return {instance["ec2InstanceId"]: instance for instance in described["containerInstances"]}


def resource(instance: dict[str, Any], kind: str, name: str) -> Any:
    found = next(r for r in instance[kind] if r["name"] == name)
    return found["stringSetValue"] if found["type"] == "STRINGSET" else found["integerValue"]


def attributes_of(instance: dict[str, Any]) -> dict[str, str | None]:
    return {attribute["name"]: attribute.get("value") for attribute in instance["attributes"]}


def read_node(kube: KubeClients, name: str) -> dict[str, Any]:
    return raw_json(kube.core.read_node, name)


def attribute_keys(node: dict[str, Any]) -> dict[str, set[str]]:
    """The node's label and annotation keys that hold custom attributes."""
    metadata = node["metadata"]
    return {
        kind: {key for key in metadata.get(kind, {}) if key.startswith(ATTRIBUTE_LABEL_PREFIX)}
        for kind in ("labels", "annotations")
    }


def instance_arn_of(ecs: Any, cluster: str, node: str) -> str:
    arn: str = all_instances(ecs, cluster)[node]["containerInstanceArn"]
    return arn


@pytest.fixture
def borrowed_node(kube: KubeClients) -> Iterator[str]:
    """An m5.large node this test may cordon and label; afterwards it is schedulable again and
    carries no attribute label or annotation it did not carry before."""
    name = sorted(node for node, labels in node_labels(kube).items() if labels[INSTANCE_TYPE] == "m5.large")[-1]
    before = attribute_keys(read_node(kube, name))
    yield name
    after = attribute_keys(read_node(kube, name))
    added = {kind: {key: None for key in after[kind] - before[kind]} for kind in after}
    kube.core.patch_node(name, {"spec": {"unschedulable": None}, "metadata": added})


def test_one_container_instance_per_node_with_attributes_from_its_labels(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    nodes = {node["metadata"]["name"]: node for node in raw_json(kube.core.list_node)["items"]}
    nodes = {name: node for name, node in nodes.items() if name in node_labels(kube)}

    instances = all_instances(ecs, ecs_cluster)

    assert sorted(instances) == sorted(nodes)
    assert len({instance["containerInstanceArn"] for instance in instances.values()}) == len(nodes)
    for name, instance in instances.items():
        labels = nodes[name]["metadata"]["labels"]
        attributes = attributes_of(instance)
        assert attributes["ecs.availability-zone"] == labels[ZONE]
        assert attributes["ecs.instance-type"] == labels[INSTANCE_TYPE]
        assert attributes["ecs.cpu-architecture"] == ECS_ARCHITECTURE[labels[ARCH]]
        assert attributes["ecs.os-type"] == "linux"
        assert instance["containerInstanceArn"].startswith(
            f"arn:aws:ecs:us-east-1:123456789012:container-instance/{ecs_cluster}/"
        )
        assert (instance["status"], instance["agentConnected"]) == ("ACTIVE", True)
        allocatable = nodes[name]["status"]["allocatable"]
        assert resource(instance, "registeredResources", "CPU") == int(parse_quantity(allocatable["cpu"]) * 1024)
        assert resource(instance, "registeredResources", "MEMORY") == int(parse_quantity(allocatable["memory"]) / 2**20)
    assert {attributes_of(instance)["ecs.cpu-architecture"] for instance in instances.values()} == {"x86_64", "arm64"}


def test_describe_reports_an_unknown_instance_as_missing(ecs: Any, ecs_cluster: str) -> None:
    unknown = f"{INSTANCE_ARN_PREFIX}/{ecs_cluster}/{'0' * 32}"

    described = ecs.describe_container_instances(cluster=ecs_cluster, containerInstances=[unknown])

    assert described["containerInstances"] == []
    assert described["failures"] == [{"arn": unknown, "reason": "MISSING"}]


def test_remaining_resources_and_task_counts_follow_a_task_on_the_instance(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    [arn] = ecs.list_container_instances(
        cluster=ecs_cluster,
        filter="attribute:ecs.instance-type == c5.xlarge and attribute:ecs.availability-zone == us-east-1c",
    )["containerInstanceArns"]
    [before] = ecs.describe_container_instances(cluster=ecs_cluster, containerInstances=[arn])["containerInstances"]
    container = {
        "name": "app",
        "image": "busybox",
        "cpu": 512,
        "memory": 1024,
        "portMappings": [{"containerPort": 80, "hostPort": 9090}],
    }
    definition = ecs.register_task_definition(
        family=unique_name("sized"), networkMode="bridge", containerDefinitions=[container]
    )["taskDefinition"]["taskDefinitionArn"]

    [task] = ecs.start_task(cluster=ecs_cluster, taskDefinition=definition, containerInstances=[arn])["tasks"]
    ecs.get_waiter("tasks_running").wait(cluster=ecs_cluster, tasks=[task["taskArn"]], WaiterConfig=FAST_WAITER)

    [during] = ecs.describe_container_instances(cluster=ecs_cluster, containerInstances=[arn])["containerInstances"]
    assert resource(during, "registeredResources", "CPU") == resource(before, "registeredResources", "CPU")
    assert resource(during, "remainingResources", "CPU") == resource(before, "remainingResources", "CPU") - 512
    assert resource(during, "remainingResources", "MEMORY") == resource(before, "remainingResources", "MEMORY") - 1024
    assert "9090" in resource(during, "remainingResources", "PORTS")
    assert "9090" not in resource(before, "remainingResources", "PORTS")
    assert (during["runningTasksCount"], during["pendingTasksCount"]) == (1, 0)

    ecs.stop_task(cluster=ecs_cluster, task=task["taskArn"])
    eventually(lambda: task_pods(kube, ecs_cluster) == [])

    def freed() -> dict[str, Any] | None:
        [after] = ecs.describe_container_instances(cluster=ecs_cluster, containerInstances=[arn])["containerInstances"]
        return after if after["remainingResources"] == before["remainingResources"] else None

    assert eventually(freed)["runningTasksCount"] == 0


FILTERS: list[tuple[str, Callable[[dict[str, str]], bool]]] = [
    ("attribute:ecs.instance-type == c5.xlarge", lambda labels: labels[INSTANCE_TYPE] == "c5.xlarge"),
    ("attribute:ecs.cpu-architecture == arm64", lambda labels: labels[ARCH] == "arm64"),
    (
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and not(attribute:ecs.instance-type =~ c5.*)",
        lambda labels: labels[ZONE] in ("us-east-1a", "us-east-1b") and not labels[INSTANCE_TYPE].startswith("c5"),
    ),
    ("attribute:ecs.instance-type == p3.2xlarge", lambda labels: False),
]


@pytest.mark.parametrize(("expression", "matches"), FILTERS, ids=[case[0] for case in FILTERS])
def test_filter_lists_exactly_the_matching_instances(
    ecs: Any, kube: KubeClients, ecs_cluster: str, expression: str, matches: Callable[[dict[str, str]], bool]
) -> None:
    expected = sorted(node for node, labels in node_labels(kube).items() if matches(labels))

    assert sorted(all_instances(ecs, ecs_cluster, filter=expression)) == expected


GROUPED_PATTERNS: list[tuple[str, Callable[[dict[str, str]], bool]]] = [
    (
        r"attribute:ecs.instance-type =~ (c5|t4g)\.(xlarge|medium)",
        lambda labels: labels[INSTANCE_TYPE] in ("c5.xlarge", "t4g.medium"),
    ),
    (
        r"(attribute:ecs.instance-type =~ (c5|m5)\.(large|xlarge)) and attribute:ecs.availability-zone == us-east-1b",
        lambda labels: labels[INSTANCE_TYPE] in ("m5.large", "c5.xlarge") and labels[ZONE] == "us-east-1b",
    ),
    (
        r"not(attribute:ecs.instance-type !~ ([a-z]+[0-9]g?)\.medium)",
        lambda labels: labels[INSTANCE_TYPE] == "t4g.medium",
    ),
]


def serving_nodes(kube: KubeClients, cluster: str) -> dict[str, dict[str, str]]:
    """The labels of the nodes that serve `cluster`: those not pinned to another cluster."""
    return {
        node: labels
        for node, labels in node_labels(kube).items()
        if labels.get(LABEL_CLUSTER, label_value(cluster)) == label_value(cluster)
    }


@pytest.mark.parametrize(("expression", "matches"), GROUPED_PATTERNS, ids=[case[0] for case in GROUPED_PATTERNS])
def test_filter_takes_regular_expressions_with_groups_and_alternations(
    ecs: Any, kube: KubeClients, ecs_cluster: str, expression: str, matches: Callable[[dict[str, str]], bool]
) -> None:
    expected = sorted(node for node, labels in serving_nodes(kube, ecs_cluster).items() if matches(labels))

    assert expected
    assert sorted(all_instances(ecs, ecs_cluster, filter=expression)) == expected


def test_member_of_takes_a_regular_expression_with_groups_and_alternations(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    expression, matches = GROUPED_PATTERNS[1]
    matching = {node for node, labels in serving_nodes(kube, ecs_cluster).items() if matches(labels)}
    definition = ecs.register_task_definition(
        family=unique_name("grouped"), containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}]
    )["taskDefinition"]["taskDefinitionArn"]

    tasks = ecs.run_task(
        cluster=ecs_cluster,
        taskDefinition=definition,
        count=len(matching),
        placementConstraints=[{"type": "memberOf", "expression": expression}],
        placementStrategy=[{"type": "spread", "field": "instanceId"}],
    )

    assert tasks["failures"] == []
    landed = landed_on(kube, ecs_cluster, [task["taskArn"] for task in tasks["tasks"]])
    assert set(landed.values()) == matching


def test_aws_cli_lists_instances_by_filter(shim: ShimServer, ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    listed = run_aws(
        shim.url,
        "list-container-instances",
        "--cluster",
        ecs_cluster,
        "--filter",
        "attribute:ecs.instance-type == c5.xlarge",
    )

    assert listed.returncode == 0, listed.stderr
    arns = json.loads(listed.stdout)["containerInstanceArns"]
    described = ecs.describe_container_instances(cluster=ecs_cluster, containerInstances=arns)["containerInstances"]
    c5_nodes = sorted(node for node, labels in node_labels(kube).items() if labels[INSTANCE_TYPE] == "c5.xlarge")
    assert sorted(instance["ec2InstanceId"] for instance in described) == c5_nodes


def test_an_invalid_filter_is_an_invalid_parameter(ecs: Any, ecs_cluster: str) -> None:
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_container_instances(cluster=ecs_cluster, filter="attribute:ecs.instance-type ==")


def test_custom_attribute_is_a_node_label_that_places_tasks(
    ecs: Any, kube: KubeClients, ecs_cluster: str, borrowed_node: str
) -> None:
    arn = instance_arn_of(ecs, ecs_cluster, borrowed_node)
    name, value = unique_name("stage"), "canary"
    attribute = {"name": name, "value": value, "targetType": "container-instance", "targetId": arn}
    definition = ecs.register_task_definition(
        family=unique_name("canary"), containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}]
    )["taskDefinition"]["taskDefinitionArn"]
    on_canary = [{"type": "memberOf", "expression": f"attribute:{name} == {value}"}]

    assert ecs.put_attributes(cluster=ecs_cluster, attributes=[attribute])["attributes"] == [attribute]

    assert read_node(kube, borrowed_node)["metadata"]["labels"][ATTRIBUTE_LABEL_PREFIX + name] == value
    listed = ecs.list_attributes(cluster=ecs_cluster, targetType="container-instance", attributeName=name)
    assert listed["attributes"] == [attribute]
    assert attributes_of(all_instances(ecs, ecs_cluster)[borrowed_node])[name] == value
    tasks = ecs.run_task(cluster=ecs_cluster, taskDefinition=definition, count=3, placementConstraints=on_canary)
    assert tasks["failures"] == []
    landed = landed_on(kube, ecs_cluster, [task["taskArn"] for task in tasks["tasks"]])
    assert set(landed.values()) == {borrowed_node}

    ecs.delete_attributes(cluster=ecs_cluster, attributes=[attribute])

    assert attribute_keys(read_node(kube, borrowed_node)) == {"labels": set(), "annotations": set()}
    assert (
        ecs.list_attributes(cluster=ecs_cluster, targetType="container-instance", attributeName=name)["attributes"]
        == []
    )
    refused = ecs.run_task(cluster=ecs_cluster, taskDefinition=definition, placementConstraints=on_canary)
    assert refused["failures"] == [{"reason": "MemberOf placement constraint unsatisfied."}]


def test_attributes_ecs_refuses(ecs: Any, ecs_cluster: str, borrowed_node: str) -> None:
    arn = instance_arn_of(ecs, ecs_cluster, borrowed_node)
    unknown = arn.rsplit("/", 1)[0] + "/" + "0" * 32

    for attribute, code in (
        ({"name": "ecs.instance-type", "value": "x", "targetId": arn}, "InvalidParameterException"),
        ({"name": "bad name!", "value": "x", "targetId": arn}, "InvalidParameterException"),
        ({"name": "stage", "value": "x", "targetId": unknown}, "TargetNotFoundException"),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            ecs.put_attributes(cluster=ecs_cluster, attributes=[attribute])
        assert raised.value.response["Error"]["Code"] == code


def test_an_instance_takes_at_most_ten_custom_attributes(
    ecs: Any, kube: KubeClients, ecs_cluster: str, borrowed_node: str
) -> None:
    arn = instance_arn_of(ecs, ecs_cluster, borrowed_node)
    free = 10 - len(attribute_keys(read_node(kube, borrowed_node))["labels"])
    prefix = unique_name("limit")
    attributes = [{"name": f"{prefix}-{index}", "value": "x", "targetId": arn} for index in range(free + 1)]
    ecs.put_attributes(cluster=ecs_cluster, attributes=attributes[:free])

    ecs.put_attributes(cluster=ecs_cluster, attributes=[{**attributes[0], "value": "y"}])
    with pytest.raises(ecs.exceptions.AttributeLimitExceededException):
        ecs.put_attributes(cluster=ecs_cluster, attributes=attributes[free:])

    labels = read_node(kube, borrowed_node)["metadata"]["labels"]
    assert labels[ATTRIBUTE_LABEL_PREFIX + attributes[0]["name"]] == "y"
    assert ATTRIBUTE_LABEL_PREFIX + attributes[free]["name"] not in labels


def test_draining_cordons_the_node_and_active_uncordons_it(
    ecs: Any, kube: KubeClients, ecs_cluster: str, borrowed_node: str
) -> None:
    arn = instance_arn_of(ecs, ecs_cluster, borrowed_node)
    definition = ecs.register_task_definition(
        family=unique_name("drained"), containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}]
    )["taskDefinition"]["taskDefinitionArn"]
    [standalone] = ecs.start_task(cluster=ecs_cluster, taskDefinition=definition, containerInstances=[arn])["tasks"]
    ecs.get_waiter("tasks_running").wait(cluster=ecs_cluster, tasks=[standalone["taskArn"]], WaiterConfig=FAST_WAITER)
    on_node = [{"type": "memberOf", "expression": f"ec2InstanceId == {borrowed_node}"}]

    [drained] = ecs.update_container_instances_state(cluster=ecs_cluster, containerInstances=[arn], status="DRAINING")[
        "containerInstances"
    ]

    assert drained["status"] == "DRAINING"
    assert read_node(kube, borrowed_node)["spec"]["unschedulable"] is True
    assert list(all_instances(ecs, ecs_cluster, status="DRAINING")) == [borrowed_node]
    assert borrowed_node not in all_instances(ecs, ecs_cluster, status="ACTIVE")
    refused = ecs.run_task(cluster=ecs_cluster, taskDefinition=definition, placementConstraints=on_node)
    assert refused["tasks"] == [] and len(refused["failures"]) == 1
    assert len(task_pods(kube, ecs_cluster)) == 1
    [still] = ecs.describe_tasks(cluster=ecs_cluster, tasks=[standalone["taskArn"]])["tasks"]
    assert still["lastStatus"] == "RUNNING"

    [active] = ecs.update_container_instances_state(cluster=ecs_cluster, containerInstances=[arn], status="ACTIVE")[
        "containerInstances"
    ]

    assert active["status"] == "ACTIVE"
    assert "unschedulable" not in read_node(kube, borrowed_node)["spec"]
    assert all_instances(ecs, ecs_cluster, status="DRAINING") == {}
    placed = ecs.run_task(cluster=ecs_cluster, taskDefinition=definition, placementConstraints=on_node)
    assert placed["failures"] == []
    assert list(landed_on(kube, ecs_cluster, [placed["tasks"][0]["taskArn"]]).values()) == [borrowed_node]
