"""The CloudWatch Logs API on the server's endpoint, through boto3's `logs` client and the AWS CLI
(`aws logs ...` with AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, the variable named after the service id
"CloudWatch Logs"), every response checked against botocore's `logs` model: log groups,
retention, streams, events and CloudWatch's paging, its errors, state that survives a restart,
any input answered without a server fault, and the awslogs log driver (streams named as ECS names
them; output copied from the container runtime on the real node, none on simulated nodes)."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.kube.client import KubeClients
from shim.schemas.responses import output_problems
from tests.integration.conftest import (
    FAST_WAITER,
    JSON_1_1,
    ShimServer,
    WireResponse,
    ecs_error,
    eventually,
    kube_json,
    task_id_of_arn,
    unique_name,
)

T0 = 1_700_000_000_000
"""Event timestamps of the tests that write their own events (milliseconds)."""


def check_logs_response(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    """A botocore `before-parse` hook: each response carries a request id and is either a body of
    the operation's output shape in botocore's `logs` model or an error envelope, never a 5xx."""
    assert response_dict["headers"].get("x-amzn-RequestId")
    body = json.loads(response_dict["body"]) if response_dict["body"] else {}
    if response_dict["status_code"] == 200:
        assert output_problems(operation_model.name, body, "logs") == [], body
    else:
        assert response_dict["status_code"] < 500 and set(body) == {"__type", "message"}, body


def logs_client(url: str, key: tuple[str, str] = ("AKIDEXAMPLE", "secret")) -> Any:
    client = boto3.client(
        "logs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=botocore.config.Config(retries={"max_attempts": 0}),
    )
    client.meta.events.register("before-parse.logs.*", check_logs_response)
    return client


@pytest.fixture(scope="module")
def logs(shim: ShimServer) -> Any:
    return logs_client(shim.url)


def aws_logs(url: str, *args: str) -> Any:
    """`aws logs ARGS --output json` through the real AWS CLI, pointed at the server by
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS; its decoded output."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": url,
    }
    aws = str(Path(sys.executable).with_name("aws"))
    done = subprocess.run([aws, "logs", *args, "--output", "json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture
def group(logs: Any) -> Iterator[str]:
    name = f"/ecs/{unique_name('it')}"
    logs.create_log_group(logGroupName=name)
    yield name
    logs.delete_log_group(logGroupName=name)


def put(logs: Any, group: str, stream: str, messages: list[str], start: int = T0) -> None:
    events = [{"timestamp": start + index, "message": message} for index, message in enumerate(messages)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def messages(events: list[dict[str, Any]]) -> list[str]:
    return [event["message"] for event in events]


# Log groups


def test_log_group_is_created_described_and_deleted(logs: Any) -> None:
    name = f"/ecs/{unique_name('it')}"
    logs.create_log_group(logGroupName=name)
    [described] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert described["logGroupName"] == name
    assert described["arn"] == f"arn:aws:logs:us-east-1:123456789012:log-group:{name}:*"
    assert "retentionInDays" not in described
    error = ecs_error(logs.create_log_group, logGroupName=name)
    assert error["Code"] == "ResourceAlreadyExistsException"
    logs.delete_log_group(logGroupName=name)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []
    assert ecs_error(logs.delete_log_group, logGroupName=name) == {
        "Code": "ResourceNotFoundException",
        "Message": "The specified log group does not exist.",
    }


def test_retention_is_stored_and_shown(logs: Any, group: str) -> None:
    logs.put_retention_policy(logGroupName=group, retentionInDays=14)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 14
    error = ecs_error(logs.put_retention_policy, logGroupName=group, retentionInDays=2)
    assert error["Code"] == "InvalidParameterException"
    assert "Member must satisfy enum value set: [1, 3, 5, 7, 14" in error["Message"]
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]


def test_log_groups_are_paged_in_name_order(logs: Any) -> None:
    prefix = f"/paged/{unique_name('it')}/"
    created = [f"{prefix}{letter}" for letter in "dacb"]
    for name in created:
        logs.create_log_group(logGroupName=name)
    try:
        pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix, limit=3)
        sizes, names = [], []
        for page in pages:
            sizes.append(len(page["logGroups"]))
            names += [group["logGroupName"] for group in page["logGroups"]]
        assert (sizes, names) == ([3, 1], sorted(created))
    finally:
        for name in created:
            logs.delete_log_group(logGroupName=name)


def test_unknown_group_is_resource_not_found_everywhere(logs: Any) -> None:
    missing = f"/ecs/{unique_name('missing')}"
    expected = {"Code": "ResourceNotFoundException", "Message": "The specified log group does not exist."}
    assert ecs_error(logs.describe_log_streams, logGroupName=missing) == expected
    assert ecs_error(logs.get_log_events, logGroupName=missing, logStreamName="s") == expected
    assert ecs_error(logs.filter_log_events, logGroupName=missing) == expected
    assert ecs_error(logs.put_retention_policy, logGroupName=missing, retentionInDays=1) == expected
    assert ecs_error(logs.create_log_stream, logGroupName=missing, logStreamName="s") == expected


def test_invalid_group_name_is_an_invalid_parameter(logs: Any) -> None:
    error = ecs_error(logs.create_log_group, logGroupName="has space")
    assert error["Code"] == "InvalidParameterException"
    assert "Member must satisfy regular expression pattern" in error["Message"]


# Streams and events


def test_empty_stream_answers_no_events_and_tokens_that_stay_put(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="empty")
    first = logs.get_log_events(logGroupName=group, logStreamName="empty", startFromHead=True)
    assert first["events"] == []
    again = logs.get_log_events(logGroupName=group, logStreamName="empty", nextToken=first["nextForwardToken"])
    assert again["events"] == []
    assert again["nextForwardToken"] == first["nextForwardToken"]
    assert logs.filter_log_events(logGroupName=group)["events"] == []
    assert ecs_error(logs.get_log_events, logGroupName=group, logStreamName="absent") == {
        "Code": "ResourceNotFoundException",
        "Message": "The specified log stream does not exist.",
    }


def test_get_log_events_pages_forward_and_backward_as_cloudwatch(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="app")
    put(logs, group, "app", [f"line {index}" for index in range(7)])
    read: list[str] = []
    token = None
    while True:
        params = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName="app", limit=3, **params)
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        read += messages(page["events"])
        token = page["nextForwardToken"]
    assert read == [f"line {index}" for index in range(7)]
    put(logs, group, "app", ["line 7"], start=T0 + 7)
    later = logs.get_log_events(logGroupName=group, logStreamName="app", nextToken=token)
    assert messages(later["events"]) == ["line 7"]

    tail = logs.get_log_events(logGroupName=group, logStreamName="app", limit=3)
    assert messages(tail["events"]) == ["line 5", "line 6", "line 7"]
    before = logs.get_log_events(logGroupName=group, logStreamName="app", limit=3, nextToken=tail["nextBackwardToken"])
    assert messages(before["events"]) == ["line 2", "line 3", "line 4"]
    assert [event["timestamp"] for event in before["events"]] == [T0 + 2, T0 + 3, T0 + 4]


