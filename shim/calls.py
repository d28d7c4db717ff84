"""What every ECS operation handler receives and returns: the contract between the protocol layer,
which makes a `Call` of each request, and the handlers, which answer it. It imports no layer, so
both can."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Params = dict[str, Any]
Response = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One ECS API call: its operation, validated input members, and where it is made."""

    operation: str
    params: Params
    region: str
    account: str
    request_id: str


Handler = Callable[[Call], Response]
