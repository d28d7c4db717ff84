"""ECS Availability Zone rebalancing of a service, as Kubernetes can do it.

ECS watches a service whose setting `availabilityZoneRebalancing` is ENABLED and, when its
running tasks are spread unevenly over the zones it can use, replaces tasks from the fullest zone
until no zone has more than one task more than another. Here the reconciler does the same
with the Kubernetes objects: when the service is steady (one deployment, all its tasks running,
rollout COMPLETED) and the running tasks per zone differ by more than one, it stops one task of
the fullest zone (the newest); its ReplicaSet starts a replacement, which the scheduler places by
the service's zone spread (a ScheduleAnyway topology spread constraint with maxSkew 1). One task
at a time, each once the service is steady again, as ECS does.

The zones counted are those of the ACTIVE, Ready nodes serving the cluster that the service's
placement constraints allow (the required node affinity of its pod template): a node that has
just joined counts once the scheduler could use it. Only services whose
tasks spread by zone are rebalanced (Fargate, or a `spread` strategy on
`attribute:ecs.availability-zone`): elsewhere nothing steers the replacement to the emptiest
zone. A step that does not narrow the gap (the replacement landed in a zone as full, as when the
emptier zone has no room) ends the round, and no new round starts until the counts per zone
change, so a service is never churned.

Pure: the record's `zoneRebalancing` history in, the next history (and the task to stop) out;
its events are derived from that history like the deployment events.
"""

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shim.translate.container_instances import is_active, is_connected, ready_condition
from shim.translate.placement import effective_placement, node_label_for_attribute, node_meets_required_affinity
from shim.translate.task_from_pod import epoch_of, task_id_of

Json = dict[str, Any]

ENABLED = "ENABLED"
DISABLED = "DISABLED"
ZONE_ATTRIBUTE = "attribute:ecs.availability-zone"
ZONE_LABEL = node_label_for_attribute("ecs.availability-zone")
MAX_ROUNDS = 10
"""Rounds of rebalancing the record keeps, for their events (ECS shows at most 100 events)."""
_REPELLING = ("NoSchedule", "NoExecute")
NODE_SETTLE_SECONDS = 5.0
STOP_REASON = "AZ Rebalancing initiated by (deployment {deployment_id})"


def is_compatible(service: Mapping[str, Any]) -> bool:
    """A REPLICA service that does not binpack can be rebalanced (ECS's rule)."""
    binpacks = any(s.get("type") == "binpack" for s in service.get("placementStrategy") or [])
    return (service.get("schedulingStrategy") or "REPLICA") == "REPLICA" and not binpacks


def rebalancing_setting(params: Mapping[str, Any], current: str | None) -> str:
    """The setting after CreateService (`current` None: ENABLED when compatible) or UpdateService
    (the service's own, DISABLED if it never had one)."""
    given = params.get("availabilityZoneRebalancing")
    if given:
        return str(given)
    if current is not None:
        return current
    return ENABLED if is_compatible(params) else DISABLED


def spreads_by_zone(record: Mapping[str, Any]) -> bool:
    """Whether the service's tasks are placed by a spread over zones (Fargate's always are)."""
    _, strategies = effective_placement(record.get("launchType"), {}, [], record.get("placementStrategy") or [])
    return any(s.get("type") == "spread" and s.get("field") == ZONE_ATTRIBUTE for s in strategies)


def may_rebalance(record: Mapping[str, Any], *, steady: bool, terminating: bool) -> bool:
    """Whether the service is one to rebalance, and at a moment to: steady, no task stopping."""
    return (
        record.get("availabilityZoneRebalancing") == ENABLED
        and record.get("status") == "ACTIVE"
        and is_compatible(record)
        and spreads_by_zone(record)
        and steady
        and not terminating
    )


@dataclass(frozen=True)
class RebalanceStep:
    """What the reconciler does next: keep `history` in the record, stop `stop` (a pod) if any."""

    history: list[Json]
    stop: Json | None = None


