"""Every served operation, fed request bodies generated from botocore's model of its input (mostly
within the model, some values of the wrong type or outside it): the server never answers 5xx, a
4xx is an ECS error envelope and changes nothing a client can see, and a 2xx matches the output
shape.

Requests are aimed at objects the test makes: every `cluster` is the test's own cluster or one
that does not exist (DeleteCluster only ever names one that does not exist), every family,
service and task definition is the test's own or an unknown name, so destructive operations
(DeleteCluster, DeleteService, StopTask, DeregisterTaskDefinition, DeleteTaskDefinitions) can touch
nothing else. Container instances are the cluster's nodes, shared by every test: their ids here are
random text that names no node."""

import json
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import botocore.session
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.kube.client import KubeClients
from shim.kube.store import Store
from shim.operations import build_handlers
from shim.schemas.responses import output_problems
from tests.integration.conftest import (
    ShimServer,
    call_wire,
    ecs_wire,
    eventually,
    post_wire,
    remove_services,
    stop_every_task,
    unique_name,
)

MODEL = botocore.session.get_session().get_service_model("ecs")

FUZZED = (
    "ContinueServiceDeployment",
    "CreateCluster",
    "CreateService",
    "CreateTaskSet",
    "DeleteAttributes",
    "DeleteCluster",
    "DeleteService",
    "DeleteTaskDefinitions",
    "DeleteTaskSet",
    "DeregisterTaskDefinition",
    "DescribeClusters",
    "DescribeContainerInstances",
    "DescribeServiceDeployments",
    "DescribeServiceRevisions",
    "DescribeServices",
    "DescribeTaskDefinition",
    "DescribeTaskSets",
    "DescribeTasks",
    "ExecuteCommand",
    "GetTaskProtection",
    "ListAttributes",
    "ListClusters",
    "ListContainerInstances",
    "ListServiceDeployments",
    "ListServices",
    "ListTagsForResource",
    "ListTaskDefinitionFamilies",
    "ListTaskDefinitions",
    "ListTasks",
    "PutAttributes",
    "RegisterTaskDefinition",
    "RunTask",
    "StartTask",
    "StopServiceDeployment",
    "StopTask",
    "TagResource",
    "UntagResource",
    "UpdateCluster",
    "UpdateClusterSettings",
    "UpdateContainerInstancesState",
    "UpdateService",
    "UpdateServicePrimaryTaskSet",
    "UpdateTaskProtection",
    "UpdateTaskSet",
)

EXAMPLES_PER_OPERATION = 12
MAX_DEPTH = 5
SHORT = 12
SERVICE_NAMES = ("fz-a", "fz-b")


@dataclass(frozen=True)
class Target:
    """The objects the fuzzed requests are aimed at, all made by this test."""

    cluster: str
    cluster_arn: str
    family: str


@pytest.fixture(scope="module")
def target(shim: ShimServer, ecs: Any, kube: KubeClients) -> Iterator[Target]:
    name, family = unique_name("fuzz"), unique_name("fuzz")
    made = Target(
        cluster=name, cluster_arn=ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"], family=family
    )
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 8, "essential": True}],
    )
    # A service with no tasks for the service operations to find (the fuzzer rarely makes one).
    ecs.create_service(cluster=name, serviceName=SERVICE_NAMES[0], taskDefinition=family, desiredCount=0)
    # And an EXTERNAL one, for the task set operations.
    ecs.create_service(
        cluster=name, serviceName=SERVICE_NAMES[1], desiredCount=0, deploymentController={"type": "EXTERNAL"}
    )
    yield made
    remove_services(ecs, kube, made.cluster)
    stop_every_task(ecs, kube, made.cluster)

    def deleted() -> bool:
        try:
            ecs.delete_cluster(cluster=name)
        except (ecs.exceptions.ClusterContainsServicesException, ecs.exceptions.ClusterContainsTasksException):
            return False
        return True

    eventually(deleted, timeout=30)
    revisions = ecs.list_task_definitions(familyPrefix=made.family, status="ACTIVE")["taskDefinitionArns"]
    for arn in revisions:
        ecs.deregister_task_definition(taskDefinition=arn)


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    """One connection for the whole run, so each call reads the writes before it."""
    with requests.Session() as session:
        yield session


NAME_CHARACTERS = string.ascii_letters + string.digits + "-_"


def text(max_size: int = SHORT, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size, max_size=max(min_size, max_size))


