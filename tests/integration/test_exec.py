"""ECS Exec: `enableExecuteCommand` on tasks and services, ExecuteCommand's answers and errors, and
sessions into real containers through the real AWS CLI and session-manager-plugin.

The plugin is built from its source in the Go module proxy (tests/clients/session-manager-plugin)
and found by the CLI on PATH, as on a user's machine. Sessions run on the cluster's real node
(ECS cluster `real`); the tests that need it are skipped when the cluster has none. A protocol
test also drives the data channel with a client written from the plugin's message format, so a
change to the framing shows there even where the plugin's output hides it."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from shim.operations.execute_command import BAD_TOKEN, SIMULATED
from shim.protocol import session_manager
from shim.translate.execute_command import INTERACTIVE_ONLY, NOT_ENABLED
from tests.go_programs import build_go_program
from tests.integration.conftest import FAST_WAITER, REAL, ShimServer, ecs_error, eventually, unique_name

PLUGIN_MODULE = Path(__file__).parents[1] / "clients" / "session-manager-plugin"
IDLE = "trap 'exit 0' TERM; sleep 3600 & wait"
SESSION_SECONDS = 60


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH whose first directory holds the session-manager-plugin built from source."""
    directory = tmp_path_factory.mktemp("session-manager-plugin")
    build_go_program(PLUGIN_MODULE, directory / "session-manager-plugin")
    return f"{directory}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture(scope="module")
def idle_family(ecs: Any) -> str:
    family = unique_name("exec")
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64, "command": ["sh", "-c", IDLE]}],
    )
    return family


@pytest.fixture
def exec_task(ecs: Any, real_cluster: str, idle_family: str) -> Iterator[str]:
    """A running task on the real node, run with enableExecuteCommand."""
    arn = run_and_wait(ecs, real_cluster, idle_family, enableExecuteCommand=True)
    yield arn
    ecs.stop_task(cluster=real_cluster, task=arn)


