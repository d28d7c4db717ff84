"""The CloudWatch Logs API (X-Amz-Target `Logs_20140328.*`, served on the same endpoint as ECS):
one handler per operation, by resource: log groups (groups.py) and log streams with their events
(streams.py); collector.py copies the output of containers with the `awslogs` log driver into
their streams. State lives in Kubernetes (shim/kube/logs.py), never only in a process.

A call with a caller (an access key mapped to a Kubernetes identity) is made as the caller, so
Kubernetes RBAC on `loggroups` and `logstreams` (ecs.shim.io) decides it; a refusal is
AccessDeniedException in IAM's words."""

from shim.calls import Handler
from shim.kube.logs import LogStore
from shim.operations.base import as_caller
from shim.operations.logs import groups, streams


def build_log_handlers(log_store: LogStore) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {**groups.handlers(log_store), **streams.handlers(log_store)}
    return {operation: as_caller(handler, "logs", "log-group:*") for operation, handler in handlers.items()}
