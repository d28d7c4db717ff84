"""What several handlers read from a call the same way: the names a Describe call asks for, and
whether it includes tags."""

from shim.calls import Call
from shim.errors import InvalidParameterException


def requested(call: Call, member: str, limit: int, what: str, *, empty: str | None = None) -> list[str]:
    """The names or ARNs a Describe call asks for, at most `limit` of them, as ECS allows;
    `empty` is ECS's words when the list names nothing and ECS refuses that (botocore lets an
    empty list through)."""
    values: list[str] = call.params[member]
    if not values and empty is not None:
        raise InvalidParameterException(empty)
    if len(values) > limit:
        raise InvalidParameterException(f"Too many {what} requested: at most {limit}.")
    return values


def includes_tags(call: Call) -> bool:
    return "TAGS" in call.params.get("include", [])