def run_and_wait(ecs: Any, cluster: str, family: str, **params: Any) -> str:
    response = ecs.run_task(cluster=cluster, taskDefinition=family, **params)
    assert response["failures"] == []
    arn: str = response["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(cluster=cluster, tasks=[arn], WaiterConfig=FAST_WAITER)
    return arn


def execute_command(shim: ShimServer, plugin_path: str, task: str, command: str, typed: bytes = b"") -> str:
    """What `aws ecs execute-command --interactive` prints, typing `typed` once the session is open.
    Its standard input stays open until it exits: the plugin ends its session when input ends."""
    environment = {
        **os.environ,
        "PATH": plugin_path,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_ECS": shim.url,
    }
    aws = str(Path(sys.executable).with_name("aws"))
    arguments = ["ecs", "execute-command", "--cluster", REAL, "--task", task, "--interactive", "--command", command]
    with subprocess.Popen(
        [aws, *arguments],
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the CLI and the plugin it starts, killed together if they hang
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        if typed:
            time.sleep(3)  # the shell's prompt first
            process.stdin.write(typed)
            process.stdin.flush()
        try:
            process.wait(timeout=SESSION_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # else the plugin keeps the output open
            process.wait()
        output = process.stdout.read().decode(errors="replace")
        assert process.returncode == 0, output
        return output


@pytest.mark.usefixtures("responses_match_the_model")
def test_a_task_run_with_execute_command_shows_its_running_agent(ecs: Any, exec_task: str) -> None:
    task = ecs.describe_tasks(cluster=REAL, tasks=[exec_task])["tasks"][0]

    assert task["enableExecuteCommand"] is True
    [agent] = task["containers"][0]["managedAgents"]
    assert agent["name"] == "ExecuteCommandAgent"
    assert agent["lastStatus"] == "RUNNING"
    assert "lastStartedAt" in agent


def test_the_aws_cli_runs_a_command_in_the_task(shim: ShimServer, plugin_path: str, exec_task: str) -> None:
    output = execute_command(shim, plugin_path, exec_task, "sh -c 'echo hi; exit 0'")

    assert "Starting session with SessionId: ecs-execute-command-" in output
    assert "hi\r\n" in output
    assert "Exiting session with sessionId: ecs-execute-command-" in output


def test_a_failing_command_shows_its_exit_code(shim: ShimServer, plugin_path: str, exec_task: str) -> None:
    output = execute_command(shim, plugin_path, exec_task, "sh -c 'echo bye; exit 3'")

    assert "bye\r\n" in output
    assert "The command exited with code 3." in output


def test_an_interactive_shell_takes_what_the_user_types(shim: ShimServer, plugin_path: str, exec_task: str) -> None:
    output = execute_command(shim, plugin_path, exec_task, "sh", typed=b"echo $((6*7))\nexit 4\n")

    assert "\r\n42\r\n" in output
    assert "The command exited with code 4." in output


def test_the_data_channel_speaks_the_plugins_message_format(ecs: Any, exec_task: str) -> None:
    """Handshake, output, acknowledgements and channel_closed, as the plugin's source has them."""
    answer = ecs.execute_command(cluster=REAL, task=exec_task, interactive=True, command="sh -c 'echo hello'")
    session = answer["session"]
    assert session["streamUrl"].endswith(f"/exec/{session['sessionId']}")

    seen = ProtocolClient(session).run()

    assert [payload_type for payload_type, _ in seen[:2]] == [
        session_manager.HANDSHAKE_REQUEST,
        session_manager.HANDSHAKE_COMPLETE,
    ]
    handshake = json.loads(seen[0][1])
    assert handshake["RequestedClientActions"][0]["ActionParameters"]["SessionType"] == "InteractiveCommands"
    assert b"".join(payload for kind, payload in seen if kind == session_manager.OUTPUT) == b"hello\r\n"
    closed = json.loads(seen[-1][1])
    assert closed["MessageType"] == "channel_closed"
    assert closed["SessionId"] == session["sessionId"]
    assert closed["Output"] == ""


class ProtocolClient:
    """The client side of a data channel, as src/datachannel/streaming.go plays it."""

    def __init__(self, session: dict[str, str]) -> None:
        self.session = session
        self.socket = websocket.create_connection(session["streamUrl"], timeout=20)
        self.sequence = 0

    def run(self) -> list[tuple[int, bytes]]:
        """Each output_stream_data's payload type and payload, then channel_closed's payload."""
        opening = {"MessageSchemaVersion": "1.0", "RequestId": str(uuid.uuid4()), "ClientId": str(uuid.uuid4())}
        self.socket.send(json.dumps({**opening, "TokenValue": self.session["tokenValue"]}))
        seen: list[tuple[int, bytes]] = []
        expected = 0
        while True:
            received = self.socket.recv()
            assert isinstance(received, bytes), f"a text message after the opening: {received!r}"
            message = session_manager.decode(received)
            if message.message_type == session_manager.CHANNEL_CLOSED:
                seen.append((message.payload_type, message.payload))
                self.socket.close()
                return seen
            if message.message_type != session_manager.OUTPUT_STREAM:
                continue
            self.socket.send_binary(session_manager.encode(session_manager.acknowledgement(message)))
            if message.sequence_number != expected:
                continue  # sent again until acknowledged: taken once
            expected += 1
            seen.append((message.payload_type, message.payload))
            if message.payload_type == session_manager.HANDSHAKE_REQUEST:
                response = {"ClientVersion": "1.3.0.0", "ProcessedClientActions": [], "Errors": []}
                self.send_input(session_manager.HANDSHAKE_RESPONSE, json.dumps(response).encode())

    def send_input(self, payload_type: int, payload: bytes) -> None:
        message = session_manager.ClientMessage(session_manager.INPUT_STREAM, self.sequence, payload_type, payload)
        self.sequence += 1
        self.socket.send_binary(session_manager.encode(message))


# On simulated nodes: what ExecuteCommand answers and refuses, and the setting on services.


@pytest.fixture(scope="module")
def pair_family(ecs: Any) -> str:
    family = unique_name("exec-pair")
    container = {"image": "busybox", "memory": 32, "command": ["sh", "-c", IDLE]}
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "web", **container}, {"name": "sidecar", **container}]
    )
    return family


