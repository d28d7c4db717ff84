"""What the store raises when the API server refuses a request: its own error types, so that no
layer above needs the Kubernetes client to tell "absent" from "someone else wrote first".

Every refusal becomes a `StoreError` carrying the HTTP status; the ones callers act on have
their own class (kopf's clients do the same). Two helpers hold the store's only two rules about
them: a 404 on a read or delete means absent, a 409 on a write means read again and retry; and a
429 is waited out, briefly, as the API server asks."""

import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from kubernetes.client import ApiException

from shim import metrics

T = TypeVar("T")

MAX_CONFLICT_RETRIES = 50
MAX_BUSY_RETRIES = 3
MAX_BUSY_WAIT_SECONDS = 1.0


class StoreError(Exception):
    """The API server refused a request."""

    def __init__(self, status: int, reason: str, body: str = "") -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.body = body


class Forbidden(StoreError):
    """403: not allowed (RBAC), or refused by admission (e.g. a Namespace without its
    ServiceAccount yet, or one being deleted)."""


class NotFound(StoreError):
    """404: no such object (or no such Namespace)."""


class Conflict(StoreError):
    """409: the object exists already, or changed since it was read."""


BY_STATUS: dict[int, type[StoreError]] = {403: Forbidden, 404: NotFound, 409: Conflict}


def refused(error: ApiException) -> NoReturn:
    """Raise the store's error for the client's `error`."""
    status = int(error.status or 0)
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else str(error.body or "")
    raise BY_STATUS.get(status, StoreError)(status, str(error.reason or ""), body) from error


def requested(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`call(*args, **kwargs)`, a client request, with a refusal raised as the store's error;
    counted and timed by the client method's name (metrics.py). A 429 (the API server asking to
    come back, as it does for a custom resource whose storage is still starting) is tried again
    after the wait it names, at most MAX_BUSY_RETRIES times."""
    retries = 0
    while True:
        with metrics.kube_call(getattr(call, "__name__", "request")):
            try:
                return call(*args, **kwargs)
            except ApiException as error:
                if error.status != 429 or retries == MAX_BUSY_RETRIES:
                    refused(error)
                wait = _retry_after(error)
        time.sleep(wait)  # outside the call's timing: the wait is not the API server's latency
        retries += 1


def _retry_after(error: ApiException) -> float:
    """The wait a 429 names (Retry-After, in seconds), at most MAX_BUSY_WAIT_SECONDS."""
    try:
        named = float((error.headers or {}).get("Retry-After", 1))
    except ValueError:
        named = 1.0
    return min(max(named, 0.1), MAX_BUSY_WAIT_SECONDS)


def absent_if_missing(call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """`call(*args, **kwargs)`, or None when the object is absent (404)."""
    try:
        return requested(call, *args, **kwargs)
    except NotFound:
        return None


def retrying_conflicts(attempt: Callable[[int], T], what: str) -> T:
    """`attempt(number)` for number 0, 1, 2...: the first answer that met no conflict (409,
    another writer was first)."""
    for number in range(MAX_CONFLICT_RETRIES):
        try:
            return attempt(number)
        except Conflict:
            continue
    raise RuntimeError(f"could not {what} after {MAX_CONFLICT_RETRIES} tries")
