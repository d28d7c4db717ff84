"""ECS Exec: ExecuteCommand, and the sessions it opens.

ExecuteCommand checks the task and container as ECS does and answers with a session: a
WebSocket URL on this server (`/exec/<session id>`) and a signed token (translate/
execute_command.py). The session-manager-plugin then opens the WebSocket; `open_session` checks
the token and runs the command in the task's pod through the API server's exec subresource
(kube/exec.py), the kubelet taking the place of ECS's SSM agent."""

import secrets
import time
from functools import partial

from shim.calls import Call, Handler, Response
from shim.errors import InvalidParameterException
from shim.kube.exec import ExecFailed
from shim.kube.store import Store
from shim.operations.clusters import active_cluster
from shim.operations.tasks import new_task_view
from shim.sessions import CommandStream, SessionRefused
from shim.translate import names
from shim.translate.container_instances import is_simulated
from shim.translate.execute_command import (
    INTERACTIVE_ONLY,
    NOT_ENABLED,
    SESSION_ID_PREFIX,
    TOKEN_SECONDS,
    ExecSession,
    chosen_container,
    command_arguments,
    session_token,
    token_cluster,
    verified_session,
)
from shim.translate.task_from_pod import executes_commands, is_stopped
from shim.translate.task_to_pod import kube_name, pod_name

TASK_NOT_FOUND = "The referenced task was not found."
SESSION_ENDED = "The session's task or container is no longer running."
SIMULATED = (
    "The command cannot run: the task runs on a simulated node (kwok), whose containers run no process. "
    "Run the task on a node with a container runtime (on the local cluster, in the ECS cluster real)."
)
BAD_TOKEN = "The session token is not valid or has expired: run execute-command again."


def execute_command(store: Store, call: Call) -> Response:
    params = call.params
    if not params["interactive"]:
        raise InvalidParameterException(INTERACTIVE_ONLY)
    command = command_arguments(params["command"])
    cluster_name = active_cluster(store, call)["clusterName"]
    namespace = names.cluster_namespace(cluster_name)
    task_id = names.cluster_resource_id(params["task"], cluster_name, call.region, call.account)
    pod = store.task_pod(namespace, task_id)
    if pod is None and store.task_record(namespace, task_id) is None:
        raise InvalidParameterException(TASK_NOT_FOUND)
    if pod is None or is_stopped(pod) or not executes_commands(pod):
        raise InvalidParameterException(NOT_ENABLED)
    view = new_task_view(call, cluster_name, pod)
    if view["desiredStatus"] == "STOPPED":  # stopping: its agents are going with it
        raise InvalidParameterException(NOT_ENABLED)
    containers = {container["name"]: container for container in view["containers"]}
    container = containers[chosen_container(list(containers), params.get("container"))]
    if container["lastStatus"] != "RUNNING":
        raise InvalidParameterException(NOT_ENABLED)
    session_id = SESSION_ID_PREFIX + secrets.token_hex(8)
    session = ExecSession(
        session_id=session_id,
        cluster_name=cluster_name,
        task_id=task_id,
        container=kube_name(container["name"]),
        command=command,
        expires=time.time() + TOKEN_SECONDS,
    )
    return {
        "clusterArn": view["clusterArn"],
        "taskArn": view["taskArn"],
        "containerArn": container["containerArn"],
        "containerName": container["name"],
        "interactive": True,
        "session": {
            "sessionId": session_id,
            "streamUrl": f"{call.stream_base or 'ws://localhost'}/exec/{session_id}",
            "tokenValue": session_token(session, store.exec_signing_key(namespace)),
        },
    }


def open_session(store: Store, session_id: str, token: str) -> CommandStream:
    """The command of a session ExecuteCommand handed out, running (SessionRefused: it cannot)."""
    cluster_name = token_cluster(token)
    if cluster_name is None:
        raise SessionRefused(BAD_TOKEN)
    namespace = names.cluster_namespace(cluster_name)
    session = verified_session(token, session_id, store.exec_signing_key(namespace), time.time())
    if session is None:
        raise SessionRefused(BAD_TOKEN)
    pod = store.read_pod(namespace, pod_name(session.task_id))
    if pod is None or is_stopped(pod):
        raise SessionRefused(SESSION_ENDED)
    node = store.node_of(pod)
    if node is not None and is_simulated(node):
        raise SessionRefused(SIMULATED)
    try:
        return store.run_in_pod(namespace, pod["metadata"]["name"], session.container, session.command)
    except ExecFailed as error:
        raise SessionRefused(f"The command could not be run in the container: {error}") from None


def handlers(store: Store) -> dict[str, Handler]:
    return {"ExecuteCommand": partial(execute_command, store)}