def rebalance_step(
    record: Mapping[str, Any],
    *,
    steady: bool,
    running: Sequence[Json],
    terminating: bool,
    node_zones: Mapping[str, str],
    now: float,
) -> RebalanceStep | None:
    """The next step of rebalancing the service, or None when there is nothing to do.

    `steady`: the service shows one deployment, all desired tasks running, its rollout COMPLETED;
    `running`: its running pods; `terminating`: some of its pods are stopping; `node_zones`: the
    zone of every schedulable node that serves the cluster."""
    if not running or not may_rebalance(record, steady=steady, terminating=terminating):
        return None
    counts = zone_counts(running, node_zones)
    history = copy.deepcopy(list(record.get("zoneRebalancing") or []))
    current = history[-1] if history and "endedAt" not in history[-1] else None
    if current and current["stops"] and current["stops"][-1]["taskId"] in {task_id_of(pod) for pod in running}:
        return None  # this process has not seen the last stop yet (another one made it)
    if _gap(counts) <= 1:
        if current is None:
            return None
        current.update(endedAt=now, balanced=counts)
        return RebalanceStep(history)
    if current is None:
        if history and history[-1].get("gaveUp") == counts:
            return None
        current = {"startedAt": now, "counts": counts, "stops": []}
        history = [*history, current][-MAX_ROUNDS:]
    elif current["stops"] and _gap(counts) >= current["stops"][-1]["gap"]:
        current.update(endedAt=now, gaveUp=counts)
        return RebalanceStep(history)
    fullest = max(counts, key=lambda zone: (counts[zone], zone))
    victim = _newest([pod for pod in running if node_zones.get(pod["spec"].get("nodeName", "")) == fullest])
    current["stops"].append({"at": now, "zone": fullest, "taskId": victim["taskId"], "gap": _gap(counts)})
    return RebalanceStep(history, victim["pod"])


def usable_zones(nodes: Iterable[Json], pod_spec: Mapping[str, Any], now: float) -> dict[str, str]:
    """Node name -> zone of the nodes a task of the service could start on now: ACTIVE, Ready for
    `NODE_SETTLE_SECONDS` (a node that has just joined keeps the not-ready taint a moment after it
    turns Ready, and the scheduler sees it a moment later still), without a taint that keeps new
    pods off, and allowed by the required node affinity of the service's `pod_spec`."""
    return {
        node["metadata"]["name"]: zone
        for node in nodes
        if is_active(node)
        and (ready_since(node) or now) <= now - NODE_SETTLE_SECONDS
        and not any(taint.get("effect") in _REPELLING for taint in node.get("spec", {}).get("taints") or [])
        and (zone := (node["metadata"].get("labels") or {}).get(ZONE_LABEL))
        and node_meets_required_affinity(pod_spec, node["metadata"]["name"], node["metadata"].get("labels") or {})
    }


def ready_since(node: Mapping[str, Any]) -> float | None:
    """When the node last turned Ready, or None while it is not Ready."""
    if not is_connected(node):
        return None
    ready = ready_condition(node) or {}
    since = epoch_of(ready.get("lastTransitionTime"))
    return float("-inf") if since is None else since


def zone_counts(running: Iterable[Json], node_zones: Mapping[str, str]) -> dict[str, int]:
    """Running tasks per zone, every zone with a usable node counted (0 when it runs none)."""
    counts = dict.fromkeys(sorted(set(node_zones.values())), 0)
    for pod in running:
        zone = node_zones.get(pod["spec"].get("nodeName") or "")
        if zone is not None:
            counts[zone] += 1
    return counts


def rebalancing_events(service_name: str, history: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, str]]:
    """Event key -> (time, message) for each round of rebalancing, in ECS's words."""
    service = f"service ({service_name})"
    events: dict[str, tuple[float, str]] = {}
    for round_ in history:
        started = round_["startedAt"]
        events[f"rebalance-started@{started}"] = (
            started,
            f"{service} is not AZ balanced with {_counted(round_['counts'])}. AZ Rebalancing in progress.",
        )
        for stop in round_["stops"]:
            message = f"{service_name} has stopped 1 running tasks in {stop['zone']} to AZ Rebalance: {stop['taskId']}."
            events[f"rebalance-stopped:{stop['taskId']}"] = (stop["at"], message)
        if "balanced" in round_:
            events[f"rebalance-completed@{started}"] = (
                round_["endedAt"],
                f"{service} is AZ balanced with {_counted(round_['balanced'])}.",
            )
    return events


def _gap(counts: Mapping[str, int]) -> int:
    return max(counts.values()) - min(counts.values()) if counts else 0


def _newest(pods: Sequence[Json]) -> Json:
    """The pod started last (by creation time, then name) and its task id."""
    pod = max(pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))
    return {"pod": pod, "taskId": task_id_of(pod)}


def _counted(counts: Mapping[str, int]) -> str:
    parts = [f"{count} tasks in {zone}" for zone, count in counts.items()]
    if len(parts) < 3:
        return " and ".join(parts)
    return f"{', '.join(parts[:-1])}, and {parts[-1]}"
