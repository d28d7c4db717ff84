"""Request validation: every operation's input, checked against botocore's model of its service
(ECS, or CloudWatch Logs, which share AWS's JSON 1.1 conventions).

The marshmallow schemas are generated from botocore's input shapes at first use instead of
being written by hand: the model already describes all 88 operations' members, types, required
members, enums and length/range limits, and it is the very model boto3 and the AWS CLI
serialize requests with. One source of truth means no hand-written schema can drift from what
clients send, and a botocore upgrade brings new members and enum values with it.

Errors follow AWS's JSON services: a member of the wrong JSON type is a deserialization
failure (SerializationException, first one found); a request that deserializes but breaks the
model's constraints gets every violation listed in one InvalidParameterException, in the
phrasing AWS uses ("Value null at 'cluster' failed to satisfy constraint: Member must not be
null"), with member paths as AWS writes them (`tags.1.member.key`: lists count from 1).

Choices where ECS is silent:
- enum values outside the model are rejected (InvalidParameterException naming the allowed
  set), so handlers only ever see values they can map;
- JSON null for a structure member means "absent", as AWS treats it; null as a list element
  or map value is a type error;
- `pattern` constraints are not enforced: they are Java regexes (\\p{L}...) that Python's `re`
  does not read, and ECS checks names itself with friendlier messages;
- timestamps are epoch seconds (what botocore sends) and reach handlers as aware UTC datetimes.
"""

import datetime
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import Shape
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load

from shim.calls import Params
from shim.errors import (
    EcsError,
    InvalidInput,
    InvalidParameterException,
    InvalidParameterValueException,
    SerializationException,
    ValidationException,
)
from shim.schemas.model import APPLICATION_AUTOSCALING, CLOUD_MAP, CLOUDWATCH, ECS, input_shape, service_model

WRONG_TYPE = "wrong JSON type"
MUST_NOT_BE_NULL = "Member must not be null"

_FIELD_ERRORS = {"required": MUST_NOT_BE_NULL, "null": WRONG_TYPE, "invalid": WRONG_TYPE, "type": WRONG_TYPE}
_INT_BITS = {"integer": 32, "long": 64}
_TYPE_NAMES = {
    "string": "a String",
    "integer": "an Integer",
    "long": "a Long",
    "double": "a Double",
    "boolean": "a Boolean",
    "timestamp": "a Timestamp",
    "structure": "a Structure",
    "list": "a List",
    "map": "a Map",
}


def validate_request(operation: str, body: Mapping[str, Any], service: str = ECS) -> Params:
    """The validated input members of `service`'s `operation`: unknown members dropped, nulls dropped."""
    try:
        params: Params = _operation_schema(service, operation).load(body)
    except ValidationError as error:
        raise _refusal(list(_problems(error.messages, input_shape(operation, service), body, "")), service) from None
    return params


