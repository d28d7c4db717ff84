"""Bad input as a new user sends it, by hand over HTTP, through boto3 and through the AWS CLI:
ECS's error code and a clear message, never a server error, and nothing half-written."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from shim.kube.client import KubeClients
from shim.translate import names
from tests.integration.conftest import (
    TARGET_PREFIX,
    ShimServer,
    WireResponse,
    call_wire,
    ecs_client,
    ecs_error,
    model_checked,
    namespace_exists,
    post_wire,
    run_aws,
    task_definitions_of,
    unchecked_ecs_client,
    unique_name,
)

GOOD_KEY = ("AKIDSHIMTEST", "the-real-secret")
APP = {"name": "app", "image": "busybox", "memory": 64}

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def fargate(**task: Any) -> dict[str, Any]:
    return {
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "containerDefinitions": [{"name": "app", "image": "busybox"}],
        **task,
    }


def assert_ecs_error(response: WireResponse, status: int, code: str, *message_parts: str) -> None:
    assert (response.status, response.error_code) == (status, code), response.body
    assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert response.headers.get("x-amzn-RequestId")
    message = response.body["message"]
    assert message and all(part in message for part in message_parts), message


@pytest.mark.parametrize(
    ("target", "expected_in_message"),
    [
        (f"{TARGET_PREFIX}.LaunchRocket", "LaunchRocket"),
        ("DynamoDB_20120810.ListTables", "ListTables"),
        (None, "X-Amz-Target"),
    ],
)
def test_unknown_operation(shim: ShimServer, target: str | None, expected_in_message: str) -> None:
    response = post_wire(shim.url, target, b"{}")
    assert_ecs_error(response, 400, "UnknownOperationException", expected_in_message)


@pytest.mark.parametrize("payload", [b'{"family": ', b"[]", b'"ListClusters"', b"\xff\xfe{}", b'{"maxResults": NaN}'])
def test_body_that_is_not_a_json_object(shim: ShimServer, payload: bytes) -> None:
    response = post_wire(shim.url, f"{TARGET_PREFIX}.ListClusters", payload)
    assert_ecs_error(response, 400, "SerializationException")


@pytest.mark.parametrize(
    ("operation", "params", "expected_in_message"),
    [
        ("ListClusters", {"maxResults": "ten"}, "maxResults"),
        ("DescribeClusters", {"clusters": "prod"}, "clusters"),
        ("RegisterTaskDefinition", {"family": "f", "containerDefinitions": {"name": "app"}}, "containerDefinitions"),
        ("RegisterTaskDefinition", {"family": "f", "containerDefinitions": [{**APP, "memory": "lots"}]}, "memory"),
        ("RegisterTaskDefinition", {"family": 7, "containerDefinitions": [APP]}, "family"),
        ("RegisterTaskDefinition", {"family": "f", "containerDefinitions": [{**APP, "essential": "yes"}]}, "essential"),
        ("RegisterTaskDefinition", {"family": "f", "containerDefinitions": [5]}, "containerDefinitions"),
        ("TagResource", {"resourceArn": "arn:aws:ecs:us-east-1:123456789012:cluster/x", "tags": [{"key": 1}]}, "key"),
    ],
)
def test_member_of_the_wrong_type(shim: ShimServer, operation: str, params: Any, expected_in_message: str) -> None:
    response = call_wire(shim.url, operation, params)
    assert_ecs_error(response, 400, "SerializationException", expected_in_message)


@pytest.mark.parametrize(
    ("operation", "params", "missing"),
    [
        ("RegisterTaskDefinition", {}, ["family", "containerDefinitions"]),
        ("RegisterTaskDefinition", {"family": "f"}, ["containerDefinitions"]),
        ("DescribeTaskDefinition", {}, ["taskDefinition"]),
        ("DeleteCluster", {}, ["cluster"]),
        ("TagResource", {"resourceArn": "arn:aws:ecs:us-east-1:123456789012:cluster/default"}, ["tags"]),
    ],
)
def test_missing_required_member(shim: ShimServer, operation: str, params: Any, missing: list[str]) -> None:
    response = call_wire(shim.url, operation, params)
    assert_ecs_error(response, 400, "InvalidParameterException", *(f"'{member}'" for member in missing))


def rejected_registrations() -> Iterator[Any]:
    yield pytest.param(fargate(cpu="256", memory="4096"), "No Fargate configuration exists", id="fargate-size")
    yield pytest.param(fargate(cpu="3 vCPU", memory="8192"), "No Fargate configuration exists", id="fargate-cpu")
    yield pytest.param(fargate(memory="512"), "'cpu' be defined at the task level", id="fargate-no-cpu")
    yield pytest.param(fargate(cpu="256", memory="512", networkMode="bridge"), "awsvpc", id="fargate-bridge")
    yield pytest.param({"containerDefinitions": [APP, APP]}, "Container names must be unique", id="duplicate-names")
    yield pytest.param({"containerDefinitions": [{"image": "busybox", "memory": 64}]}, "name", id="unnamed-container")
    yield pytest.param({"containerDefinitions": [{"name": "app", "image": "busybox"}]}, "memory", id="no-memory")
    yield pytest.param({"containerDefinitions": []}, "Container list cannot be empty", id="no-containers")
    yield pytest.param({"containerDefinitions": [{**APP, "name": "my app"}]}, "invalid characters", id="container-name")
    yield pytest.param(
        {"containerDefinitions": [{**APP, "environment": [{"name": "BIG", "value": "x" * 70_000}]}]},
        "Max allowed length is '65536' bytes",
        id="too-large",
    )
    yield pytest.param(
        {"containerDefinitions": [{**APP, "environment": [{"name": "HUGE", "value": "x" * 2_000_000}]}]},
        "Max allowed length",
        id="larger-than-etcd-takes",
    )


@pytest.mark.parametrize(("definition", "expected_in_message"), list(rejected_registrations()))
def test_registration_ecs_refuses_leaves_nothing_behind(
    shim: ShimServer, kube: KubeClients, definition: dict[str, Any], expected_in_message: str
) -> None:
    family = unique_name("refused")

    response = call_wire(shim.url, "RegisterTaskDefinition", {"family": family, **definition})

    assert_ecs_error(response, 400, "ClientException", expected_in_message)
    assert task_definitions_of(kube, family) == []


@pytest.mark.parametrize("family", ["my family", "web.app", "x" * 256, "café"])
def test_invalid_family_name(ecs: Any, kube: KubeClients, family: str) -> None:
    error = ecs_error(ecs.register_task_definition, family=family, containerDefinitions=[APP])
    assert (error["Code"], error["Message"]) == ("ClientException", "Family contains invalid characters.")
    assert task_definitions_of(kube, family) == []


def test_enum_value_outside_the_model(shim: ShimServer, kube: KubeClients) -> None:
    family = unique_name("enum")
    response = call_wire(
        shim.url, "RegisterTaskDefinition", {"family": family, "networkMode": "bridged", "containerDefinitions": [APP]}
    )
    assert_ecs_error(response, 400, "InvalidParameterException", "networkMode", "awsvpc")
    assert task_definitions_of(kube, family) == []


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"tags": "owner=me"}, "SerializationException"),
        ({"settings": [{"name": "containerInsightz", "value": "enabled"}]}, "InvalidParameterException"),
        ({"tags": [{"key": "aws:reserved", "value": "x"}]}, "InvalidParameterException"),
        ({"tags": [{"value": "a tag without a key"}]}, "InvalidParameterException"),
        ({"settings": [{"name": "containerInsights"}]}, "InvalidParameterException"),
        ({"settings": [{"name": "containerInsights", "value": "on"}]}, "InvalidParameterException"),
    ],
)
def test_cluster_ecs_refuses_leaves_no_namespace(
    shim: ShimServer, kube: KubeClients, extra: dict[str, Any], code: str
) -> None:
    name = unique_name("refused")
    response = call_wire(shim.url, "CreateCluster", {"clusterName": name, **extra})
    assert_ecs_error(response, 400, code)
    assert not namespace_exists(kube, names.cluster_namespace(name))
    described = call_wire(shim.url, "DescribeClusters", {"clusters": [name]}).body
    assert described["failures"] == [{"arn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{name}", "reason": "MISSING"}]


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("TagResource", {"tags": [{"value": "a tag without a key"}]}),
        ("UpdateCluster", {"settings": [{"name": "containerInsights"}]}),
        ("UpdateClusterSettings", {"settings": [{"value": "enabled"}]}),
    ],
)
def test_members_the_model_leaves_optional_but_ecs_needs(
    shim: ShimServer, ecs: Any, operation: str, params: dict[str, Any]
) -> None:
    created = ecs.create_cluster(clusterName=unique_name("strict"), tags=[{"key": "k", "value": "v"}])
    arn = created["cluster"]["clusterArn"]
    before = ecs.describe_clusters(clusters=[arn], include=["TAGS", "SETTINGS"])["clusters"]

    response = call_wire(shim.url, operation, {"cluster": arn, "resourceArn": arn, **params})

    assert_ecs_error(response, 400, "InvalidParameterException")
    assert ecs.describe_clusters(clusters=[arn], include=["TAGS", "SETTINGS"])["clusters"] == before


def test_task_definition_tag_without_a_key(shim: ShimServer, kube: KubeClients) -> None:
    family = unique_name("keyless")
    response = call_wire(
        shim.url, "RegisterTaskDefinition", {"family": family, "containerDefinitions": [APP], "tags": [{"value": "v"}]}
    )
    assert_ecs_error(response, 400, "InvalidParameterException", "key")
    assert task_definitions_of(kube, family) == []


def test_boto3_without_client_side_validation_gets_the_servers_errors(shim: ShimServer) -> None:
    ecs = model_checked(unchecked_ecs_client(shim.url))
    with pytest.raises(botocore.exceptions.ClientError) as wrong_type:
        ecs.list_clusters(maxResults="ten")
    assert wrong_type.value.response["Error"]["Code"] == "SerializationException"
    assert wrong_type.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        ecs.describe_task_definition()
    assert missing.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "taskDefinition" in missing.value.response["Error"]["Message"]


def test_boto3_gets_client_exception_for_invalid_fargate_size(ecs: Any, kube: KubeClients) -> None:
    family = unique_name("boto-fargate")
    with pytest.raises(ecs.exceptions.ClientException) as raised:
        ecs.register_task_definition(family=family, **fargate(cpu="512", memory="512"))
    assert "512 CPU, 512 memory" in raised.value.response["Error"]["Message"]
    assert task_definitions_of(kube, family) == []


def test_aws_cli_shows_the_error(shim: ShimServer, kube: KubeClients, tmp_path: Path) -> None:
    family = unique_name("cli-fargate")
    definition = tmp_path / "task-definition.json"
    definition.write_text(json.dumps({"family": family, **fargate(cpu="1024", memory="1024")}))

    result = run_aws(shim.url, "register-task-definition", "--cli-input-json", f"file://{definition}")

    assert result.returncode != 0
    assert "ClientException" in result.stderr
    assert "No Fargate configuration exists for given values: 1024 CPU, 1024 memory" in result.stderr
    assert task_definitions_of(kube, family) == []


# With a credentials file: every request signed by one of its keys.


@pytest.fixture(scope="module")
def guarded_shim(kube: KubeClients, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShimServer]:
    credentials = tmp_path_factory.mktemp("credentials") / "credentials"
    credentials.write_text(f"[ci]\naws_access_key_id = {GOOD_KEY[0]}\naws_secret_access_key = {GOOD_KEY[1]}\n")
    server = ShimServer("--credentials", str(credentials)).start()
    yield server
    server.stop()


def test_a_known_key_is_let_in(guarded_shim: ShimServer) -> None:
    ecs = model_checked(ecs_client(guarded_shim.url, access_key=GOOD_KEY[0], secret_key=GOOD_KEY[1]))
    assert "arn:aws:ecs:us-east-1:123456789012:cluster/default" in ecs.list_clusters()["clusterArns"]


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (("AKIDUNKNOWN", GOOD_KEY[1]), 403, "UnrecognizedClientException"),
        ((GOOD_KEY[0], "a-wrong-secret"), 403, "InvalidSignatureException"),
    ],
)
def test_boto3_with_the_wrong_key(guarded_shim: ShimServer, key: tuple[str, str], status: int, code: str) -> None:
    ecs = model_checked(ecs_client(guarded_shim.url, access_key=key[0], secret_key=key[1]))
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        ecs.create_cluster(clusterName=unique_name("intruder"))
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert raised.value.response["Error"]["Message"]


def test_unsigned_and_tampered_requests_are_refused(guarded_shim: ShimServer, kube: KubeClients) -> None:
    name = unique_name("tampered")
    target = f"{TARGET_PREFIX}.CreateCluster"
    signed = json.dumps({"clusterName": unique_name("signed")}).encode()
    sent = json.dumps({"clusterName": name}).encode()

    unsigned = post_wire(guarded_shim.url, target, sent, key=None)
    tampered = post_wire(guarded_shim.url, target, signed, key=GOOD_KEY, sent=sent)

    assert_ecs_error(unsigned, 403, "MissingAuthenticationTokenException")
    assert_ecs_error(tampered, 403, "InvalidSignatureException", "signature")
    assert not namespace_exists(kube, names.cluster_namespace(name))
    assert post_wire(guarded_shim.url, target, sent, key=GOOD_KEY).status == 200
    assert namespace_exists(kube, names.cluster_namespace(name))


def test_a_bad_signature_is_reported_before_a_bad_body(guarded_shim: ShimServer) -> None:
    response = post_wire(guarded_shim.url, f"{TARGET_PREFIX}.ListClusters", b"{not json", key=("AKIDUNKNOWN", "x"))
    assert_ecs_error(response, 403, "UnrecognizedClientException")


def test_aws_cli_with_a_wrong_secret(guarded_shim: ShimServer) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": GOOD_KEY[0],
        "AWS_SECRET_ACCESS_KEY": "not-the-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_ECS": guarded_shim.url,
    }
    aws = str(Path(sys.executable).with_name("aws"))
    result = subprocess.run([aws, "ecs", "list-clusters"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "InvalidSignatureException" in result.stderr
    assert "signature we calculated does not match" in result.stderr


def test_boto3_from_a_fresh_session_with_the_right_key(guarded_shim: ShimServer) -> None:
    session = boto3.session.Session(
        aws_access_key_id=GOOD_KEY[0], aws_secret_access_key=GOOD_KEY[1], region_name="eu-west-1"
    )
    ecs = session.client(
        "ecs", endpoint_url=guarded_shim.url, config=botocore.config.Config(retries={"max_attempts": 0})
    )
    arn = ecs.create_cluster(clusterName=unique_name("signed"))["cluster"]["clusterArn"]
    assert arn.startswith("arn:aws:ecs:eu-west-1:123456789012:cluster/")
