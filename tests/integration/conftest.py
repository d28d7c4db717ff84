"""Integration tests run against whatever cluster KUBECONFIG names: the local control plane
(cluster/up) or a kind cluster. They never look at how that cluster is made."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import boto3
import botocore.config
import botocore.exceptions
import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from kubernetes import client
from kubernetes.client import ApiException

from shim.kube.client import KubeClients, connect
from shim.kube.store import GROUP, VERSION, raw_json
from shim.protocol import rpc_v2_cbor
from shim.schemas.responses import output_problems
from shim.translate import names
from shim.translate.names import LABEL_CLUSTER, LABEL_TASK_ID, cluster_namespace, label_value

T = TypeVar("T")

ZONE = "topology.kubernetes.io/zone"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"


@pytest.fixture(scope="session")
def kube() -> KubeClients:
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        pytest.exit("integration tests need KUBECONFIG to name a running cluster (make test sets it)", 2)
    return connect(kubeconfig)


@pytest.fixture
def namespace(kube: KubeClients) -> Iterator[str]:
    name = f"it-{uuid.uuid4().hex[:10]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    kube.core.delete_namespace(name)


FAST_WAITER = {"Delay": 1, "MaxAttempts": 90}
"""A boto3 waiter configuration that polls every second instead of every 6 to 15 s."""


def eventually(check: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.2) -> T:
    """The first truthy result of `check`, retried until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {check.__name__}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ShimServer:
    """`ecs-shim serve` as a user runs it: a separate process under gunicorn, on loopback."""

    def __init__(self, *extra_args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ShimServer":
        descriptor, log_path = tempfile.mkstemp(prefix="ecs-shim-", suffix=".log")
        self.log = Path(log_path)
        command = [sys.executable, "-m", "shim", "serve", "--port", str(self.port), *self.extra_args]
        self.process = subprocess.Popen(command, stdout=descriptor, stderr=subprocess.STDOUT)
        os.close(descriptor)
        eventually(self.healthy, timeout=60)
        return self

    def healthy(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.output()
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def registry_file() -> Path | None:
    """The image registry's file for `ecs-shim serve --registry` (cluster/up writes it beside
    the kubeconfig, in registry/shim.json); None when the cluster has no registry."""
    path = Path(os.environ.get("KUBECONFIG", ".")).resolve().parent / "registry" / "shim.json"
    return path if path.exists() else None


def registry_args() -> tuple[str, ...]:
    path = registry_file()
    return ("--registry", str(path)) if path else ()


@pytest.fixture(scope="session")
def shim(kube: KubeClients) -> Iterator[ShimServer]:
    server = ShimServer(*registry_args()).start()
    yield server
    server.stop()


def ecs_client(url: str, **credentials: str) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=credentials.get("access_key", "AKIDEXAMPLE"),
        aws_secret_access_key=credentials.get("secret_key", "secret"),
        config=botocore.config.Config(retries={"max_attempts": 0}),
    )


def checked_client(url: str, service: str, session: botocore.session.Session | None = None) -> Any:
    """A boto3 client of another service on the same endpoint, whose every response is checked
    against its model (check_wire_response): no retries, no host prefix (DiscoverInstances')."""
    made = boto3.Session(botocore_session=session).client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=botocore.config.Config(retries={"max_attempts": 0}, inject_host_prefix=False),
    )
    made.meta.events.register(f"before-parse.{service}.*", check_wire_response)
    return made


@pytest.fixture(scope="session")
def ecs(shim: ShimServer) -> Any:
    return ecs_client(shim.url)


def run_aws(url: str, *args: str, service: str = "ecs") -> subprocess.CompletedProcess[str]:
    """The real AWS CLI, pointed at the shim: `aws <service> ARGS --output json`."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",  # Cloud Map's DiscoverInstances would go to data-<host>
    }
    aws = str(Path(sys.executable).with_name("aws"))
    return subprocess.run([aws, service, *args, "--output", "json"], env=env, capture_output=True, text=True)


def unique_name(prefix: str) -> str:
    """A name no earlier test or run has used: state persists in the cluster across runs."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
JSON_1_1 = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class WireResponse:
    """One HTTP exchange with the server as any JSON 1.1 client sees it."""

    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def error_code(self) -> str | None:
        return self.body.get("__type") if isinstance(self.body, dict) else None


