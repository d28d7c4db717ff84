"""Availability Zone rebalancing decisions: pure records and pods in, the next step out."""

from datetime import UTC, datetime
from typing import Any

from shim.translate.zone_rebalancing import (
    DISABLED,
    ENABLED,
    rebalance_step,
    rebalancing_events,
    rebalancing_setting,
    usable_zones,
)

ZONE_SPREAD = [{"type": "spread", "field": "attribute:ecs.availability-zone"}]
NODE_ZONES = {"a1": "us-east-1a", "a2": "us-east-1a", "b1": "us-east-1b", "c1": "us-east-1c"}


def record(**fields: Any) -> dict[str, Any]:
    return {
        "serviceName": "web",
        "status": "ACTIVE",
        "schedulingStrategy": "REPLICA",
        "launchType": "EC2",
        "placementStrategy": ZONE_SPREAD,
        "availabilityZoneRebalancing": ENABLED,
        **fields,
    }


def pod(name: str, node: str, created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid{name}", "creationTimestamp": created},
        "spec": {"nodeName": node},
    }


def step(service: dict[str, Any], running: list[dict[str, Any]], **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "steady": True,
        "running": running,
        "terminating": False,
        "node_zones": NODE_ZONES,
        "now": 100.0,
    }
    arguments.update(overrides)
    return rebalance_step(service, **arguments)


def test_create_enables_rebalancing_for_compatible_services_only() -> None:
    assert rebalancing_setting({"placementStrategy": ZONE_SPREAD}, None) == ENABLED
    assert rebalancing_setting({"placementStrategy": [{"type": "binpack", "field": "memory"}]}, None) == DISABLED
    assert rebalancing_setting({"schedulingStrategy": "DAEMON"}, None) == DISABLED
    assert rebalancing_setting({"availabilityZoneRebalancing": DISABLED}, None) == DISABLED


def test_update_keeps_the_services_setting_unless_given() -> None:
    assert rebalancing_setting({}, ENABLED) == ENABLED
    assert rebalancing_setting({}, DISABLED) == DISABLED
    assert rebalancing_setting({"availabilityZoneRebalancing": ENABLED}, DISABLED) == ENABLED


def test_an_unbalanced_steady_service_stops_the_newest_task_of_its_fullest_zone() -> None:
    running = [pod("p1", "a1"), pod("p2", "a2", created="2026-01-01T00:05:00Z"), pod("p3", "a1")]
    taken = step(record(), running)
    assert taken.stop["metadata"]["name"] == "p2"
    [round_] = taken.history
    assert round_["counts"] == {"us-east-1a": 3, "us-east-1b": 0, "us-east-1c": 0}
    assert round_["stops"] == [{"at": 100.0, "zone": "us-east-1a", "taskId": "uidp2", "gap": 3}]


def test_nothing_is_done_while_the_service_is_balanced_moving_or_not_rebalancing() -> None:
    unbalanced = [pod("p1", "a1"), pod("p2", "a2")]
    assert step(record(), [pod("p1", "a1"), pod("p2", "b1")]) is None
    assert step(record(), unbalanced, steady=False) is None
    assert step(record(), unbalanced, terminating=True) is None
    assert step(record(availabilityZoneRebalancing=DISABLED), unbalanced) is None
    assert step(record(placementStrategy=[]), unbalanced) is None
    assert step(record(placementStrategy=[], launchType="FARGATE"), unbalanced) is not None
    assert step(record(status="DRAINING"), unbalanced) is None


def test_a_round_ends_balanced_and_is_told_in_ecs_words() -> None:
    first = step(record(), [pod("p1", "a1"), pod("p2", "a2")])
    done = step(record(zoneRebalancing=first.history), [pod("p1", "a1"), pod("p3", "b1")], now=130.0)
    assert done.stop is None
    [round_] = done.history
    assert round_["endedAt"] == 130.0
    messages = sorted(message for _, message in rebalancing_events("web", done.history).values())
    assert messages == [
        "service (web) is AZ balanced with 1 tasks in us-east-1a, 1 tasks in us-east-1b, and 0 tasks in us-east-1c.",
        "service (web) is not AZ balanced with 2 tasks in us-east-1a, 0 tasks in us-east-1b, "
        "and 0 tasks in us-east-1c. AZ Rebalancing in progress.",
        "web has stopped 1 running tasks in us-east-1a to AZ Rebalance: uidp2.",
    ]
    assert step(record(zoneRebalancing=done.history), [pod("p1", "a1"), pod("p3", "b1")]) is None


def test_a_step_that_does_not_narrow_the_gap_gives_up_until_the_counts_change() -> None:
    first = step(record(), [pod("p1", "a1"), pod("p2", "a2")])
    replaced_in_place = [pod("p1", "a1"), pod("p3", "a2")]
    given_up = step(record(zoneRebalancing=first.history), replaced_in_place, now=130.0)
    assert given_up.stop is None
    assert given_up.history[-1]["gaveUp"] == {"us-east-1a": 2, "us-east-1b": 0, "us-east-1c": 0}
    assert step(record(zoneRebalancing=given_up.history), replaced_in_place) is None
    grown = [*replaced_in_place, pod("p4", "a1")]
    assert step(record(zoneRebalancing=given_up.history), grown).stop is not None


def test_no_step_is_judged_while_the_last_stopped_task_still_shows_as_running() -> None:
    """Another server made the stop; this one's pod cache has not seen it yet."""
    unbalanced = [pod("p1", "a1"), pod("p2", "a2")]
    first = step(record(), unbalanced)
    assert step(record(zoneRebalancing=first.history), unbalanced) is None


NOW = datetime(2026, 1, 1, 1, 0, 0, tzinfo=UTC).timestamp()


def node(
    name: str,
    zone: str,
    *,
    ready: bool = True,
    ready_at: str = "2026-01-01T00:00:00Z",
    cordoned: bool = False,
    **labels: str,
) -> dict[str, Any]:
    ready_condition = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_at}
    return {
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone, **labels}},
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {"conditions": [ready_condition]},
    }


def test_usable_zones_are_those_of_active_ready_nodes_the_service_may_use() -> None:
    only_marked = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}]
                }
            }
        }
    }
    nodes = [
        node("n1", "us-east-1a", team="a"),
        node("n2", "us-east-1b", team="a", ready=False),
        node("n3", "us-east-1c", team="a", cordoned=True),
        node("n4", "us-east-1b"),
        {
            **node("n5", "us-east-1c"),
            "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]},
        },
    ]
    assert usable_zones(nodes, only_marked, now=NOW) == {"n1": "us-east-1a"}
    assert usable_zones(nodes, {}, now=NOW) == {"n1": "us-east-1a", "n4": "us-east-1b"}
    just_joined = node("n6", "us-east-1c", ready_at="2026-01-01T00:59:58Z")
    assert "n6" not in usable_zones([just_joined], {}, now=NOW)
    assert "n6" in usable_zones([just_joined], {}, now=NOW + 10)
