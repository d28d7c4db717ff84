"""One endpoint, several AWS services: X-Amz-Target's prefix (or, in Smithy RPC v2 CBOR, the
path) picks ECS, CloudWatch Logs, ECR or Cloud Map, each with its own handlers, botocore model
and SigV4 signing name; errors, request ids and the access log are shared."""

import datetime
import json
import logging
from pathlib import Path
from typing import Any

import cbor2
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shim.calls import Call, Handler, Response
from shim.config import Config
from shim.errors import InvalidParameterException, InvalidParameterValueException, NamespaceNotFound
from shim.protocol import rpc_v2_cbor
from shim.protocol.app import create_app
from shim.schemas.model import service_model
from shim.schemas.requests import validate_request
from shim.schemas.responses import output_problems

ACCESS_KEY = "AKIDSHIMTEST"
SECRET = "shim/secret+key"
ECS_PREFIX = "AmazonEC2ContainerServiceV20141113"
LOGS_PREFIX = "Logs_20140328"


def list_clusters(call: Call) -> Response:
    return {"clusterArns": [], "nextToken": call.service}


def describe_log_groups(call: Call) -> Response:
    return {"logGroups": [{"logGroupName": call.params.get("logGroupNamePrefix", "/"), "creationTime": 0}]}


LOGS_HANDLERS: dict[str, Handler] = {"DescribeLogGroups": describe_log_groups}


def app(credentials_file: str | None = None) -> FlaskClient:
    config = Config(region="us-east-1", account="111122223333", credentials_file=credentials_file)
    return create_app(config, {"ListClusters": list_clusters}, other_services={"logs": LOGS_HANDLERS}).test_client()


@pytest.fixture
def credentials_file(tmp_path: Path) -> str:
    path = tmp_path / "credentials"
    path.write_text(f"[shim]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET}\n")
    return str(path)