def test_get_log_events_time_range(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="app")
    put(logs, group, "app", [f"line {index}" for index in range(5)])
    page = logs.get_log_events(
        logGroupName=group, logStreamName="app", startTime=T0 + 1, endTime=T0 + 3, startFromHead=True
    )
    assert messages(page["events"]) == ["line 1", "line 2"]


def test_bad_token_is_an_invalid_parameter(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="app")
    expected = {"Code": "InvalidParameterException", "Message": "The specified nextToken is invalid."}
    assert ecs_error(logs.get_log_events, logGroupName=group, logStreamName="app", nextToken="nonsense") == expected
    assert ecs_error(logs.filter_log_events, logGroupName=group, nextToken="nonsense") == expected
    assert ecs_error(logs.describe_log_streams, logGroupName=group, nextToken="nonsense") == expected


def test_describe_log_streams_orders_filters_and_pages(logs: Any, group: str) -> None:
    for stream, start in (("web/b", T0 + 30), ("web/a", T0 + 10), ("worker/c", T0 + 20)):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        put(logs, group, stream, ["hello"], start=start)

    def names(**params: Any) -> list[str]:
        pages = logs.get_paginator("describe_log_streams").paginate(logGroupName=group, **params)
        return [stream["logStreamName"] for page in pages for stream in page["logStreams"]]

    assert names() == ["web/a", "web/b", "worker/c"]
    assert names(logStreamNamePrefix="web/", limit=1) == ["web/a", "web/b"]
    assert names(descending=True, limit=2) == ["worker/c", "web/b", "web/a"]
    assert names(orderBy="LastEventTime") == ["web/a", "worker/c", "web/b"]
    assert names(orderBy="LastEventTime", descending=True, limit=1) == ["web/b", "worker/c", "web/a"]
    [described] = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="web/a")["logStreams"]
    assert (described["firstEventTimestamp"], described["lastEventTimestamp"]) == (T0 + 10, T0 + 10)
    error = ecs_error(logs.describe_log_streams, logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="w")
    assert error == {
        "Code": "InvalidParameterException",
        "Message": "Cannot order by LastEventTime with a logStreamNamePrefix.",
    }


