"""Nodes (as the local cluster creates them) and the pods on them -> ECS container instances,
their resources and attributes, and whether a task fits."""

import copy
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.errors import AttributeLimitExceededException, InvalidParameterException
from shim.schemas.responses import output_problems
from shim.translate import cql, names, placement
from shim.translate.container_instances import (
    AGENT_VERSION,
    RESERVED_PORTS,
    PodUsage,
    attribute_annotation,
    attribute_label,
    check_attribute_limit,
    container_instance_id,
    container_instance_view,
    custom_attributes,
    ec2_instance_id,
    fit_failure,
    instance_attributes,
    instance_facts,
    instance_resources,
    pod_usage,
    task_requirements,
    task_usage,
    validate_attribute,
)
from shim.translate.task_definitions import required_attributes
from shim.translate.task_to_pod import RunParameters, task_to_pod

REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "default"
INSTANCE = "i-0a1b2c3d4e5f60718"
UID = "5b7c3e0a-9d2f-4e1b-8c6a-0f3d2e1b4c5a"


def node(
    name: str = INSTANCE,
    *,
    zone: str = "us-east-1a",
    instance_type: str = "m5.large",
    arch: str = "amd64",
    cpu: str = "1930m",
    memory: str = "7220Mi",
    ready: bool = True,
    unschedulable: bool = False,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A node as cluster/control_plane.py creates it, once kwok made it Ready."""
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": UID,
            "resourceVersion": "4711",
            "creationTimestamp": "2026-11-27T10:00:00Z",
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": arch,
                "node.kubernetes.io/instance-type": instance_type,
                "topology.kubernetes.io/region": REGION,
                "topology.kubernetes.io/zone": zone,
                "type": "kwok",
                **(labels or {}),
            },
            "annotations": {"kwok.x-k8s.io/node": "fake", **(annotations or {})},
        },
        "spec": {"providerID": f"aws:///{zone}/{name}"},
        "status": {
            "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "KubeletNotReady",
                    "message": "kubelet is posting ready status" if ready else "container runtime is down",
                    "lastHeartbeatTime": "2026-11-27T11:00:00Z",
                    "lastTransitionTime": "2026-11-27T10:00:05Z",
                }
            ],
            "nodeInfo": {"containerRuntimeVersion": "kwok-v0.7.0", "architecture": arch, "operatingSystem": "linux"},
        },
    }
    if unschedulable:
        manifest["spec"]["unschedulable"] = True
    return manifest


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": f"registry.example/{name}:1", "memory": 256, **fields}


def definition(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:7",
        "family": fields.pop("family", "web"),
        "revision": 7,
        "containerDefinitions": list(containers) or [container()],
        **fields,
    }


def task_on_node(
    task_definition: dict[str, Any] | None = None,
    *,
    phase: str = "Running",
    task_id: str = "0123456789abcdef0123456789abcdef",
    on: str = INSTANCE,
    **run: Any,
) -> dict[str, Any]:
    parameters = RunParameters(**{"cluster_name": CLUSTER, "task_id": task_id, **run})
    pod = task_to_pod(task_definition or definition(), parameters, "ecs-default")
    pod["spec"]["nodeName"] = on
    pod["status"] = {"phase": phase}
    return pod


def plain_pod(*containers: dict[str, Any], phase: str = "Running", **spec: Any) -> dict[str, Any]:
    """A pod that is no ECS task (a DaemonSet's, say): it still takes the node's resources."""
    return {
        "metadata": {"name": "node-agent", "namespace": "kube-system", "labels": {"app": "node-agent"}},
        "spec": {"nodeName": INSTANCE, "containers": list(containers), **spec},
        "status": {"phase": phase},
    }


def kube_container(name: str, cpu: str | None = None, memory: str | None = None, **fields: Any) -> dict[str, Any]:
    requests = {key: value for key, value in (("cpu", cpu), ("memory", memory)) if value}
    return {"name": name, "image": "registry.example/agent:1", "resources": {"requests": requests}, **fields}


def resources(resource_list: list[dict[str, Any]]) -> dict[str, Any]:
    return {r["name"]: r.get("stringSetValue", r["integerValue"]) for r in resource_list}


def remaining(node_manifest: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
    return resources(instance_resources(node_manifest, pods)[1])


def view(node_manifest: dict[str, Any], pods: list[dict[str, Any]] | None = None, **options: Any) -> dict[str, Any]:
    shown = container_instance_view(
        node_manifest, pods or [], region=REGION, account=ACCOUNT, cluster_name=CLUSTER, **options
    )
    assert output_problems("DescribeContainerInstances", {"containerInstances": [shown], "failures": []}) == []
    return shown


def with_attribute(node_manifest: dict[str, Any], name: str, value: str | None) -> dict[str, Any]:
    """The node once PutAttributes stored the attribute."""
    changed = copy.deepcopy(node_manifest)
    label_key, label_value = attribute_label(name, value)
    annotation_key, annotation_value = attribute_annotation(name, value)
    changed["metadata"]["labels"][label_key] = label_value
    changed["metadata"]["annotations"][annotation_key] = annotation_value
    return changed


# Identity


def test_instance_id_is_the_node_uid_without_dashes() -> None:
    assert container_instance_id(node()) == "5b7c3e0a9d2f4e1b8c6a0f3d2e1b4c5a"
    assert re.fullmatch(r"[0-9a-f]{32}", container_instance_id(node()))


def test_ec2_instance_id_comes_from_the_aws_provider_id() -> None:
    assert ec2_instance_id(
        node("ip-10-0-1-5.ec2.internal") | {"spec": {"providerID": "aws:///us-east-1a/i-0abc123"}}
    ) == ("i-0abc123")
    assert ec2_instance_id(node() | {"spec": {}}) == INSTANCE
    assert ec2_instance_id(node("kind-worker") | {"spec": {"providerID": "kind://docker/kind/kind-worker"}}) == (
        "kind-worker"
    )


# Resources


def test_registered_resources_are_the_allocatable_ones_in_ecs_units() -> None:
    registered, _ = instance_resources(node(), [])
    assert resources(registered) == {
        "CPU": 1976,
        "MEMORY": 7220,
        "PORTS": list(RESERVED_PORTS),
        "PORTS_UDP": [],
    }
    assert {r["type"] for r in registered} == {"INTEGER", "STRINGSET"}


def test_remaining_resources_subtract_running_tasks_and_their_host_ports() -> None:
    web = definition(
        container(
            "app",
            cpu=256,
            memory=512,
            portMappings=[
                {"containerPort": 80, "hostPort": 8080},
                {"containerPort": 53, "hostPort": 5353, "protocol": "udp"},
            ],
        ),
        networkMode="bridge",
    )
    left = remaining(node(), [task_on_node(web)])
    assert (left["CPU"], left["MEMORY"]) == (1976 - 256, 7220 - 512)
    assert left["PORTS"] == [*RESERVED_PORTS, "8080"]
    assert left["PORTS_UDP"] == ["5353"]


def test_finished_tasks_free_their_resources_and_other_pods_take_theirs() -> None:
    done = task_on_node(definition(container("app", cpu=512, memory=1024)), phase="Succeeded")
    agent = plain_pod(kube_container("agent", cpu="100m", memory="64Mi"))
    left = remaining(node(), [done, agent])
    assert (left["CPU"], left["MEMORY"]) == (int(1830 * 1.024), 7220 - 64)


def test_host_network_pods_hold_their_container_ports() -> None:
    agent = plain_pod(kube_container("agent", ports=[{"containerPort": 9100, "protocol": "TCP"}]), hostNetwork=True)
    assert remaining(node(), [agent])["PORTS"] == [*RESERVED_PORTS, "9100"]


def test_pod_level_requests_take_precedence_over_containers() -> None:
    pod = plain_pod(
        kube_container("a", cpu="900m", memory="900Mi"), resources={"requests": {"cpu": "1", "memory": "1Gi"}}
    )
    left = remaining(node(), [pod])
    assert (left["CPU"], left["MEMORY"]) == (int(930 * 1.024), 7220 - 1024)


def test_init_containers_count_at_their_peak_and_sidecars_throughout() -> None:
    pod = plain_pod(
        kube_container("main", cpu="100m", memory="100Mi"),
        initContainers=[
            kube_container("log-router", cpu="50m", memory="50Mi", restartPolicy="Always"),
            kube_container("migrate", cpu="500m", memory="20Mi"),
        ],
    )
    left = remaining(node(), [pod])
    assert left["CPU"] == int((1930 - 550) * 1.024)
    assert left["MEMORY"] == 7220 - 150


def test_resources_never_go_below_zero() -> None:
    greedy = plain_pod(kube_container("a", cpu="4", memory="16Gi"))
    left = remaining(node(), [greedy])
    assert (left["CPU"], left["MEMORY"]) == (0, 0)


@pytest.mark.parametrize(
    ("task_definition", "overrides"),
    [
        (definition(container("app", memory=None), cpu="0.25 vCPU", memory="0.5 GB"), None),
        (
            definition(
                container("app", cpu=100, memory=300), container("log", cpu=28, memoryReservation=64, memory=None)
            ),
            None,
        ),
        (definition(container("app", cpu=1000, memory=300, memoryReservation=128)), None),
        (definition(container("app", cpu=85)), None),
        (definition(container("app", cpu=256)), {"containerOverrides": [{"name": "app", "cpu": 512, "memory": 1024}]}),
        (definition(container("app", memory=None), cpu="1024", memory="2048"), {"cpu": "512", "memory": "1024"}),
    ],
)
def test_a_placed_task_takes_what_it_requires(
    task_definition: dict[str, Any], overrides: dict[str, Any] | None
) -> None:
    """Memory exactly; CPU to within the one unit that rounding 1024 units to 1000m can cost.
    A task booked before its pod exists takes the same, to within a millicore per container."""
    cpu, memory, ports = task_requirements(task_definition, overrides)
    pod = task_on_node(task_definition, overrides=overrides or {})
    before = remaining(node(), [])
    after = remaining(node(), [pod])
    assert (before["CPU"] - after["CPU"], before["MEMORY"] - after["MEMORY"]) in ((cpu, memory), (cpu + 1, memory))
    booked, placed = task_usage(cpu, memory, ports), pod_usage(pod)
    assert (booked.memory, booked.host_ports) == (placed.memory, placed.host_ports)
    assert abs(booked.cpu - placed.cpu) <= Decimal("0.001") * len(pod["spec"]["containers"])


# Requirements and fit


def test_task_requirements_prefer_the_task_size() -> None:
    task = definition(container("app", cpu=128, memory=None), cpu="1 vCPU", memory="2 GB")
    assert task_requirements(task, None) == (1024, 2048, [])


def test_task_requirements_sum_containers_without_a_task_size() -> None:
    task = definition(
        container("app", cpu=128, memory=512, memoryReservation=256), container("log", cpu=64, memory=128)
    )
    assert task_requirements(task, None) == (192, 384, [])


def test_task_requirements_follow_overrides() -> None:
    task = definition(container("app", cpu=128, memory=512))
    overrides = {"containerOverrides": [{"name": "app", "cpu": 256, "memoryReservation": 300}]}
    assert task_requirements(task, overrides) == (256, 300, [])


def test_host_ports_a_task_needs_depend_on_its_network_mode() -> None:
    mappings = [
        {"containerPort": 80, "hostPort": 8080},
        {"containerPort": 81, "hostPort": 0},
        {"containerPort": 53, "protocol": "udp"},
    ]
    bridge = definition(container("app", portMappings=mappings), networkMode="bridge")
    host = definition(container("app", portMappings=[{"containerPort": 80}, *mappings[2:]]), networkMode="host")
    awsvpc = definition(container("app", portMappings=[{"containerPort": 80, "hostPort": 80}]), networkMode="awsvpc")
    assert task_requirements(bridge, None)[2] == [(8080, "tcp")]
    assert task_requirements(host, None)[2] == [(80, "tcp"), (53, "udp")]
    assert task_requirements(awsvpc, None)[2] == []


def fleet(
    *nodes: dict[str, Any], pods: list[dict[str, Any]] | None = None
) -> list[tuple[dict[str, Any], list[PodUsage]]]:
    return [(n, [pod_usage(p) for p in pods or [] if p["spec"]["nodeName"] == n["metadata"]["name"]]) for n in nodes]


def test_task_that_fits_somewhere_has_no_failure() -> None:
    assert fit_failure(1024, 4096, [(8080, "tcp")], fleet(node())) is None


def test_too_much_cpu_is_a_cpu_failure() -> None:
    assert fit_failure(4096, 128, [], fleet(node(), node("i-2", cpu="3920m"))) == "RESOURCE:CPU"


def test_too_much_memory_is_a_memory_failure() -> None:
    assert fit_failure(128, 8192, [], fleet(node(), node("i-2", instance_type="c5.xlarge"))) == "RESOURCE:MEMORY"


def test_checks_run_in_ecs_order_on_the_instances_left_by_the_previous_one() -> None:
    roomy_cpu = node("i-cpu", cpu="3920m", memory="1024Mi")
    roomy_memory = node("i-mem", cpu="500m", memory="16Gi")
    assert fit_failure(1024, 2048, [], fleet(roomy_cpu, roomy_memory)) == "RESOURCE:MEMORY"
    assert fit_failure(1024, 512, [], fleet(roomy_cpu, roomy_memory)) is None


def test_host_port_in_use_everywhere_is_a_ports_failure() -> None:
    holder = task_on_node(definition(container("app", portMappings=[{"containerPort": 80, "hostPort": 8080}])))
    nodes = fleet(node(), pods=[holder])
    assert fit_failure(128, 128, [(8080, "tcp")], nodes) == "RESOURCE:PORTS"
    assert fit_failure(128, 128, [(8080, "udp")], nodes) is None
    assert fit_failure(128, 128, [(22, "tcp")], nodes) == "RESOURCE:PORTS"
    assert fit_failure(128, 128, [(8080, "tcp")], fleet(node(), node("i-2"), pods=[holder])) is None


def test_udp_host_port_in_use_is_a_udp_ports_failure() -> None:
    holder = task_on_node(
        definition(container("app", portMappings=[{"containerPort": 53, "hostPort": 53, "protocol": "udp"}]))
    )
    assert fit_failure(128, 128, [(53, "udp")], fleet(node(), pods=[holder])) == "RESOURCE:PORTS_UDP"


def test_tasks_booked_in_the_same_call_take_their_room_and_ports() -> None:
    """1930m is 1976 units: room for one task of 1024 units, not two; a port booked once is taken."""
    booked = task_usage(1024, 128, [(8080, "tcp")])
    assert fit_failure(1024, 128, [], [(node(), [booked])]) == "RESOURCE:CPU"
    assert fit_failure(512, 128, [(8080, "tcp")], [(node(), [booked])]) == "RESOURCE:PORTS"
    assert fit_failure(512, 128, [(8080, "udp")], [(node(), [booked])]) is None


def test_draining_and_disconnected_instances_take_no_tasks() -> None:
    assert fit_failure(128, 128, [], fleet(node(unschedulable=True), node("i-2", ready=False))) == "RESOURCE:CPU"
    assert fit_failure(128, 128, [], fleet(node(unschedulable=True), node("i-2"))) is None


# Attributes and facts


def test_built_in_attributes_come_from_node_labels() -> None:
    facts = instance_facts(node(), [])
    assert facts.attributes == {
        "ecs.availability-zone": "us-east-1a",
        "ecs.instance-type": "m5.large",
        "ecs.os-type": "linux",
        "ecs.cpu-architecture": "x86_64",
    }
    assert (
        instance_facts(node(arch="arm64", instance_type="t4g.medium"), []).attributes["ecs.cpu-architecture"] == "arm64"
    )


def test_facts_describe_the_instance_and_its_tasks() -> None:
    pods = [
        task_on_node(task_id="a" * 32),
        task_on_node(task_id="b" * 32, group="service:api", phase="Pending"),
        task_on_node(task_id="c" * 32, group="batch", phase="Succeeded"),
        task_on_node(task_id="d" * 32, cluster_name="other", group="other-group"),
        plain_pod(kube_container("agent")),
    ]
    facts = instance_facts(node(), pods, cluster_name=CLUSTER)
    assert facts.ec2_instance_id == INSTANCE
    assert facts.agent_connected is True
    assert facts.agent_version == AGENT_VERSION
    assert facts.registered_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert facts.running_tasks_count == 1
    assert facts.task_groups == frozenset({"family:web", "service:api"})
    assert instance_facts(node(), pods).task_groups == frozenset({"family:web", "service:api", "other-group"})
    assert instance_facts(node(ready=False), []).agent_connected is False


def test_placement_expressions_evaluate_against_the_facts() -> None:
    facts = instance_facts(with_attribute(node(), "stack", "blue"), [task_on_node()], cluster_name=CLUSTER)
    for expression, expected in [
        ("attribute:ecs.cpu-architecture == x86_64 and task:group == family:web", True),
        ("attribute:ecs.instance-type =~ m5.* and attribute:stack in [blue, green]", True),
        ("agentVersion >= 1.20.0 and runningTasksCount < 1", False),
        ("registeredAt < 2026-12-01 and ec2InstanceId == i-0a1b2c3d4e5f60718", True),
    ]:
        assert cql.evaluate(cql.parse(expression), facts) is expected, expression


@pytest.mark.parametrize(
    ("name", "value"),
    [("stack", "prod"), ("team/owner", "payments@example.com"), ("build\\id", "2026-11-27 11:02:20"), ("flag", None)],
)
def test_custom_attributes_read_back_exactly(name: str, value: str | None) -> None:
    stored = with_attribute(node(), name, value)
    assert custom_attributes(stored) == {name: value}
    assert instance_facts(stored, []).attributes[name] == (value or "")
    shown = {a["name"]: a.get("value") for a in instance_attributes(stored)}
    assert shown[name] == value


@settings(max_examples=200)
@given(
    name=st.from_regex(r"[A-Za-z0-9_./\\-]{1,128}", fullmatch=True).filter(lambda name: not name.startswith("ecs.")),
    value=st.none()
    | st.from_regex(r"[A-Za-z0-9_.@/\\:-]([A-Za-z0-9_.@/\\: -]{0,126}[A-Za-z0-9_.@/\\:-])?", fullmatch=True),
)
def test_every_valid_custom_attribute_round_trips(name: str, value: str | None) -> None:
    validate_attribute({"name": name, "value": value} if value else {"name": name})
    assert custom_attributes(with_attribute(node(), name, value)) == {name: value}


def test_attributes_labelled_by_hand_are_read_from_the_label() -> None:
    labelled = node(labels={f"{names.ATTRIBUTE_LABEL_PREFIX}stack": "blue"})
    assert custom_attributes(labelled) == {"stack": "blue"}


def test_stale_exact_value_gives_way_to_a_relabelled_node() -> None:
    stored = with_attribute(node(), "stack", "blue/green")
    key, _ = attribute_label("stack", "blue/green")
    stored["metadata"]["labels"][key] = "red"
    assert custom_attributes(stored) == {"stack": "red"}


def test_an_instance_takes_at_most_ten_custom_attributes() -> None:
    nine = node()
    for index in range(9):
        nine = with_attribute(nine, f"a{index}", "x")
    other = node("other")

    check_attribute_limit([({"name": "a0", "value": "y"}, nine), ({"name": "new"}, nine)])
    check_attribute_limit([({"name": f"b{index}"}, other) for index in range(10)])
    with pytest.raises(AttributeLimitExceededException, match="up to 10 custom attributes"):
        check_attribute_limit([({"name": "new"}, nine), ({"name": "newer"}, nine)])


def test_custom_attribute_label_satisfies_the_node_affinity_placement_writes() -> None:
    stored = with_attribute(node(), "stack", "blue/green")
    facts = instance_facts(stored, [])
    scheduling = placement.pod_scheduling(
        [{"type": "memberOf", "expression": "attribute:stack == 'blue/green'"}],
        [],
        group="family:web",
        nodes=[placement.CandidateNode(INSTANCE, facts)],
    )
    assert isinstance(scheduling, placement.PodScheduling)
    terms = scheduling.affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    requirement = terms[0]["matchExpressions"][0]
    assert requirement["operator"] == "In"
    assert stored["metadata"]["labels"][requirement["key"]] in requirement["values"]


@pytest.mark.parametrize(
    "attribute",
    [
        {"name": "stack", "value": "prod"},
        {"name": "a" * 128, "value": "v" * 128},
        {"name": "team/owner\\x.y-z_1"},
        {"name": "build", "value": "user@host:/path with spaces"},
    ],
)
def test_valid_attributes_pass(attribute: dict[str, str]) -> None:
    validate_attribute(attribute)


@pytest.mark.parametrize(
    ("attribute", "complaint"),
    [
        ({"name": ""}, "Invalid attribute name ''"),
        ({"name": "a" * 129}, "between 1 and 128"),
        ({"name": "stack:blue"}, "Invalid attribute name 'stack:blue'"),
        ({"name": "ecs.instance-type", "value": "m5.large"}, "reserved for Amazon ECS"),
        ({"name": "stack", "value": ""}, "Invalid value ''"),
        ({"name": "stack", "value": "v" * 129}, "between 1 and 128"),
        ({"name": "stack", "value": " blue"}, "cannot start or end with a space"),
        ({"name": "stack", "value": "blue "}, "cannot start or end with a space"),
        ({"name": "stack", "value": "blue#1"}, "Invalid value 'blue#1' for attribute 'stack'"),
    ],
)
def test_invalid_attributes_are_refused(attribute: dict[str, str], complaint: str) -> None:
    with pytest.raises(InvalidParameterException, match=re.escape(complaint)):
        validate_attribute(attribute)


# Views


def test_container_instance_view() -> None:
    pods = [
        task_on_node(task_id="a" * 32),
        task_on_node(task_id="b" * 32, phase="Pending"),
        task_on_node(task_id="c" * 32, cluster_name="other"),
    ]
    shown = view(node(), pods)
    assert shown["containerInstanceArn"] == (
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{CLUSTER}/5b7c3e0a9d2f4e1b8c6a0f3d2e1b4c5a"
    )
    assert shown["ec2InstanceId"] == INSTANCE
    assert (shown["status"], shown["agentConnected"]) == ("ACTIVE", True)
    assert (shown["runningTasksCount"], shown["pendingTasksCount"]) == (1, 1)
    assert shown["versionInfo"] == {
        "agentVersion": AGENT_VERSION,
        "agentHash": "ecs-shim",
        "dockerVersion": "DockerVersion: kwok-v0.7.0",
    }
    assert shown["version"] == 4711
    assert shown["registeredAt"] == datetime(2026, 11, 27, 10, 0, tzinfo=UTC).timestamp()
    assert resources(shown["remainingResources"])["MEMORY"] == 7220 - 3 * 256
    assert shown["healthStatus"]["overallStatus"] == "OK"
    assert shown["attachments"] == [] and shown["tags"] == []


def test_cordoned_node_is_draining_and_a_not_ready_one_disconnected() -> None:
    assert view(node(unschedulable=True))["status"] == "DRAINING"
    shown = view(node(ready=False))
    assert shown["agentConnected"] is False
    detail = shown["healthStatus"]["details"][0]
    assert (shown["healthStatus"]["overallStatus"], detail["statusReason"]) == ("IMPAIRED", "container runtime is down")


def test_view_attributes_include_built_in_capability_and_custom_ones() -> None:
    shown = {a["name"]: a.get("value") for a in view(with_attribute(node(), "stack", "blue"))["attributes"]}
    assert shown["ecs.availability-zone"] == "us-east-1a"
    assert shown["ecs.cpu-architecture"] == "x86_64"
    assert shown["ecs.os-family"] == "LINUX"
    assert "com.amazonaws.ecs.capability.docker-remote-api.1.44" in shown
    assert shown["stack"] == "blue"


def test_instances_offer_every_attribute_task_definitions_require() -> None:
    rich = definition(
        container(
            "app",
            image="123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1",
            logConfiguration={"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
            healthCheck={"command": ["CMD", "true"]},
            secrets=[
                {"name": "A", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf"},
                {"name": "B", "valueFrom": "/param"},
            ],
            environmentFiles=[{"type": "s3", "value": "arn:aws:s3:::bucket/env"}],
            linuxParameters={"initProcessEnabled": True},
            dockerLabels={"a": "b"},
            privileged=True,
            stopTimeout=10,
        ),
        container("router", firelensConfiguration={"type": "fluentbit"}, essential=False),
        networkMode="awsvpc",
        taskRoleArn="arn:aws:iam::123456789012:role/task",
        executionRoleArn="arn:aws:iam::123456789012:role/exec",
        pidMode="task",
        volumes=[
            {
                "name": "efs",
                "efsVolumeConfiguration": {"fileSystemId": "fs-1", "authorizationConfig": {"iam": "ENABLED"}},
            }
        ],
    )
    offered = {a["name"] for a in instance_attributes(node())}
    assert set(required_attributes(rich)) <= offered


def test_tags_are_shown_when_asked_for() -> None:
    tagged = node(annotations={names.ANNOTATION_TAGS: '[{"key":"team","value":"infra"}]'})
    assert view(tagged, include_tags=True)["tags"] == [{"key": "team", "value": "infra"}]
    assert view(tagged)["tags"] == []