def plain(max_size: int = SHORT, min_size: int = 1) -> st.SearchStrategy[str]:
    """Strings as names and values usually are: letters, digits, dashes, underscores."""
    return st.text(NAME_CHARACTERS, min_size=min_size, max_size=max(min_size, max_size))


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` nine times in ten, else `bad`."""
    return st.integers(0, 9).flatmap(lambda roll: bad if roll == 0 else good)


def wrong_type(type_name: str) -> st.SearchStrategy[Any]:
    """A JSON value that is not of the model's type."""
    if type_name == "string":
        return st.one_of(st.integers(), st.booleans(), st.none())
    if type_name in ("integer", "long", "double", "timestamp"):
        return st.one_of(text(), st.booleans(), st.none())
    if type_name == "boolean":
        return st.one_of(text(), st.integers(-1, 2))
    return st.one_of(text(), st.integers())


def named(member: str, target: Target, wild: bool) -> st.SearchStrategy[Any] | None:
    """Values of members that name stored objects: the test's own, or (when `wild`) ones that do
    not exist or are not valid names, so nothing another test made is touched or created."""
    absent = text(min_size=1).map(lambda name: f"{target.cluster}-{name}")
    revision = st.integers(0, 3).map(lambda number: f"{target.family}:{number}")
    if not wild:
        absent, revision = st.just(target.family), st.just(f"{target.family}:1")
    invalid = text().map(lambda name: f"bad name {name}") if wild else st.nothing()
    chosen: dict[str, st.SearchStrategy[Any]] = {
        "cluster": st.one_of(st.sampled_from([target.cluster, target.cluster_arn]), absent if wild else st.nothing()),
        "clusterName": st.one_of(st.just(target.cluster), invalid),
        "family": st.one_of(st.just(target.family), invalid),
        "familyPrefix": st.one_of(st.just(target.family), absent),
        "taskDefinition": st.one_of(st.just(target.family), revision, absent),
        "taskDefinitions": st.lists(st.one_of(revision, absent), max_size=2),
        "service": st.one_of(st.sampled_from(SERVICE_NAMES), absent),
        "serviceName": st.one_of(st.sampled_from(SERVICE_NAMES), absent),
        "services": st.lists(st.one_of(st.sampled_from(SERVICE_NAMES), absent), max_size=2),
        "resourceArn": st.one_of(st.just(target.cluster_arn), absent),
        "desiredCount": st.integers(-1, 2),
        "count": st.integers(-1, 3),
    }
    return chosen.get(member)


def scalar(shape: Any, wild: bool) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "string":
        if shape.enum:
            return st.one_of(st.sampled_from(shape.enum), text()) if wild else st.sampled_from(shape.enum)
        low, high = shape.metadata.get("min", 0), shape.metadata.get("max", SHORT)
        strings = text if wild else plain
        return strings(min(high, SHORT), max(min(low, SHORT), 0 if wild else 1))
    if kind in ("integer", "long"):
        return st.integers(-2, 1 << 20)
    if kind == "double":
        return st.floats(-10, 1e6, allow_nan=False)
    if kind == "timestamp":
        return st.integers(0, 2_000_000_000)
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"no strategy for {kind} ({shape.name})")


def shape_values(shape: Any, target: Target, wild: bool, depth: int = 0, member: str = "") -> st.SearchStrategy[Any]:
    """Values for `shape` as the model describes; when `wild`, sometimes of the wrong type, any
    text or an enum's non-member."""
    chosen = named(member, target, wild)
    if chosen is not None:
        return chosen
    if depth > MAX_DEPTH:
        return st.just({} if shape.type_name == "structure" else [] if shape.type_name == "list" else None)
    kind = shape.type_name
    good: st.SearchStrategy[Any]
    if kind == "structure":
        good = structure(shape, target, wild, depth)
    elif kind == "list":
        good = st.lists(shape_values(shape.member, target, wild, depth + 1), min_size=0 if wild else 1, max_size=2)
    elif kind == "map":
        keys = text() if wild else plain()
        good = st.dictionaries(keys, shape_values(shape.value, target, wild, depth + 1), max_size=2)
    else:
        good = scalar(shape, wild)
    return mostly(good, wrong_type(kind)) if wild else good


def structure(shape: Any, target: Target, wild: bool, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """Required members always, optional members sometimes."""
    members = {name: shape_values(member, target, wild, depth + 1, name) for name, member in shape.members.items()}
    required = {name: members[name] for name in shape.required_members}
    optional = {name: value for name, value in members.items() if name not in required}
    return st.fixed_dictionaries(required, optional=optional)


def request_bodies(operation: str, target: Target) -> st.SearchStrategy[Any]:
    """Whole request bodies: the input structure as the model describes it, with values outside
    the model, with required members left out, or not an object at all."""
    shape = MODEL.operation_model(operation).input_shape
    if operation == "DeleteCluster":
        # Deleting the test's own cluster would leave the requests after it nothing to aim at.
        gone = f"{target.cluster}-never-made"
        target = replace(target, cluster=gone, cluster_arn=target.cluster_arn.replace(target.cluster, gone))
    loose = st.fixed_dictionaries(
        {}, optional={name: shape_values(member, target, True, 1, name) for name, member in shape.members.items()}
    )
    not_an_object = st.one_of(st.lists(st.integers(), max_size=2), text())
    kinds = [not_an_object, loose] + [structure(shape, target, True, 0)] * 4 + [structure(shape, target, False, 0)] * 4
    return st.integers(0, len(kinds) - 1).flatmap(lambda kind: kinds[kind])


def visible_state(url: str, target: Target, http: requests.Session) -> dict[str, Any]:
    """What a client can see of the test's objects, leaving out what the server changes by itself
    (task and service counts, deployments, events, a draining service becoming inactive)."""

    def call(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return ecs_wire(url, operation, params, http=http)

    clusters = call(
        "DescribeClusters", {"clusters": [target.cluster], "include": ["SETTINGS", "CONFIGURATIONS", "TAGS"]}
    )
    cluster_keys = ("clusterArn", "status", "settings", "configuration", "tags", "serviceConnectDefaults")
    definitions = {
        status: call("ListTaskDefinitions", {"familyPrefix": target.family, "status": status})["taskDefinitionArns"]
        for status in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS")
    }
    service_arns = call("ListServices", {"cluster": target.cluster})["serviceArns"]
    services = (
        call("DescribeServices", {"cluster": target.cluster, "services": service_arns, "include": ["TAGS"]})["services"]
        if service_arns
        else []
    )
    service_keys = ("taskDefinition", "desiredCount", "placementConstraints", "placementStrategy", "tags")
    task_arns = call("ListTasks", {"cluster": target.cluster, "desiredStatus": "RUNNING"})["taskArns"]
    tasks = call("DescribeTasks", {"cluster": target.cluster, "tasks": task_arns})["tasks"] if task_arns else []
    return {
        "cluster": [{key: cluster.get(key) for key in cluster_keys} for cluster in clusters["clusters"]],
        "taskDefinitions": definitions,
        "services": {
            service["serviceArn"]: {key: service.get(key) for key in service_keys}
            for service in services
            if service["status"] == "ACTIVE"
        },
        "standaloneTasks": sorted(
            task["taskArn"] for task in tasks if not task.get("group", "").startswith("service:")
        ),
    }


def check_call(url: str, operation: str, body: Any, target: Target, http: requests.Session) -> None:
    before = visible_state(url, target, http)
    response = call_wire(url, operation, body, http=http)
    assert response.status < 500, f"{operation} {body!r} -> {response.status} {response.body!r}"
    if response.status >= 400:
        assert isinstance(response.body, dict) and set(response.body) == {"__type", "message"}, response.body
        assert visible_state(url, target, http) == before, f"{operation} {body!r} -> {response.body!r} changed state"
    else:
        assert output_problems(operation, response.body) == [], (operation, body, response.body)


OTHER_SERVICES_FUZZED = {
    # Every read, and every change aimed at ids the fuzzer makes up (none exists): the creations
    # would leave what they made behind.
    "servicediscovery": (
        "DeleteNamespace",
        "DeleteService",
        "DeregisterInstance",
        "DiscoverInstances",
        "DiscoverInstancesRevision",
        "GetInstance",
        "GetInstancesHealthStatus",
        "GetNamespace",
        "GetOperation",
        "GetService",
        "ListInstances",
        "ListNamespaces",
        "ListOperations",
        "ListServices",
        "ListTagsForResource",
        "RegisterInstance",
        "TagResource",
        "UntagResource",
        "UpdateInstanceCustomHealthStatus",
    ),
    "cloudwatch": ("GetMetricData", "GetMetricStatistics", "ListMetrics"),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("service", "operation"), [(service, op) for service, ops in OTHER_SERVICES_FUZZED.items() for op in ops]
)
def test_other_services_fuzzed_requests_never_fault(
    service: str, operation: str, shim: ShimServer, target: Target, http: requests.Session
) -> None:
    """Cloud Map and CloudWatch, fed bodies from their own models: never a 5xx, a 4xx is their
    error envelope, a 2xx matches the output shape."""
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    prefix = model.metadata["targetPrefix"]
    signing_name = model.metadata.get("signingName") or model.metadata["endpointPrefix"]
    kinds = [structure(shape, target, True, 0), structure(shape, target, False, 0)]

    def check(body: Any) -> None:
        payload = json.dumps(body).encode()
        response = post_wire(shim.url, f"{prefix}.{operation}", payload, http=http, signing_name=signing_name)
        assert response.status < 500, f"{operation} {body!r} -> {response.status} {response.body!r}"
        if response.status >= 400:
            assert isinstance(response.body, dict) and set(response.body) == {"__type", "message"}, response.body
        else:
            assert output_problems(operation, response.body, service) == [], (operation, body, response.body)

    fuzz(operation, check, st.one_of(*kinds))


def test_every_served_operation_is_fuzzed(kube: KubeClients) -> None:
    assert sorted(build_handlers(Store(kube))) == sorted(FUZZED)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("operation", FUZZED)
def test_fuzzed_requests_never_fault_and_refusals_change_nothing(
    operation: str, shim: ShimServer, target: Target, http: requests.Session
) -> None:
    fuzz(operation, lambda body: check_call(shim.url, operation, body, target, http), request_bodies(operation, target))


def fuzz(operation: str, check: Callable[[Any], None], bodies: st.SearchStrategy[Any]) -> None:
    """Runs `check` on a bounded, reproducible sample of `bodies` (derandomized: CI sees the same
    requests every run)."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(bodies)
    def run(body: Any) -> None:
        check(body)

    run()