def test_filter_log_events_terms_phrases_streams_time_and_pages(logs: Any, group: str) -> None:
    for stream in ("web/1", "web/2", "worker/1"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    put(logs, group, "web/1", ["GET / 200", "ERROR db timeout", "GET /a 200"])
    put(logs, group, "web/2", ["ERROR disk full", "GET /b 500"], start=T0 + 10)
    put(logs, group, "worker/1", ["ERROR db timeout again"], start=T0 + 20)

    def found(**params: Any) -> list[tuple[str, str]]:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, **params)
        return [(event["logStreamName"], event["message"]) for page in pages for event in page["events"]]

    assert found(filterPattern="ERROR") == [
        ("web/1", "ERROR db timeout"),
        ("web/2", "ERROR disk full"),
        ("worker/1", "ERROR db timeout again"),
    ]
    assert found(filterPattern='"db timeout"', logStreamNamePrefix="web/") == [("web/1", "ERROR db timeout")]
    assert found(filterPattern="GET 200", logStreamNames=["web/1", "web/2"]) == [
        ("web/1", "GET / 200"),
        ("web/1", "GET /a 200"),
    ]
    assert found(startTime=T0 + 2, endTime=T0 + 11) == [("web/1", "GET /a 200"), ("web/2", "ERROR disk full")]
    everything = found(PaginationConfig={"PageSize": 2})
    assert len(everything) == 6 and len(set(everything)) == 6
    page = logs.filter_log_events(logGroupName=group, limit=2)
    assert len(page["events"]) == 2 and page["nextToken"]
    assert len({event["eventId"] for event in page["events"]}) == 2
    error = ecs_error(logs.filter_log_events, logGroupName=group, filterPattern='"unbalanced')
    assert error["Code"] == "InvalidParameterException"


def test_deleting_a_group_deletes_its_streams(logs: Any) -> None:
    name = f"/ecs/{unique_name('it')}"
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="app")
    put(logs, name, "app", ["old"])
    logs.delete_log_group(logGroupName=name)
    logs.create_log_group(logGroupName=name)
    try:
        assert logs.describe_log_streams(logGroupName=name)["logStreams"] == []
    finally:
        logs.delete_log_group(logGroupName=name)


def test_aws_cli_reads_groups_streams_and_events(shim: ShimServer, logs: Any, group: str) -> None:
    aws_logs(shim.url, "create-log-stream", "--log-group-name", group, "--log-stream-name", "cli")
    put(logs, group, "cli", ["hello from the CLI", "ERROR something"])
    groups = aws_logs(shim.url, "describe-log-groups", "--log-group-name-prefix", group)
    assert [found["logGroupName"] for found in groups["logGroups"]] == [group]
    events = aws_logs(shim.url, "get-log-events", "--log-group-name", group, "--log-stream-name", "cli")
    assert messages(events["events"]) == ["hello from the CLI", "ERROR something"]
    filtered = aws_logs(shim.url, "filter-log-events", "--log-group-name", group, "--filter-pattern", "ERROR")
    assert messages(filtered["events"]) == ["ERROR something"]
    streams = aws_logs(shim.url, "describe-log-streams", "--log-group-name", group)
    assert [stream["logStreamName"] for stream in streams["logStreams"]] == ["cli"]


def test_logs_survive_a_server_restart(kube: KubeClients) -> None:
    server = ShimServer().start()
    try:
        logs = logs_client(server.url)
        name = f"/ecs/{unique_name('restart')}"
        logs.create_log_group(logGroupName=name)
        logs.put_retention_policy(logGroupName=name, retentionInDays=3653)
        logs.create_log_stream(logGroupName=name, logStreamName="app")
        put(logs, name, "app", ["before the restart"])
        server.restart()
        logs = logs_client(server.url)
        assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["retentionInDays"] == 3653
        page = logs.get_log_events(logGroupName=name, logStreamName="app", startFromHead=True)
        assert messages(page["events"]) == ["before the restart"]
        logs.delete_log_group(logGroupName=name)
    finally:
        server.stop()