def post(client: FlaskClient, target: str, body: dict[str, Any], signing_name: str | None = None) -> TestResponse:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    if signing_name is not None:
        request = AWSRequest(method="POST", url="http://localhost/", data=data, headers=headers)
        SigV4Auth(Credentials(ACCESS_KEY, SECRET), signing_name, "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    return client.post("/", data=data, headers=headers)


def error_of(response: TestResponse) -> tuple[int, str, str]:
    body = response.get_json(force=True)
    return response.status_code, body["__type"], body["message"]


def test_target_prefix_picks_the_service() -> None:
    client = app()
    logs = post(client, f"{LOGS_PREFIX}.DescribeLogGroups", {"logGroupNamePrefix": "/ecs/"})
    assert logs.status_code == 200
    assert logs.get_json(force=True) == {"logGroups": [{"logGroupName": "/ecs/", "creationTime": 0}]}
    assert output_problems("DescribeLogGroups", logs.get_json(force=True), "logs") == []
    ecs = post(client, f"{ECS_PREFIX}.ListClusters", {})
    assert ecs.get_json(force=True)["nextToken"] == "ecs"
    assert logs.headers["x-amzn-RequestId"] != ecs.headers["x-amzn-RequestId"]


def test_requests_are_validated_against_the_services_own_model() -> None:
    status, code, message = error_of(post(app(), f"{LOGS_PREFIX}.DescribeLogGroups", {"limit": 51}))
    assert (status, code) == (400, "InvalidParameterException")
    assert message == (
        "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 50"
    )


def test_unserved_logs_operation_is_an_invalid_operation() -> None:
    assert error_of(post(app(), f"{LOGS_PREFIX}.PutMetricFilter", {})) == (
        400,
        "InvalidOperationException",
        "The operation PutMetricFilter is not supported by ecs-shim yet.",
    )


def test_unknown_logs_operation_names_the_service() -> None:
    assert error_of(post(app(), f"{LOGS_PREFIX}.LaunchRocket", {})) == (
        400,
        "UnknownOperationException",
        f"'{LOGS_PREFIX}.LaunchRocket' is not an Amazon CloudWatch Logs operation.",
    )


def test_handlers_for_operations_the_model_lacks_are_refused() -> None:
    with pytest.raises(ValueError, match="logs does not have: ListClusters"):
        create_app(Config(), {}, other_services={"logs": {"ListClusters": list_clusters}})


def test_logs_call_signed_for_logs_is_accepted(credentials_file: str) -> None:
    response = post(app(credentials_file), f"{LOGS_PREFIX}.DescribeLogGroups", {}, signing_name="logs")
    assert response.status_code == 200


def test_logs_call_signed_for_ecs_is_refused(credentials_file: str) -> None:
    assert error_of(post(app(credentials_file), f"{LOGS_PREFIX}.DescribeLogGroups", {}, signing_name="ecs")) == (
        403,
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'logs'. ",
    )


def test_ecs_call_signed_for_logs_is_refused(credentials_file: str) -> None:
    assert error_of(post(app(credentials_file), f"{ECS_PREFIX}.ListClusters", {}, signing_name="logs")) == (
        403,
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'ecs'. ",
    )


def test_access_log_names_the_logs_operation(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shim.access")
    post(app(), f"{LOGS_PREFIX}.DescribeLogGroups", {})
    lines = [json.loads(record.getMessage()) for record in caplog.records if record.name == "shim.access"]
    assert [(line["operation"], line["status"]) for line in lines] == [("logs:DescribeLogGroups", 200)]


def test_a_map_key_breaking_its_constraint_is_an_invalid_parameter() -> None:
    with pytest.raises(InvalidParameterException) as raised:
        validate_request("CreateLogGroup", {"logGroupName": "/ecs/web", "tags": {"": "empty key"}}, "logs")
    assert raised.value.message == (
        "1 validation error detected: Value '' at 'tags.' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


ECR_PREFIX = "AmazonEC2ContainerRegistry_V20150921"


def get_authorization_token(call: Call) -> Response:
    return {"authorizationData": [{"authorizationToken": "QVdTOnB3", "proxyEndpoint": call.service}]}


def ecr_app(credentials_file: str | None = None) -> FlaskClient:
    config = Config(region="us-east-1", account="111122223333", credentials_file=credentials_file)
    services = {"ecr": {"GetAuthorizationToken": get_authorization_token}}
    return create_app(config, {"ListClusters": list_clusters}, other_services=services).test_client()


def test_ecr_target_prefix_picks_ecr_and_its_model(credentials_file: str) -> None:
    response = post(ecr_app(credentials_file), f"{ECR_PREFIX}.GetAuthorizationToken", {}, signing_name="ecr")
    body = response.get_json(force=True)
    assert response.status_code == 200 and body["authorizationData"][0]["proxyEndpoint"] == "ecr"
    assert output_problems("GetAuthorizationToken", body, "ecr") == []
    assert error_of(post(ecr_app(), f"{ECR_PREFIX}.GetAuthorizationToken", {"registryIds": []}))[:2] == (
        400,
        "InvalidParameterException",
    )


def test_ecr_call_signed_for_ecs_is_refused(credentials_file: str) -> None:
    assert error_of(post(ecr_app(credentials_file), f"{ECR_PREFIX}.GetAuthorizationToken", {}, signing_name="ecs")) == (
        403,
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'ecr'. ",
    )


def test_ecr_on_a_server_without_a_registry_is_an_invalid_operation() -> None:
    assert error_of(post(app(), f"{ECR_PREFIX}.CreateRepository", {"repositoryName": "web"})) == (
        400,
        "InvalidOperationException",
        "This server does not serve Amazon ECR (ecs-shim serve --registry FILE serves it).",
    )


CLOUD_MAP_PREFIX = "Route53AutoNaming_v20170314"
CREATED = datetime.datetime(2026, 12, 7, 12, 0, 30, 500000, tzinfo=datetime.UTC)


def get_namespace(call: Call) -> Response:
    namespace = {"Id": call.params["Id"], "Name": "corp.local", "Type": "DNS_PRIVATE", "CreateDate": CREATED}
    return {"Namespace": namespace}


def cloud_map_app(credentials_file: str | None = None) -> FlaskClient:
    config = Config(region="us-east-1", account="111122223333", credentials_file=credentials_file)
    services = {"servicediscovery": {"GetNamespace": get_namespace}}
    return create_app(config, {"ListClusters": list_clusters}, other_services=services).test_client()


def cbor_exchange(client: FlaskClient, operation: str, params: dict[str, Any], signing_name: str | None = None) -> Any:
    """One call as botocore makes it in Smithy RPC v2 CBOR (its own serializer and parser): the
    parsed answer, and the raw response."""
    model = service_model("servicediscovery").operation_model(operation)
    serialized = RpcV2CBORSerializer().serialize_to_request(params, model)
    headers = dict(serialized["headers"])
    if signing_name is not None:
        url = f"http://localhost{serialized['url_path']}"
        request = AWSRequest(method="POST", url=url, data=serialized["body"], headers=headers)
        SigV4Auth(Credentials(ACCESS_KEY, SECRET), signing_name, "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    response = client.post(serialized["url_path"], data=serialized["body"], headers=headers)
    parsed = RpcV2CBORParser().parse(
        {"status_code": response.status_code, "headers": dict(response.headers), "body": response.data},
        model.output_shape,
    )
    return parsed, response


def test_cbor_call_reaches_its_handler_and_answers_in_cbor(credentials_file: str) -> None:
    parsed, response = cbor_exchange(
        cloud_map_app(credentials_file), "GetNamespace", {"Id": "ns-1"}, signing_name="servicediscovery"
    )
    assert response.status_code == 200
    assert (response.content_type, response.headers["smithy-protocol"]) == ("application/cbor", "rpc-v2-cbor")
    assert parsed["Namespace"]["Id"] == "ns-1"
    assert parsed["Namespace"]["CreateDate"] == CREATED, "a timestamp travels as CBOR tag 1, to the microsecond"
    assert response.headers["x-amzn-RequestId"]


def test_cbor_errors_are_cbor_envelopes_with_the_services_codes() -> None:
    client = cloud_map_app()
    parsed, response = cbor_exchange(client, "GetNamespace", {"Id": "n" * 256})
    assert (response.status_code, response.content_type) == (400, "application/cbor")
    assert parsed["Error"]["Code"] == "InvalidInput"
    _, unserved = cbor_exchange(client, "ListNamespaces", {})
    assert cbor2.loads(unserved.data)["__type"] == "InvalidInput"
    garbage = client.post(f"/service/{CLOUD_MAP_PREFIX}/operation/GetNamespace", data=b"\xff\x00")
    assert cbor2.loads(garbage.data)["__type"] == "SerializationException"
    unknown = client.post(f"/service/{CLOUD_MAP_PREFIX}/operation/Nope", data=cbor2.dumps({}))
    assert (unknown.status_code, cbor2.loads(unknown.data)["__type"]) == (400, "UnknownOperationException")


def test_cbor_call_signed_for_another_service_is_refused(credentials_file: str) -> None:
    parsed, response = cbor_exchange(cloud_map_app(credentials_file), "GetNamespace", {"Id": "ns-1"}, "ecs")
    assert (response.status_code, parsed["Error"]["Code"]) == (403, "InvalidSignatureException")


def test_cbor_request_timestamps_and_blobs_reach_handlers_as_json_would_carry_them() -> None:
    when = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    body = rpc_v2_cbor.decode_body(
        cbor2.dumps({"At": when, "Data": b"\x00\x01", "List": [{"At": when}]}, datetime_as_timestamp=True)
    )
    assert body == {"At": when.timestamp(), "Data": "AAE=", "List": [{"At": when.timestamp()}]}


def test_cbor_items_json_has_no_form_for_are_refused_not_faulted() -> None:
    client = cloud_map_app()
    for item in (cbor2.CBORTag(258, ["x"]), cbor2.CBORTag(999, 1), cbor2.undefined):
        response = client.post(
            f"/service/{CLOUD_MAP_PREFIX}/operation/GetNamespace", data=cbor2.dumps({"Id": "ns-1", "Filters": item})
        )
        assert (response.status_code, cbor2.loads(response.data)["__type"]) == (400, "SerializationException")


def test_errors_take_the_http_status_the_services_model_gives_them() -> None:
    def missing(call: Call) -> Response:
        raise NamespaceNotFound("No namespace exists with the ID ns-1.")

    config = Config(region="us-east-1", account="111122223333")
    client = create_app(config, {}, other_services={"servicediscovery": {"GetNamespace": missing}}).test_client()
    parsed, response = cbor_exchange(client, "GetNamespace", {"Id": "ns-1"})
    assert (response.status_code, parsed["Error"]["Code"]) == (404, "NamespaceNotFound")


def test_cloudwatch_is_signed_as_monitoring_and_its_errors_carry_their_query_codes(credentials_file: str) -> None:
    def refuse(call: Call) -> Response:
        raise InvalidParameterValueException("The parameter Period must be a multiple of 60.")

    config = Config(region="us-east-1", account="111122223333", credentials_file=credentials_file)
    client = create_app(config, {}, other_services={"cloudwatch": {"GetMetricStatistics": refuse}}).test_client()
    target = "GraniteServiceVersion20100801.GetMetricStatistics"
    response = post(client, target, {}, signing_name="monitoring")
    assert error_of(response)[:2] == (400, "InvalidParameterValueException")
    assert response.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender", "botocore reads the code there"
    assert error_of(post(client, target, {}, signing_name="cloudwatch"))[:2] == (403, "InvalidSignatureException")
