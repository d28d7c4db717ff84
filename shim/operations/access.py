"""Each call made as its caller: before a handler runs, Kubernetes RBAC must allow the request the
ECS action stands for (shim/translate/access.py); while it runs, every API server request it makes
is the caller's. A refusal either way is ECS's AccessDeniedException. Calls without a caller (no
credentials file, or a key mapped to no Kubernetes user) run as the server, unchecked."""

from collections.abc import Iterable

from shim.calls import Call, Handler, Response
from shim.errors import AccessDeniedException
from shim.kube.errors import Forbidden
from shim.kube.store import Store
from shim.translate.access import cluster_permission, denial_message, permissions_for


def checked(store: Store, handler: Handler) -> Handler:
    """`handler`, run only when the caller may, and as the caller."""

    def run_as_caller(call: Call) -> Response:
        caller = call.caller
        if caller is None:
            return handler(call)
        permissions = permissions_for(call.operation, call.params, call.region, call.account)
        for permission in permissions:
            if not store.allows(caller, permission):
                raise denied(call, caller.iam_user, permission.ecs_resource)
        try:
            with store.acting_as(caller):
                return handler(call)
        except Forbidden:
            # RBAC refused a request the action makes beyond the one checked (e.g. a service's Deployment).
            raise denied(call, caller.iam_user, permissions[0].ecs_resource if permissions else "*") from None

    return run_as_caller


def denied(call: Call, iam_user: str, ecs_resource: str) -> AccessDeniedException:
    return AccessDeniedException(denial_message(call.account, iam_user, call.operation, ecs_resource))


def visible_clusters(store: Store, call: Call, cluster_names: Iterable[str]) -> list[str]:
    """The clusters of `cluster_names` the caller may see (all of them for the server itself)."""
    caller = call.caller
    if caller is None:
        return list(cluster_names)
    return [name for name in cluster_names if store.allows(caller, cluster_permission(name, call.region, call.account))]