def test_a_key_mapped_to_a_kubernetes_identity_is_decided_by_rbac(tmp_path: Path) -> None:
    """Log groups are account-wide objects (`loggroups.ecs.shim.io`): a key mapped to a Kubernetes
    user without RBAC on them is refused with AccessDeniedException and changes nothing."""
    admin_key, confined_key = ("AKIDLOGSADMIN", "admin-secret"), ("AKIDLOGSCONFINED", "confined-secret")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[admin]\naws_access_key_id = {admin_key[0]}\naws_secret_access_key = {admin_key[1]}\n\n"
        f"[confined]\naws_access_key_id = {confined_key[0]}\naws_secret_access_key = {confined_key[1]}\n"
        f"kubernetes_user = {unique_name('logs-confined')}\n"
    )
    server = ShimServer("--credentials", str(credentials)).start()
    try:
        admin, confined = logs_client(server.url, admin_key), logs_client(server.url, confined_key)
        name = f"/ecs/{unique_name('rbac')}"
        error = ecs_error(confined.create_log_group, logGroupName=name)
        assert error["Code"] == "AccessDeniedException"
        assert "user/confined is not authorized to perform: logs:CreateLogGroup" in error["Message"]
        assert admin.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []
        admin.create_log_group(logGroupName=name)
        assert ecs_error(confined.describe_log_groups, logGroupNamePrefix=name)["Code"] == "AccessDeniedException"
        admin.delete_log_group(logGroupName=name)
    finally:
        server.stop()


# The awslogs log driver


def awslogs_task_definition(family: str, group: str, command: list[str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": "busybox",
        "memory": 64,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": group,
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "web",
                "awslogs-create-group": "true",
            },
        },
    }
    if command is not None:
        container["command"] = command
    return {"family": family, "containerDefinitions": [container]}


def test_awslogs_task_on_a_simulated_node_has_an_empty_stream(ecs: Any, logs: Any, ecs_cluster: str) -> None:
    group = f"/ecs/{unique_name('awslogs')}"
    family = unique_name("awslogs")
    ecs.register_task_definition(**awslogs_task_definition(family, group))
    task_arn = ecs.run_task(cluster=ecs_cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)
    stream = f"web/app/{task_id_of_arn(task_arn)}"

    def streams() -> list[str]:
        try:
            found = logs.describe_log_streams(logGroupName=group)["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [described["logStreamName"] for described in found]

    assert eventually(streams, timeout=30) == [stream]
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert page["events"] == []
    logs.delete_log_group(logGroupName=group)


def test_container_output_reaches_cloudwatch_and_outlives_pod_and_server(
    kube: KubeClients, ecs: Any, real_cluster: str
) -> None:
    server = ShimServer().start()
    try:
        logs = logs_client(server.url)
        group = f"/ecs/{unique_name('real')}"
        family = unique_name("awslogs")
        script = "for i in 1 2 3 4 5; do echo line $i; done; echo 'ERROR db timeout'; echo done"
        ecs.register_task_definition(**awslogs_task_definition(family, group, ["sh", "-c", script]))
        task_arn = ecs.run_task(cluster=real_cluster, taskDefinition=family)["tasks"][0]["taskArn"]
        ecs.get_waiter("tasks_stopped").wait(cluster=real_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)
        stream = f"web/app/{task_id_of_arn(task_arn)}"
        expected = [f"line {index}" for index in range(1, 6)] + ["ERROR db timeout", "done"]

        def copied() -> list[str]:
            try:
                page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
            except logs.exceptions.ResourceNotFoundException:
                return []
            return messages(page["events"])

        assert eventually(lambda: copied() == expected, timeout=30)
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, limit=2)
        assert messages(page["events"]) == ["line 1", "line 2"]
        stamps = [event["timestamp"] for event in copied_events(logs, group, stream)]
        assert stamps == sorted(stamps) and stamps[0] > 1_600_000_000_000

        def pod_gone() -> bool:
            task_id = task_id_of_arn(task_arn)
            pods = kube_json(kube.core.list_pod_for_all_namespaces, label_selector=f"ecs.shim.io/task-id={task_id}")
            return not pods["items"]

        eventually(pod_gone, timeout=60)
        server.restart()
        logs = logs_client(server.url)
        assert messages(copied_events(logs, group, stream)) == expected
        filtered = aws_logs(server.url, "filter-log-events", "--log-group-name", group, "--filter-pattern", "ERROR")
        assert messages(filtered["events"]) == ["ERROR db timeout"]
        events = aws_logs(server.url, "get-log-events", "--log-group-name", group, "--log-stream-name", stream)
        assert messages(events["events"]) == expected
        logs.delete_log_group(logGroupName=group)
    finally:
        server.stop()