def post_wire(
    url: str,
    target: str | None,
    payload: bytes,
    key: tuple[str, str] | None = ("AKIDEXAMPLE", "secret"),
    region: str = "us-east-1",
    sent: bytes | None = None,
    http: requests.Session | None = None,
    signing_name: str = "ecs",
) -> WireResponse:
    """POST `payload` with the JSON 1.1 headers, SigV4-signed by `key` (unsigned when None);
    `sent` is a body sent in its place after signing, as a tampering proxy would. A session
    `http` keeps one connection across calls, as SDKs do: a sequence of calls then reaches one
    server process and reads its own writes, where other processes see them eventually (as on ECS)."""
    request = AWSRequest(method="POST", url=f"{url}/", data=payload, headers={"Content-Type": JSON_1_1})
    if target is not None:
        request.headers["X-Amz-Target"] = target
    if key is not None:
        SigV4Auth(Credentials(*key), signing_name, region).add_auth(request)
    response = (http or requests).post(
        request.url, data=payload if sent is None else sent, headers=dict(request.headers.items()), timeout=30
    )
    body = json.loads(response.content) if response.content else None
    return WireResponse(response.status_code, response.headers, body)


def call_wire(url: str, operation: str, params: Any, **signing: Any) -> WireResponse:
    """One ECS operation with a hand-made JSON body, bypassing every client-side check."""
    return post_wire(url, f"{TARGET_PREFIX}.{operation}", json.dumps(params).encode(), **signing)


def ecs_wire(url: str, operation: str, params: Any, http: requests.Session | None = None) -> dict[str, Any]:
    """The decoded body of a call that must succeed, checked against the operation's output
    shape in botocore's model and for its request id."""
    response = call_wire(url, operation, params, http=http)
    assert response.status == 200, response.body
    assert response.headers.get("x-amzn-RequestId")
    assert output_problems(operation, response.body) == []
    body: dict[str, Any] = response.body
    return body


def unchecked_ecs_client(url: str) -> Any:
    """boto3 with its client-side parameter validation off: what reaches the server is whatever
    the user wrote, as from an SDK that does not validate."""
    return boto3.client(
        "ecs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=botocore.config.Config(retries={"max_attempts": 0}, parameter_validation=False),
    )


def task_definitions_of(kube: KubeClients, family: str) -> list[dict[str, Any]]:
    """The TaskDefinition custom objects stored for `family`, read from the API server."""
    selector = f"{names.LABEL_FAMILY}={names.label_value(family)}"
    listed = cast(
        dict[str, Any],
        kube.custom.list_cluster_custom_object(GROUP, VERSION, "taskdefinitions", label_selector=selector),
    )
    return [item for item in listed["items"] if item["spec"]["taskDefinition"]["family"] == family]


