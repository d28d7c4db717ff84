import datetime
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from shim.calls import Call, Handler, Response
from shim.config import Config
from shim.errors import ClusterNotFoundException
from shim.protocol.app import create_app
from shim.schemas.responses import output_problems
from shim.translate.names import cluster_arn, task_arn

ACCESS_KEY = "AKIDSHIMTEST"
SECRET = "shim/secret+key"
PREFIX = "AmazonEC2ContainerServiceV20141113"
CREATED_AT = datetime.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=datetime.UTC)


def list_clusters(call: Call) -> Response:
    return {"clusterArns": [cluster_arn(call.region, call.account, "default")], "nextToken": call.request_id}


def describe_tasks(call: Call) -> Response:
    cluster = call.params.get("cluster", "default")
    tasks = [
        {
            "taskArn": task_arn(call.region, call.account, cluster, task),
            "lastStatus": "RUNNING",
            "createdAt": CREATED_AT,
        }
        for task in call.params["tasks"]
    ]
    return {"tasks": tasks, "failures": []}


def delete_cluster(call: Call) -> Response:
    raise ClusterNotFoundException(f"Cluster {call.params['cluster']} not found.")


def create_cluster(call: Call) -> Response:
    raise RuntimeError("the database password is hunter2")


HANDLERS: dict[str, Handler] = {
    "ListClusters": list_clusters,
    "DescribeTasks": describe_tasks,
    "DeleteCluster": delete_cluster,
    "CreateCluster": create_cluster,
}


@pytest.fixture
def credentials_file(tmp_path: Path) -> str:
    path = tmp_path / "credentials"
    path.write_text(f"[shim]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET}\n")
    return str(path)


@pytest.fixture
def open_client() -> FlaskClient:
    return create_app(Config(region="us-east-1", account="111122223333"), HANDLERS).test_client()


@pytest.fixture
def signed_client(credentials_file: str) -> FlaskClient:
    config = Config(region="us-east-1", account="111122223333", credentials_file=credentials_file)
    return create_app(config, HANDLERS).test_client()


def call(
    client: FlaskClient,
    operation: str | None,
    body: bytes | dict[str, Any] = b"",
    *,
    signer: tuple[str, str, str] | None = None,
) -> TestResponse:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if operation is not None:
        headers["X-Amz-Target"] = f"{PREFIX}.{operation}"
    if signer is not None:
        access_key, secret, region = signer
        request = AWSRequest(method="POST", url="http://localhost/", data=data, headers=headers)
        SigV4Auth(Credentials(access_key, secret), "ecs", region).add_auth(request)
        headers = dict(request.headers.items())
    return client.post("/", data=data, headers=headers)


def error_of(response: TestResponse) -> tuple[int, str, str]:
    body = response.get_json(force=True)
    return response.status_code, body["__type"], body["message"]


def test_healthz_answers_ok(open_client: FlaskClient) -> None:
    response = open_client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


def test_unsigned_request_is_served_when_no_credentials_are_configured(open_client: FlaskClient) -> None:
    response = call(open_client, "ListClusters")
    assert response.status_code == 200
    assert response.content_type == "application/x-amz-json-1.1"
    assert response.get_json(force=True)["clusterArns"] == ["arn:aws:ecs:us-east-1:111122223333:cluster/default"]


def test_call_carries_the_request_id_sent_back_in_the_header(open_client: FlaskClient) -> None:
    response = call(open_client, "ListClusters", {})
    assert response.get_json(force=True)["nextToken"] == response.headers["x-amzn-RequestId"]


def test_region_comes_from_the_signature_scope(signed_client: FlaskClient) -> None:
    response = call(signed_client, "ListClusters", signer=(ACCESS_KEY, SECRET, "eu-west-3"))
    assert response.status_code == 200
    assert response.get_json(force=True)["clusterArns"] == ["arn:aws:ecs:eu-west-3:111122223333:cluster/default"]


def test_signature_scope_region_counts_without_credentials_too(open_client: FlaskClient) -> None:
    response = call(open_client, "ListClusters", signer=("ANYKEY", "any-secret", "sa-east-1"))
    assert response.get_json(force=True)["clusterArns"] == ["arn:aws:ecs:sa-east-1:111122223333:cluster/default"]


def test_missing_signature_is_refused_when_credentials_are_configured(signed_client: FlaskClient) -> None:
    assert error_of(call(signed_client, "ListClusters")) == (
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )


def test_wrong_secret_is_an_invalid_signature(signed_client: FlaskClient) -> None:
    status, code, _ = error_of(call(signed_client, "ListClusters", signer=(ACCESS_KEY, "guess", "us-east-1")))
    assert (status, code) == (403, "InvalidSignatureException")


def test_unknown_access_key_is_unrecognized(signed_client: FlaskClient) -> None:
    status, code, _ = error_of(call(signed_client, "ListClusters", signer=("AKIDOTHER", SECRET, "us-east-1")))
    assert (status, code) == (403, "UnrecognizedClientException")


def test_malformed_authorization_is_an_incomplete_signature(signed_client: FlaskClient) -> None:
    response = signed_client.post(
        "/",
        data=b"{}",
        headers={"X-Amz-Target": f"{PREFIX}.ListClusters", "Authorization": "AWS4-HMAC-SHA256 Signature=00"},
    )
    status, code, message = error_of(response)
    assert (status, code) == (400, "IncompleteSignatureException")
    assert "requires 'Credential' parameter" in message


@pytest.mark.parametrize(
    "body", [b"{", b"{'cluster': 'a'}", b"NaN", b'{"maxResults": Infinity}', b"\xff\xfe"], ids=repr
)
def test_body_that_is_not_json_is_a_serialization_exception(open_client: FlaskClient, body: bytes) -> None:
    status, code, message = error_of(call(open_client, "ListClusters", body))
    assert (status, code) == (400, "SerializationException")
    assert message.startswith("The request body is not valid JSON")


@pytest.mark.parametrize("body", [b"[]", b'"ListClusters"', b"42", b"null"])
def test_body_that_is_not_an_object_is_a_serialization_exception(open_client: FlaskClient, body: bytes) -> None:
    assert error_of(call(open_client, "ListClusters", body)) == (
        400,
        "SerializationException",
        "The request body must be a JSON object.",
    )


def test_member_of_the_wrong_type_is_a_serialization_exception(open_client: FlaskClient) -> None:
    assert error_of(call(open_client, "ListClusters", {"maxResults": "10"})) == (
        400,
        "SerializationException",
        "STRING_VALUE can not be converted to an Integer at 'maxResults'.",
    )


def test_missing_required_member_is_an_invalid_parameter(open_client: FlaskClient) -> None:
    assert error_of(call(open_client, "DescribeTasks", {"cluster": "default"})) == (
        400,
        "InvalidParameterException",
        "1 validation error detected: Value null at 'tasks' failed to satisfy constraint: Member must not be null",
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (f"{PREFIX}.LaunchRocket", f"'{PREFIX}.LaunchRocket' is not an Amazon ECS operation."),
        ("DynamoDB_20120810.ListTables", "'DynamoDB_20120810.ListTables' is not an Amazon ECS operation."),
        (None, f"Missing X-Amz-Target header: expected '{PREFIX}.<Operation>'."),
    ],
)
def test_unknown_operation(open_client: FlaskClient, target: str | None, message: str) -> None:
    headers = {} if target is None else {"X-Amz-Target": target}
    response = open_client.post("/", data=b"{}", headers=headers)
    assert error_of(response) == (400, "UnknownOperationException", message)


def test_ecs_operation_without_a_handler_is_unsupported(open_client: FlaskClient) -> None:
    assert error_of(call(open_client, "CreateCapacityProvider", {})) == (
        400,
        "UnsupportedFeatureException",
        "The operation CreateCapacityProvider is not supported by ecs-shim yet.",
    )


def test_ecs_error_from_a_handler_keeps_its_code_and_message(open_client: FlaskClient) -> None:
    assert error_of(call(open_client, "DeleteCluster", {"cluster": "prod"})) == (
        400,
        "ClusterNotFoundException",
        "Cluster prod not found.",
    )


