"""What several handlers read from a call the same way: the names a Describe call asks for, and
whether it includes tags."""

from shim.calls import Call
from shim.errors import InvalidParameterException

NOTHING_REQUESTED = {
    "tasks": "Tasks cannot be empty.",
    "containerInstances": "Container instance cannot be empty.",
}
"""ECS's words for a Describe call whose list names nothing, by member (botocore lets it through)."""


def requested(call: Call, member: str, limit: int, what: str) -> list[str]:
    """The names or ARNs a Describe call asks for, at most `limit` of them, as ECS allows."""
    values: list[str] = call.params[member]
    if not values and member in NOTHING_REQUESTED:
        raise InvalidParameterException(NOTHING_REQUESTED[member])
    if len(values) > limit:
        raise InvalidParameterException(f"Too many {what} requested: at most {limit}.")
    return values


def includes_tags(call: Call) -> bool:
    return "TAGS" in call.params.get("include", [])