def namespace_exists(kube: KubeClients, name: str) -> bool:
    try:
        kube.core.read_namespace(name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


@pytest.fixture(scope="session")
def second_shim(kube: KubeClients) -> Iterator[ShimServer]:
    """Another `ecs-shim serve` on the same cluster, as a second replica behind a load balancer."""
    server = ShimServer().start()
    yield server
    server.stop()


def all_at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Each call on its own thread, all released together; their results in order."""
    start = threading.Barrier(len(calls))

    def released(call: Callable[[], T]) -> T:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(released, calls))


def check_wire_response(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    """A botocore `before-parse` hook: each response as it came off the wire (JSON 1.1 or RPC v2
    CBOR), before boto3 reads it, carries a request id and is either a body of the operation's
    output shape or an error envelope that is not a server fault."""
    assert response_dict["headers"].get("x-amzn-RequestId")
    if response_dict["headers"].get("Content-Type") == rpc_v2_cbor.CONTENT_TYPE:
        assert response_dict["headers"].get("smithy-protocol") == "rpc-v2-cbor"
        body = rpc_v2_cbor.decode_body(response_dict["body"])
    else:
        body = json.loads(response_dict["body"]) if response_dict["body"] else {}
    if response_dict["status_code"] == 200:
        assert output_problems(operation_model.name, body, operation_model.service_model.service_name) == [], body
    else:
        assert response_dict["status_code"] < 500 and set(body) == {"__type", "message"}, body


def error_code(call: Callable[..., Any], **params: Any) -> str:
    """The error code of a call that must be refused, as boto3 reports it."""
    try:
        call(**params)
    except botocore.exceptions.ClientError as error:
        return str(error.response["Error"]["Code"])
    raise AssertionError("the call was not refused")


def model_checked(ecs: Any) -> Any:
    """`ecs`, with every response it receives checked by `check_wire_response`."""
    ecs.meta.events.register("before-parse.ecs.*", check_wire_response, unique_id="model-checked")
    return ecs


@pytest.fixture
def responses_match_the_model(ecs: Any) -> Iterator[None]:
    """For one test: every response the shared `ecs` client receives matches botocore's model."""
    model_checked(ecs)
    yield
    ecs.meta.events.unregister("before-parse.ecs.*", unique_id="model-checked")


def task_id_of_arn(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def task_pods(kube: KubeClients, cluster_name: str) -> list[dict[str, Any]]:
    """The pods in an ECS cluster's namespace, as the API server sends them."""
    items: list[dict[str, Any]] = raw_json(kube.core.list_namespaced_pod, cluster_namespace(cluster_name))["items"]
    return items


def landed_on(kube: KubeClients, cluster_name: str, task_arns: list[str], timeout: float = 30.0) -> dict[str, str]:
    """task ARN -> the node its pod was bound to by the scheduler, once every one is bound."""
    wanted = {task_id_of_arn(arn): arn for arn in task_arns}

    def all_bound() -> dict[str, str] | None:
        bound = {
            wanted[pod["metadata"]["labels"][LABEL_TASK_ID]]: pod["spec"]["nodeName"]
            for pod in task_pods(kube, cluster_name)
            if pod["metadata"]["labels"].get(LABEL_TASK_ID) in wanted and pod["spec"].get("nodeName")
        }
        return bound if len(bound) == len(wanted) else None

    return eventually(all_bound, timeout=timeout)


def node_labels(kube: KubeClients) -> dict[str, dict[str, str]]:
    """The labels of the nodes pinned to no cluster, by name: the container instances of a new
    cluster (the local cluster's real node is pinned to the cluster `real`)."""
    nodes = raw_json(kube.core.list_node)["items"]
    return {
        node["metadata"]["name"]: node["metadata"].get("labels", {})
        for node in nodes
        if LABEL_CLUSTER not in node["metadata"].get("labels", {})
    }


def stop_every_task(ecs: Any, kube: KubeClients, cluster_name: str) -> None:
    """Stop the cluster's running tasks and wait until none of its pods holds node resources."""
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster_name):
        for task_arn in page["taskArns"]:
            ecs.stop_task(cluster=cluster_name, task=task_arn)

    def nothing_held() -> bool:
        return all(pod["status"].get("phase") in ("Succeeded", "Failed") for pod in task_pods(kube, cluster_name))

    eventually(nothing_held, timeout=60)


@contextlib.contextmanager
def new_ecs_cluster(ecs: Any, kube: KubeClients) -> Iterator[str]:
    """A new ECS cluster; afterwards its tasks are stopped, their pods hold no resources (so the
    next test finds the nodes free) and the cluster is deleted."""
    name = unique_name("it")
    ecs.create_cluster(clusterName=name)
    yield name
    stop_every_task(ecs, kube, name)

    def deleted() -> bool:
        try:
            ecs.delete_cluster(cluster=name)
        except ecs.exceptions.ClusterContainsTasksException:
            return False
        return True

    eventually(deleted, timeout=30)


@pytest.fixture
def ecs_cluster(ecs: Any, kube: KubeClients) -> Iterator[str]:
    with new_ecs_cluster(ecs, kube) as name:
        yield name


@pytest.fixture
def other_ecs_cluster(ecs: Any, kube: KubeClients) -> Iterator[str]:
    with new_ecs_cluster(ecs, kube) as name:
        yield name


def ecs_error(call: Callable[..., Any], **params: Any) -> dict[str, str]:
    """The `Error` (Code, Message) of a boto3 call that must fail with an ECS error."""
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call(**params)
    error: dict[str, str] = raised.value.response["Error"]
    return error


def kube_json(call: Callable[..., Any], *args: Any, **params: Any) -> Any:
    """What the API server answered to a client call, as the plain JSON it sent."""
    return json.loads(call(*args, _preload_content=False, **params).data)


REAL = "real"
"""The ECS cluster the local cluster's real node is pinned to (cluster/real_node.py)."""


def real_nodes(kube: KubeClients) -> list[dict[str, Any]]:
    """The nodes pinned to the ECS cluster `real`: the real node, when the cluster has one."""
    pinned: list[dict[str, Any]] = kube_json(kube.core.list_node, label_selector=f"{LABEL_CLUSTER}={REAL}")["items"]
    return pinned


@pytest.fixture(scope="module")
def real_cluster(kube: KubeClients, ecs: Any) -> str:
    """The ECS cluster `real`, whose tasks run on real containers; the test is skipped when the
    cluster has no real node."""
    if not real_nodes(kube):
        pytest.skip(
            f"the cluster has no real node (no node labelled {LABEL_CLUSTER}={REAL}): this needs real containers; "
            "it was started without one (ECS_SHIM_REAL_NODE=0, cluster/up --no-real-node, or not as root)"
        )
    ecs.create_cluster(clusterName=REAL)
    return REAL


def nodes(kube: KubeClients) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = kube_json(kube.core.list_node)["items"]
    return listed


def connected_instance(ecs: Any, cluster: str, node: str) -> bool:
    """Whether the cluster lists the node as a container instance whose agent is connected (kwok
    has reported it Ready), as an EC2 instance is once its agent registers."""
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    if not arns:
        return False
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]
    return any(i["ec2InstanceId"] == node and i["agentConnected"] for i in described)