class _Structure(Schema):
    class Meta:
        unknown = EXCLUDE

    error_messages: dict[str, str] = {"type": WRONG_TYPE}  # noqa: RUF012 (marshmallow reads it here)

    @pre_load
    def _drop_nulls(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            return {name: value for name, value in data.items() if value is not None}
        return data


class _Integer(fields.Field):
    def __init__(self, bits: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = 2 ** (bits - 1)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not -self.limit <= value < self.limit:
            raise self.make_error("invalid")
        return value


class _Double(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return float(value)


class _Boolean(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class _Timestamp(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime.datetime:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        try:
            return datetime.datetime.fromtimestamp(value, datetime.UTC)
        except (OverflowError, OSError, ValueError):
            raise self.make_error("invalid") from None


@functools.cache
def _operation_schema(service: str, operation: str) -> Schema:
    return _structure_schema(service, input_shape(operation, service).name)


@functools.cache
def _structure_schema(service: str, shape_name: str) -> Schema:
    shape = service_model(service).shape_for(shape_name)
    members = {name: _field(service, member, name in shape.required_members) for name, member in shape.members.items()}
    return _Structure.from_dict(members, name=shape_name)()


def _field(service: str, shape: Shape, required: bool) -> fields.Field:
    options: dict[str, Any] = {
        "required": required,
        "validate": _constraints(shape),
        "error_messages": _FIELD_ERRORS,
    }
    match shape.type_name:
        case "structure" if shape.is_document_type:
            return fields.Raw(**options)
        case "structure":
            return fields.Nested(functools.partial(_structure_schema, service, shape.name), **options)
        case "list":
            return fields.List(_field(service, shape.member, False), **options)
        case "map":
            return fields.Dict(
                keys=_field(service, shape.key, False), values=_field(service, shape.value, False), **options
            )
        case "string":
            return fields.String(**options)
        case "integer" | "long":
            return _Integer(_INT_BITS[shape.type_name], **options)
        case "double":
            return _Double(**options)
        case "boolean":
            return _Boolean(**options)
        case "timestamp":
            return _Timestamp(**options)
    raise TypeError(f"{service} shape {shape.name} has type {shape.type_name}, which requests cannot carry")


def _constraints(shape: Shape) -> list[Callable[[Any], None]]:
    checks: list[Callable[[Any], None]] = []
    if "enum" in shape.metadata:
        checks.append(_enum_check(list(shape.metadata["enum"])))
    measure = "value" if shape.type_name in ("integer", "long", "double") else "length"
    if "min" in shape.metadata:
        checks.append(_bound_check(measure, "greater", shape.metadata["min"]))
    if "max" in shape.metadata:
        checks.append(_bound_check(measure, "less", shape.metadata["max"]))
    return checks


def _enum_check(allowed: list[str]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value not in allowed:
            raise ValidationError(f"Member must satisfy enum value set: [{', '.join(allowed)}]")

    return check


def _bound_check(measure: str, side: str, bound: float) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        size = value if measure == "value" else len(value)
        if (side == "greater" and size < bound) or (side == "less" and size > bound):
            raise ValidationError(f"Member must have {measure} {side} than or equal to {bound}")

    return check


@dataclass(frozen=True)
class _Problem:
    deserializing: bool
    text: str


def _problems(errors: Any, shape: Shape, value: Any, path: str) -> Iterator[_Problem]:
    if isinstance(errors, list):
        for message in errors:
            yield _problem(message, shape, value, path)
        return
    for key, nested in errors.items():
        if key == "_schema":
            yield from _problems(nested, shape, value, path)
        elif shape.type_name == "structure":
            yield from _problems(nested, shape.members[key], value.get(key), _join(path, key))
        elif shape.type_name == "list":
            yield from _problems(nested, shape.member, value[key], f"{path}.{key + 1}.member")
        else:  # a map: its key's problems, its value's, or both
            if "key" in nested:
                yield from _problems(nested["key"], shape.key, key, f"{path}.{key}")
            if "value" in nested:
                yield from _problems(nested["value"], shape.value, value[key], f"{path}.{key}")


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _problem(message: str, shape: Shape, value: Any, path: str) -> _Problem:
    if message == WRONG_TYPE:
        return _Problem(True, _type_mismatch(shape, value, path))
    return _Problem(False, f"Value {_shown_value(message, value)} at '{path}' failed to satisfy constraint: {message}")


def _shown_value(message: str, value: Any) -> str:
    if message == MUST_NOT_BE_NULL:
        return "null"
    return f"'{value if isinstance(value, str) else json.dumps(value)}'"


def _type_mismatch(shape: Shape, value: Any, path: str) -> str:
    if isinstance(value, dict):
        return f"Start of structure or map found where not expected at '{path}'."
    if isinstance(value, list):
        return f"Start of list found where not expected at '{path}'."
    return f"{_json_token(value)} can not be converted to {_TYPE_NAMES[shape.type_name]} at '{path}'."


def _json_token(value: Any) -> str:
    if value is None:
        return "NULL_VALUE"
    if isinstance(value, bool):
        return "BOOLEAN_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    return "NUMBER_VALUE"


def _refusal(problems: list[_Problem], service: str) -> EcsError:
    """The error `service` answers input its model refuses with."""
    for problem in problems:
        if problem.deserializing:
            return SerializationException(problem.text)
    count = len(problems)
    heading = f"{count} validation error{'s' if count > 1 else ''} detected: "
    refusals = {
        APPLICATION_AUTOSCALING: ValidationException,
        CLOUD_MAP: InvalidInput,
        CLOUDWATCH: InvalidParameterValueException,
    }
    refused = refusals.get(service, InvalidParameterException)
    return refused(heading + "; ".join(problem.text for problem in problems))
