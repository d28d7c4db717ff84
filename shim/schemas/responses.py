"""Response checking: does a response body match its operation's output shape in botocore's model?

Used by tests on every response the server sends, so a handler that drifts from what boto3
expects is caught by name and path rather than by a confused client.
"""

from collections.abc import Iterator
from typing import Any

from botocore.model import Shape

from shim.schemas.model import ECS, output_shape

_EPOCH_SECONDS_LIMIT = 100_000_000_000
"""Year 5138 in epoch seconds: larger timestamps are almost surely milliseconds."""


def output_problems(operation: str, response: dict[str, Any], service: str = ECS) -> list[str]:
    """Every way `response`, the decoded JSON body as sent on the wire, breaks the output shape
    of `service`'s `operation` (an operation without one answers an empty object).

    Checked recursively: required members present, no unknown members, JSON types right,
    enum values legal, timestamps as epoch-seconds numbers, no nulls (AWS omits absent members).
    """
    shape = output_shape(operation, service)
    if shape is None:
        return [] if response == {} else [f"$: {operation} has no output, got {response!r}"]
    return list(_problems(shape, response, "$"))


def _problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if value is None:
        yield f"{path}: null (omit an absent member instead)"
        return
    if shape.type_name == "structure":
        yield from _structure_problems(shape, value, path)
    elif shape.type_name == "list":
        yield from _list_problems(shape, value, path)
    elif shape.type_name == "map":
        yield from _map_problems(shape, value, path)
    else:
        yield from _scalar_problems(shape, value, path)


def _structure_problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if shape.is_document_type:
        return
    if not isinstance(value, dict):
        yield f"{path}: expected an object ({shape.name}), got {_json_type(value)}"
        return
    for name in shape.required_members:
        if name not in value:
            yield f"{path}.{name}: required member missing"
    for name, member in value.items():
        if name not in shape.members:
            yield f"{path}.{name}: not a member of {shape.name}"
        else:
            yield from _problems(shape.members[name], member, f"{path}.{name}")


def _list_problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, list):
        yield f"{path}: expected an array, got {_json_type(value)}"
        return
    for index, element in enumerate(value):
        yield from _problems(shape.member, element, f"{path}[{index}]")


def _map_problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, dict):
        yield f"{path}: expected an object (map), got {_json_type(value)}"
        return
    for key, element in value.items():
        yield from _problems(shape.value, element, f"{path}[{key!r}]")


def _scalar_problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    expected = shape.type_name
    if expected == "string":
        if not isinstance(value, str):
            yield f"{path}: expected a string, got {_json_type(value)}"
        elif "enum" in shape.metadata and value not in shape.metadata["enum"]:
            yield f"{path}: {value!r} is not one of {', '.join(shape.metadata['enum'])}"
    elif expected == "boolean":
        if not isinstance(value, bool):
            yield f"{path}: expected a boolean, got {_json_type(value)}"
    elif expected in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            yield f"{path}: expected an integer, got {_json_type(value)}"
    elif isinstance(value, bool) or not isinstance(value, int | float):
        yield f"{path}: expected a number ({expected}), got {_json_type(value)}"
    elif expected == "timestamp" and abs(value) >= _EPOCH_SECONDS_LIMIT:
        yield f"{path}: {value} is not epoch seconds (milliseconds?)"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