@pytest.mark.usefixtures("responses_match_the_model")
def test_execute_command_answers_a_session_on_this_server(
    ecs: Any, shim: ShimServer, ecs_cluster: str, pair_family: str
) -> None:
    arn = run_and_wait(ecs, ecs_cluster, pair_family, enableExecuteCommand=True)
    task = ecs.describe_tasks(cluster=ecs_cluster, tasks=[arn])["tasks"][0]

    answer = ecs.execute_command(cluster=ecs_cluster, task=arn, container="sidecar", interactive=True, command="sh")

    sidecar = next(container for container in task["containers"] if container["name"] == "sidecar")
    assert answer["clusterArn"] == task["clusterArn"]
    assert answer["taskArn"] == arn
    assert (answer["containerName"], answer["containerArn"]) == ("sidecar", sidecar["containerArn"])
    assert answer["interactive"] is True
    session = answer["session"]
    assert session["sessionId"].startswith("ecs-execute-command-")
    assert session["streamUrl"] == f"ws://{shim.url.removeprefix('http://')}/exec/{session['sessionId']}"
    assert session["tokenValue"]


def test_a_session_into_a_simulated_container_says_why_it_cannot_run(
    ecs: Any, ecs_cluster: str, pair_family: str
) -> None:
    arn = run_and_wait(ecs, ecs_cluster, pair_family, enableExecuteCommand=True)
    answer = ecs.execute_command(cluster=ecs_cluster, task=arn, container="web", interactive=True, command="sh")

    closed = json.loads(ProtocolClient(answer["session"]).run()[-1][1])

    assert closed["MessageType"] == "channel_closed"
    assert closed["Output"] == SIMULATED
    forged = {**answer["session"], "tokenValue": answer["session"]["tokenValue"][:-4] + "AAAA"}
    refused = json.loads(ProtocolClient(forged).run()[-1][1])
    assert refused["Output"] == BAD_TOKEN
    ecs.stop_task(cluster=ecs_cluster, task=arn)


def test_execute_command_refuses_what_ecs_refuses(ecs: Any, ecs_cluster: str, pair_family: str) -> None:
    enabled = run_and_wait(ecs, ecs_cluster, pair_family, enableExecuteCommand=True)
    plain = run_and_wait(ecs, ecs_cluster, pair_family)
    stopped = run_and_wait(ecs, ecs_cluster, pair_family, enableExecuteCommand=True)
    ecs.stop_task(cluster=ecs_cluster, task=stopped)

    def refusal(**params: Any) -> tuple[str, str]:
        error = ecs_error(ecs.execute_command, cluster=ecs_cluster, command="sh", **{"interactive": True, **params})
        return error["Code"], error["Message"]

    assert refusal(task=enabled, container="web", interactive=False) == ("InvalidParameterException", INTERACTIVE_ONLY)
    assert refusal(task=plain, container="web") == ("InvalidParameterException", NOT_ENABLED)
    assert refusal(task=stopped, container="web") == ("InvalidParameterException", NOT_ENABLED)
    assert refusal(task=enabled, container="db")[0] == "InvalidParameterException"
    assert "db" in refusal(task=enabled, container="db")[1]
    assert refusal(task=enabled)[0] == "InvalidParameterException"
    assert refusal(task=uuid.uuid4().hex, container="web") == (
        "InvalidParameterException",
        "The referenced task was not found.",
    )
    plain_task = ecs.describe_tasks(cluster=ecs_cluster, tasks=[plain])["tasks"][0]
    assert plain_task["enableExecuteCommand"] is False
    assert all("managedAgents" not in container for container in plain_task["containers"])


@pytest.mark.usefixtures("responses_match_the_model")
def test_a_service_keeps_execute_command_for_its_tasks(ecs: Any, ecs_cluster: str, pair_family: str) -> None:
    name = unique_name("exec-svc")
    ecs.create_service(
        cluster=ecs_cluster, serviceName=name, taskDefinition=pair_family, desiredCount=1, enableExecuteCommand=True
    )

    def task_arns() -> list[str]:
        arns: list[str] = ecs.list_tasks(cluster=ecs_cluster, serviceName=name)["taskArns"]
        return arns

    [arn] = eventually(task_arns)
    service = ecs.describe_services(cluster=ecs_cluster, services=[name])["services"][0]
    assert service["enableExecuteCommand"] is True
    assert ecs.describe_tasks(cluster=ecs_cluster, tasks=[arn])["tasks"][0]["enableExecuteCommand"] is True

    updated = ecs.update_service(cluster=ecs_cluster, service=name, enableExecuteCommand=False)["service"]

    assert updated["enableExecuteCommand"] is False
    ecs.delete_service(cluster=ecs_cluster, service=name, force=True)
