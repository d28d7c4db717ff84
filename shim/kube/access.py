"""Calls made for a caller: Kubernetes impersonation and SubjectAccessReviews.

While `acting_as(caller)` is in effect on a thread, every API server request that thread makes
carries `Impersonate-User` and `Impersonate-Group`, so the API server's RBAC decides it as if the
caller made it. Reads served from the shared watch caches never reach the API server; they are
checked first with `AccessReviews.allows`, a SubjectAccessReview made by the server itself and
remembered for a few seconds per caller and question."""

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar

from kubernetes import client

from shim.calls import Caller
from shim.kube.errors import requested
from shim.translate.access import Permission

DECISION_SECONDS = 5.0
"""How long an RBAC decision is reused: a Role changed takes at most this long to apply."""

MAX_DECISIONS = 10_000
"""Decisions remembered at most: past it they are forgotten at once (callers and clusters are few)."""

_acting_as: ContextVar[Caller | None] = ContextVar("acting_as", default=None)


def impersonation_headers() -> list[tuple[str, str]]:
    """The headers that make a request the current caller's (none outside `acting_as`)."""
    caller = _acting_as.get()
    if caller is None:
        return []
    return [("Impersonate-User", caller.user), *(("Impersonate-Group", group) for group in caller.groups)]


@contextlib.contextmanager
def acting_as(caller: Caller | None) -> Iterator[None]:
    """API server requests made within are `caller`'s (the server's own for None)."""
    token = _acting_as.set(caller)
    try:
        yield
    finally:
        _acting_as.reset(token)


class AccessReviews:
    """Whether RBAC allows a caller a request, asked of the API server as the server itself."""

    def __init__(self, api: client.AuthorizationV1Api) -> None:
        self.api = api
        self._decisions: dict[tuple[Caller, Permission], tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def allows(self, caller: Caller, permission: Permission) -> bool:
        key = (caller, permission)
        now = time.monotonic()
        with self._lock:
            decision = self._decisions.get(key)
        if decision is not None and decision[1] > now:
            return decision[0]
        allowed = self._review(caller, permission)
        with self._lock:
            if len(self._decisions) >= MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = (allowed, now + DECISION_SECONDS)
        return allowed

    def _review(self, caller: Caller, permission: Permission) -> bool:
        body = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=caller.user,
                groups=list(caller.groups),
                resource_attributes=client.V1ResourceAttributes(
                    verb=permission.verb,
                    group=permission.group,
                    resource=permission.resource.partition("/")[0],
                    subresource=permission.resource.partition("/")[2] or None,
                    namespace=permission.namespace,
                    name=permission.name,
                ),
            )
        )
        with acting_as(None):
            review = requested(self.api.create_subject_access_review, body)
        return bool(review.status and review.status.allowed)
