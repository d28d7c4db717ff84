"""ECS Exec: which container an ExecuteCommand call opens a session in, and the session's token.

The token ExecuteCommand returns (`session.tokenValue`) carries everything the WebSocket needs to
run the command: the session id, the task, the container, the command and when it expires,
signed with HMAC-SHA256 under a key kept in the ECS cluster's Namespace. Any server process
can so accept the session's WebSocket without anything stored per session; a token works only
for its own session id and until it expires (TOKEN_SECONDS), and nobody without the key can make
one. Pure: no I/O, the key and the time are given.
"""

import base64
import binascii
import hashlib
import hmac
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shim.errors import InvalidParameterException

TOKEN_SECONDS = 60
"""How long a session's token may be used to open its WebSocket (the plugin opens it at once)."""

SESSION_ID_PREFIX = "ecs-execute-command-"
INTERACTIVE_ONLY = "Interactive is the only mode supported currently."
NOT_ENABLED = (
    "The execute command failed because execute command was not enabled when the task was run or the "
    "execute command agent isn\u2019t running. Wait and try again or run a new task with execute command "
    "enabled and try again."
)


@dataclass(frozen=True)
class ExecSession:
    """What a session's token says: run `command` in `container` (its Kubernetes name) of the
    task's pod, in the ECS cluster's Namespace, until `expires` (epoch seconds)."""

    session_id: str
    cluster_name: str
    task_id: str
    container: str
    command: list[str]
    expires: float


def command_arguments(command: str) -> list[str]:
    """The argv of ExecuteCommand's `command`: split as a shell splits words, not run by a shell
    (ECS runs `sh -c '...'` when given that, as here)."""
    try:
        arguments = shlex.split(command)
    except ValueError as error:
        raise InvalidParameterException(f"The command could not be parsed: {error}.") from None
    if not arguments:
        raise InvalidParameterException("The command must not be empty.")
    return arguments


def chosen_container(container_names: Sequence[str], requested: str | None) -> str:
    """The ECS container a session opens in: the one named, or the task's only one."""
    if requested is not None:
        if requested not in container_names:
            raise InvalidParameterException(f"The container {requested} does not exist in the task.")
        return requested
    if len(container_names) != 1:
        raise InvalidParameterException(
            "The task has more than one container: specify the container to run the command in."
        )
    return container_names[0]


def session_token(session: ExecSession, key: bytes) -> str:
    """The signed token of `session`."""
    claims = _encode(json.dumps(asdict(session), separators=(",", ":"), sort_keys=True).encode())
    return f"{claims}.{_encode(_signature(claims, key))}"


def token_cluster(token: str) -> str | None:
    """The ECS cluster a token names, unverified: where its signing key is."""
    claims = _claims(token.partition(".")[0])
    cluster = claims.get("cluster_name") if claims else None
    return cluster if isinstance(cluster, str) else None


def verified_session(token: str, session_id: str, key: bytes, now: float) -> ExecSession | None:
    """The session a token opens: None unless signed with `key`, made for `session_id` and not
    expired at `now`."""
    encoded, _, signature = token.partition(".")
    try:
        given = base64.urlsafe_b64decode(_padded(signature))
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(given, _signature(encoded, key)):
        return None
    claims = _claims(encoded)
    try:
        session = ExecSession(**claims) if claims else None
    except TypeError:
        return None
    if session is None or session.session_id != session_id or session.expires < now:
        return None
    return session


def _signature(claims: str, key: bytes) -> bytes:
    return hmac.new(key, claims.encode(), hashlib.sha256).digest()


def _claims(encoded: str) -> Mapping[str, Any] | None:
    try:
        claims = json.loads(base64.urlsafe_b64decode(_padded(encoded)))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)
