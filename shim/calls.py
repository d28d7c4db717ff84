"""What every operation handler (ECS, CloudWatch Logs) receives and returns: the contract between the protocol layer,
which makes a `Call` of each request, and the handlers, which answer it. It imports no layer, so
both can."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Params = dict[str, Any]
Response = dict[str, Any]


@dataclass(frozen=True)
class Caller:
    """Who signed a call, when the server maps access keys to identities: an IAM user name as ECS
    names it in a denial, and the Kubernetes user and groups the call is made as."""

    iam_user: str
    user: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Call:
    """One API call: its operation, validated input members, and where it is made."""

    operation: str
    params: Params
    region: str
    account: str
    request_id: str
    caller: Caller | None = None
    """None: the call is made with the server's own Kubernetes identity (no credentials file,
    or a key mapped to no Kubernetes user)."""
    service: str = "ecs"
    """The AWS service the call is to, by its SigV4 signing name: `ecs` or `logs`."""
    stream_base: str | None = None
    """Where the client reached the server, as a WebSocket URL base (`ws://host:port`, `wss://`
    behind TLS): ExecuteCommand's session stream is there."""


Handler = Callable[[Call], Response]