def test_unexpected_exception_is_a_server_exception_without_a_traceback(
    open_client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = call(open_client, "CreateCluster", {"clusterName": "prod"})
    request_id = response.headers["x-amzn-RequestId"]
    status, code, message = error_of(response)
    assert (status, code) == (500, "ServerException")
    assert request_id in message
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    logged = [record for record in caplog.records if record.exc_info]
    assert len(logged) == 1
    assert request_id in logged[0].getMessage()
    exc_info = logged[0].exc_info
    assert exc_info is not None
    assert "hunter2" in str(exc_info[1])


def test_datetimes_from_handlers_are_sent_as_epoch_seconds(open_client: FlaskClient) -> None:
    response = call(open_client, "DescribeTasks", {"cluster": "prod", "tasks": ["abc"]})
    body = response.get_json(force=True)
    assert body["tasks"][0]["createdAt"] == CREATED_AT.timestamp()
    assert output_problems("DescribeTasks", body) == []


@pytest.mark.parametrize(
    "send",
    [
        lambda client: client.get("/healthz"),
        lambda client: call(client, "ListClusters"),
        lambda client: call(client, "DeleteCluster", {"cluster": "a"}),
        lambda client: call(client, "CreateCluster"),
        lambda client: call(client, "ListClusters", b"{"),
        lambda client: call(client, None),
        lambda client: client.get("/no-such-page"),
        lambda client: client.get("/"),
    ],
    ids=[
        "healthz",
        "success",
        "ecs-error",
        "server-error",
        "bad-json",
        "no-target",
        "not-found",
        "wrong-method",
    ],
)
def test_every_response_carries_a_fresh_request_id(open_client: FlaskClient, send: Any) -> None:
    first, second = send(open_client), send(open_client)
    ids = {first.headers["x-amzn-RequestId"], second.headers["x-amzn-RequestId"]}
    assert len(ids) == 2
    assert all(uuid.UUID(request_id).version == 4 for request_id in ids)


def test_each_api_request_writes_one_access_log_line(
    open_client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shim.access")
    response = call(open_client, "DeleteCluster", {"cluster": "prod"})
    lines = [json.loads(record.getMessage()) for record in caplog.records if record.name == "shim.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["duration_ms"] >= 0
    del line["duration_ms"]
    assert line == {
        "operation": "DeleteCluster",
        "cluster": "prod",
        "status": 400,
        "request_id": response.headers["x-amzn-RequestId"],
    }


def test_handlers_for_operations_ecs_does_not_have_are_refused() -> None:
    with pytest.raises(ValueError, match="ListClustres"):
        create_app(Config(), {"ListClustres": list_clusters})


@pytest.fixture
def endpoint(credentials_file: str) -> Iterator[str]:
    app = create_app(Config(region="us-east-1", account="111122223333", credentials_file=credentials_file), HANDLERS)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def ecs_client(endpoint: str, access_key: str = ACCESS_KEY, secret: str = SECRET) -> Any:
    return boto3.session.Session().client(
        "ecs",
        endpoint_url=endpoint,
        region_name="ap-northeast-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=BotoConfig(retries={"total_max_attempts": 1}),
    )


def test_boto3_with_the_right_key_is_served(endpoint: str) -> None:
    ecs = ecs_client(endpoint)
    assert ecs.list_clusters()["clusterArns"] == ["arn:aws:ecs:ap-northeast-1:111122223333:cluster/default"]
    tasks = ecs.describe_tasks(cluster="prod", tasks=["abc"])["tasks"]
    assert tasks[0]["createdAt"] == CREATED_AT
    assert tasks[0]["taskArn"] == "arn:aws:ecs:ap-northeast-1:111122223333:task/prod/abc"


@pytest.mark.parametrize(
    ("access_key", "secret", "code"),
    [
        (ACCESS_KEY, "not-the-secret", "InvalidSignatureException"),
        ("AKIDNOBODY", SECRET, "UnrecognizedClientException"),
    ],
)
def test_boto3_with_a_wrong_key_is_refused(endpoint: str, access_key: str, secret: str, code: str) -> None:
    with pytest.raises(ClientError) as caught:
        ecs_client(endpoint, access_key, secret).list_clusters()
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_boto3_sees_handler_errors_by_code_and_message(endpoint: str) -> None:
    ecs = ecs_client(endpoint)
    with pytest.raises(ecs.exceptions.ClusterNotFoundException) as caught:
        ecs.delete_cluster(cluster="prod")
    assert caught.value.response["Error"]["Message"] == "Cluster prod not found."
    with pytest.raises(ecs.exceptions.ServerException) as server_error:
        ecs.create_cluster(clusterName="prod")
    assert server_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "hunter2" not in server_error.value.response["Error"]["Message"]


def test_other_paths_and_methods_get_the_json_error_envelope() -> None:
    app = create_app(Config(), {})
    client = app.test_client()
    for response in (client.get("/"), client.post("/v1/clusters"), client.put("/")):
        assert response.status_code in (404, 405)
        body = json.loads(response.data)
        assert body["__type"] == "UnknownOperationException"
        assert "POST /" in body["message"]
        assert response.headers["x-amzn-RequestId"]
