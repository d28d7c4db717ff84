"""What every ECS operation handler receives and returns."""

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
