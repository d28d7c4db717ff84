"""One handler per ECS operation, grouped by resource."""

from shim.kube.store import Store
from shim.operations import clusters, container_instances, services, tags, task_definitions, tasks
from shim.operations.base import Handler


def build_handlers(store: Store) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for resource in (clusters, task_definitions, tasks, services, container_instances, tags):
        handlers.update(resource.handlers(store))
    return handlers
