"""ECS-style pagination: `maxResults` and an opaque `nextToken` that resumes after a key."""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from shim.errors import EcsError, InvalidParameterException

T = TypeVar("T")


def page(
    items: Sequence[T],
    key: Callable[[T], str],
    max_results: int | None,
    next_token: str | None,
    limit: int = 100,
    descending: bool = False,
    refused: type[EcsError] = InvalidParameterException,
) -> tuple[list[T], str | None]:
    """One page of `items` and the token for the next, if any. The token names the last key
    handed out; when that item has gone since, the page resumes at the first key after it in
    the order of `items`: sorted by `key`, ascending unless `descending`. A size or token out of
    bounds is `refused` (the service's own error for bad input)."""
    size = limit if max_results is None else max_results
    if not 1 <= size <= limit:
        raise refused(f"maxResults must be between 1 and {limit}.")
    start = 0
    if next_token:
        after = _decode(next_token, refused)
        keys = [key(item) for item in items]
        start = (
            keys.index(after) + 1
            if after in keys
            else next(
                (
                    index
                    for index, item_key in enumerate(keys)
                    if (item_key < after if descending else item_key > after)
                ),
                len(items),
            )
        )
    chunk = list(items[start : start + size])
    more = start + size < len(items)
    return chunk, (_encode(key(chunk[-1])) if more and chunk else None)


def _encode(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def _decode(token: str, refused: type[EcsError]) -> str:
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise refused("Invalid token.") from error
