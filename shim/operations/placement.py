"""What placing a RunTask's or StartTask's tasks reads of the cluster: its instances, the pods
on them, and the pods the scheduler has yet to bind. The decisions are translate/placement_plan.py's."""

import time
from collections.abc import Callable

from shim.errors import InvalidParameterException
from shim.kube.cache import KubeObject
from shim.kube.store import Store
from shim.translate.container_instances import PodUsage
from shim.translate.placement import PlacementFailure
from shim.translate.placement_plan import (
    NodeLoads,
    Placement,
    PlacementRequest,
    awaits_node,
    must_await_scheduler,
    plan,
)

NO_CONTAINER_INSTANCES = "No Container Instances were found in your cluster."
SCHEDULER_WAIT_SECONDS = 2.0


def cluster_nodes(store: Store, cluster_name: str, pinned_nodes: list[KubeObject] | None) -> list[KubeObject]:
    """The instances a call's tasks may go to: those it chose, else every one serving the cluster."""
    nodes = pinned_nodes if pinned_nodes is not None else store.nodes_serving(cluster_name)
    if not nodes:
        raise InvalidParameterException(NO_CONTAINER_INSTANCES)
    return nodes


def place(
    store: Store, request: PlacementRequest, nodes: list[KubeObject], usage_of: Callable[[KubeObject], PodUsage]
) -> Placement | PlacementFailure:
    """The plan for the call's tasks on `nodes`, once the scheduler has bound the pods whose
    place could change it."""
    loads = NodeLoads(store.pods_on, usage_of)
    if must_await_scheduler(request, nodes, loads, store.unbound_pods()):
        await_scheduler(store)
        loads.forget()
    return plan(request, nodes, loads)


def await_scheduler(store: Store) -> None:
    """Give the scheduler a moment to bind the task pods it has not bound yet (at most
    SCHEDULER_WAIT_SECONDS)."""
    deadline = time.monotonic() + SCHEDULER_WAIT_SECONDS
    while any(awaits_node(pod) for pod in store.unbound_pods()) and time.monotonic() < deadline:
        time.sleep(0.02)
