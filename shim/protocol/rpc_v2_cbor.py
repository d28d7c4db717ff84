"""Smithy RPC v2 CBOR, the wire protocol botocore's newer models (Cloud Map's and CloudWatch's
among them) name first, and that SDKs preferring CBOR speak (botocore itself picks JSON 1.1 when a
model offers both): `POST /service/<targetPrefix>/operation/<Name>`, header `smithy-protocol:
rpc-v2-cbor`, a CBOR map as the body both ways, timestamps as tag 1 (epoch seconds), errors as a
map with `__type` and `message`.

A request body is read into the same shapes a JSON 1.1 body has (timestamps as epoch seconds,
blobs as base64), so validation and handlers do not know which protocol a call came in."""

import base64
import datetime
from typing import Any

import cbor2

PATH = "/service/<target_prefix>/operation/<operation>"
CONTENT_TYPE = "application/cbor"
PROTOCOL_HEADER = ("smithy-protocol", "rpc-v2-cbor")


class CborBodyError(ValueError):
    """The request body is not a CBOR map."""


def decode_body(data: bytes) -> dict[str, Any]:
    """The request's members as a JSON 1.1 body would carry them (empty body: no members)."""
    if not data:
        return {}
    try:
        body = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError) as error:
        raise CborBodyError(f"The request body is not valid CBOR: {error}") from None
    if not isinstance(body, dict):
        raise CborBodyError("The request body must be a CBOR map.")
    return {str(key): _as_json_value(value) for key, value in body.items()}


def encode(document: Any) -> bytes:
    """`document` as CBOR; datetimes become tag 1 epoch seconds (naive ones are taken as UTC)."""
    return bytes(cbor2.dumps(document, datetime_as_timestamp=True, timezone=datetime.UTC))


def _as_json_value(value: Any) -> Any:
    """`value` as JSON would carry it; a CBOR item JSON has no form for (a set, an unknown tag,
    undefined, a decimal fraction...) is refused."""
    if isinstance(value, dict):
        return {str(key): _as_json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json_value(item) for item in value]
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=datetime.UTC)).timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise CborBodyError(f"The request body holds a CBOR item no member takes: {type(value).__name__}.")