def remove_services(ecs: Any, kube: KubeClients, cluster: str) -> None:
    """Force-delete every service of the cluster and wait until their pods are gone."""
    arns = [arn for page in ecs.get_paginator("list_services").paginate(cluster=cluster) for arn in page["serviceArns"]]
    for arn in arns:
        ecs.delete_service(cluster=cluster, service=arn, force=True)
    if arns:
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=arns, WaiterConfig=FAST_WAITER)

    def pods_gone() -> bool:
        return not task_pods(kube, cluster)

    eventually(pods_gone, timeout=60)


@pytest.fixture
def cluster(ecs: Any, kube: KubeClients) -> Iterator[str]:
    """A new ECS cluster for one test; afterwards its services are deleted (freeing the nodes for
    the next test) and then the cluster."""
    name = unique_name("svc")
    ecs.create_cluster(clusterName=name)
    yield name
    remove_services(ecs, kube, name)

    def deleted() -> bool:
        try:
            ecs.delete_cluster(cluster=name)
        except (
            ecs.exceptions.ClusterContainsServicesException,
            ecs.exceptions.ClusterContainsTasksException,
            ecs.exceptions.ClusterContainsContainerInstancesException,
        ):
            return False
        return True

    eventually(deleted, timeout=30)


@pytest.fixture
def add_node(ecs: Any, kube: KubeClients, cluster: str) -> Iterator[Callable[..., str]]:
    """Adds a fake node shaped like an existing one of an instance type (and zone, when given),
    with extra `labels`, pinned to the test's cluster so no other cluster lists it (and, `dedicated`,
    tainted with the pin, so that the cluster runs on such nodes only); afterwards the cluster's
    services are deleted before the node is."""
    added: list[str] = []

    def add(
        instance_type: str, zone: str | None = None, labels: Mapping[str, str] | None = None, dedicated: bool = False
    ) -> str:
        model = next(
            n
            for n in nodes(kube)
            if n["metadata"]["labels"].get(INSTANCE_TYPE) == instance_type
            and zone in (None, n["metadata"]["labels"].get(ZONE))
        )
        name = f"i-0{uuid.uuid4().hex[:16]}"
        labels = {
            **model["metadata"]["labels"],
            **(labels or {}),
            "kubernetes.io/hostname": name,
            LABEL_CLUSTER: label_value(cluster),
        }
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "spec": {
                "providerID": f"aws:///{labels[ZONE]}/{name}",
                **(
                    {"taints": [{"key": LABEL_CLUSTER, "value": label_value(cluster), "effect": "NoSchedule"}]}
                    if dedicated
                    else {}
                ),
            },
            "status": {key: model["status"][key] for key in ("allocatable", "capacity", "nodeInfo")},
        }
        kube_json(kube.core.create_node, node)
        added.append(name)
        eventually(lambda: connected_instance(ecs, cluster, name), timeout=30)
        return name

    yield add
    remove_services(ecs, kube, cluster)
    for name in added:
        kube.core.delete_node(name)
