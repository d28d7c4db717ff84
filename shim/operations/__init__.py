"""One handler per ECS operation, grouped by resource: each validates a call, asks translate for
the Kubernetes side, reads and writes through the kube store, and shapes the ECS response.

Rule: imports translate and kube below it, never protocol, server or cli above: it sees a
`shim.calls.Call`, not HTTP (import contracts in pyproject.toml)."""

from shim.calls import Handler
from shim.kube.store import Store
from shim.operations import (
    access,
    clusters,
    container_instances,
    execute_command,
    service_deployments,
    services,
    tags,
    task_definitions,
    task_protection,
    task_sets,
    tasks,
)


def build_handlers(store: Store) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    resources = (
        clusters,
        task_definitions,
        tasks,
        services,
        task_sets,
        service_deployments,
        container_instances,
        tags,
        execute_command,
        task_protection,
    )
    for resource in resources:
        handlers.update(resource.handlers(store))
    return {operation: access.checked(store, handler) for operation, handler in handlers.items()}