def copied_events(logs: Any, group: str, stream: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)[
        "events"
    ]
    return events


# Any input: never a server fault


SERVED = (
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "CreateLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
)
LOGS_MODEL = botocore.session.get_session().get_service_model("logs")


def shape_values(shape: Any, group: str, member: str = "", depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON values for a `logs` model shape: mostly of its type, sometimes not; names of groups
    are the test's own (or start with it), so nothing another test made is touched."""
    if member in ("logGroupName", "logGroupIdentifier", "logGroupNamePrefix"):
        return st.one_of(st.just(group), st.text(max_size=6).map(lambda suffix: f"{group}-{suffix}"), st.integers())
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just({})
        members = {name: shape_values(child, group, name, depth + 1) for name, child in shape.members.items()}
        return st.fixed_dictionaries({}, optional=members)
    if kind == "list":
        return st.lists(shape_values(shape.member, group, member, depth + 1), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=5), shape_values(shape.value, group, member, depth + 1), max_size=2)
    enum = shape.metadata.get("enum")
    scalars: dict[str, st.SearchStrategy[Any]] = {
        "string": st.one_of(st.sampled_from(enum), st.text(max_size=5)) if enum else st.text(max_size=12),
        "integer": st.integers(-2, 12_000),
        "long": st.integers(-2, 2_000_000_000_000),
        "boolean": st.booleans(),
    }
    return st.one_of(scalars.get(kind, st.none()), st.none(), st.booleans(), st.text(max_size=3))


@pytest.mark.parametrize("operation", SERVED)
def test_any_input_gets_a_logs_answer_never_a_server_fault(shim: ShimServer, logs: Any, operation: str) -> None:
    group = f"/fuzz/{unique_name('it')}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    put(logs, group, "s", ["a b", 'c "d"'])

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(shape_values(LOGS_MODEL.operation_model(operation).input_shape, group))
    def answered(body: dict[str, Any]) -> None:
        response = logs_wire(shim.url, operation, body)
        assert response.status < 500, (body, response.body)
        if response.status == 200:
            assert output_problems(operation, response.body, "logs") == [], (body, response.body)
        else:
            assert set(response.body) == {"__type", "message"}, response.body

    try:
        answered()
    finally:
        for found in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
            logs.delete_log_group(logGroupName=found["logGroupName"])


def logs_wire(url: str, operation: str, body: dict[str, Any]) -> WireResponse:
    request = AWSRequest(
        method="POST",
        url=f"{url}/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": JSON_1_1, "X-Amz-Target": f"Logs_20140328.{operation}"},
    )
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "logs", "us-east-1").add_auth(request)
    response = requests.post(request.url, data=request.body, headers=dict(request.headers.items()), timeout=30)
    return WireResponse(response.status_code, response.headers, json.loads(response.content or b"null"))


def test_running_container_output_is_followed_line_by_line(ecs: Any, real_cluster: str, logs: Any) -> None:
    group = f"/ecs/{unique_name('follow')}"
    family = unique_name("awslogs")
    script = (
        "trap 'exit 0' TERM; i=0; while [ $i -lt 20 ]; do echo tick $i; i=$((i+1)); sleep 0.2; done; sleep 3600 & wait"
    )
    ecs.register_task_definition(**awslogs_task_definition(family, group, ["sh", "-c", script]))
    task_arn = ecs.run_task(cluster=real_cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    stream = f"web/app/{task_id_of_arn(task_arn)}"
    try:
        ecs.get_waiter("tasks_running").wait(cluster=real_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)
        followed: list[str] = []
        token: str | None = None

        def read_on() -> bool:
            nonlocal token
            try:
                params = {"nextToken": token} if token else {"startFromHead": True}
                page = logs.get_log_events(logGroupName=group, logStreamName=stream, **params)
            except logs.exceptions.ResourceNotFoundException:
                return False
            followed.extend(messages(page["events"]))
            token = page["nextForwardToken"]
            return len(followed) >= 20

        eventually(read_on, timeout=30, interval=0.5)
        assert followed == [f"tick {index}" for index in range(20)]
        again = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=token)
        assert again["events"] == [] and again["nextForwardToken"] == token
    finally:
        ecs.stop_task(cluster=real_cluster, task=task_arn)
        ecs.get_waiter("tasks_stopped").wait(cluster=real_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)
        logs.delete_log_group(logGroupName=group)
