"""Which ECS clusters a node serves, and the `Cluster` shape ECS clients read."""

from typing import Any

import pytest

from shim.errors import InvalidParameterException
from shim.translate import names
from shim.translate.clusters import (
    EVERY_CLUSTER,
    ClusterCounts,
    check_service_connect_defaults,
    cluster_pin,
    cluster_view,
    namespace_arn,
    node_pin,
    updated_details,
)

REGION, ACCOUNT = "us-east-1", "123456789012"
COUNTS = ("registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount", "activeServicesCount")
BUSY = ClusterCounts(registered_container_instances=3, running_tasks=2, pending_tasks=1, active_services=1)


def node_labelled(labels: dict[str, str] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "i-1"}
    if labels is not None:
        metadata["labels"] = labels
    return {"metadata": metadata}


def test_a_node_without_the_cluster_label_serves_every_cluster() -> None:
    assert node_pin(node_labelled(None)) == EVERY_CLUSTER
    assert node_pin(node_labelled({"kubernetes.io/hostname": "i-1"})) == EVERY_CLUSTER


def test_a_labelled_node_serves_only_its_cluster() -> None:
    pinned = node_labelled({names.LABEL_CLUSTER: cluster_pin("prod")})
    assert node_pin(pinned) == cluster_pin("prod") != cluster_pin("staging")


def test_no_cluster_name_pins_a_node_to_every_cluster() -> None:
    """A cluster name that is no label value still gets a label value of its own."""
    for cluster_name in ("*", "a" * 255, "prod_1-x"):
        assert cluster_pin(cluster_name) != EVERY_CLUSTER


def spec_of(status: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"clusterName": "c", "status": status, "details": details or {}}


def test_a_namespace_name_becomes_the_same_cloud_map_arn_every_time() -> None:
    arn = namespace_arn("internal", REGION, ACCOUNT)
    assert arn.startswith(f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/ns-")
    assert arn == namespace_arn("internal", REGION, ACCOUNT) != namespace_arn("Internal", REGION, ACCOUNT)
    assert len(arn.rsplit("/", 1)[-1]) == len("ns-") + 16


def test_a_namespace_arn_is_shown_as_given() -> None:
    given = f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/ns-abcdefghijklmnop"
    assert namespace_arn(given, REGION, ACCOUNT) == given


def test_every_cluster_view_shows_the_service_connect_namespace_as_an_arn() -> None:
    spec = spec_of("ACTIVE", {"serviceConnectDefaults": {"namespace": "internal"}})
    for include in ([], ["SETTINGS", "TAGS", "CONFIGURATIONS"]):
        view = cluster_view(spec, REGION, ACCOUNT, BUSY, include)
        assert view["serviceConnectDefaults"] == {"namespace": namespace_arn("internal", REGION, ACCOUNT)}
    assert "serviceConnectDefaults" not in cluster_view(spec_of("ACTIVE"), REGION, ACCOUNT, BUSY)


def test_an_empty_namespace_removes_the_service_connect_defaults() -> None:
    current = {"serviceConnectDefaults": {"namespace": "internal"}, "configuration": {"x": 1}}
    assert updated_details(current, {"serviceConnectDefaults": {"namespace": ""}}, ["serviceConnectDefaults"]) == {
        "configuration": {"x": 1}
    }
    assert updated_details(current, {}, ["serviceConnectDefaults"]) == current
    changed = updated_details(current, {"serviceConnectDefaults": {"namespace": "other"}}, ["serviceConnectDefaults"])
    assert changed["serviceConnectDefaults"] == {"namespace": "other"}


@pytest.mark.parametrize("name", ["a/b", "a<b", "a>b", 'a"b', "x" * 1025])
def test_a_namespace_name_ecs_refuses_is_an_invalid_parameter(name: str) -> None:
    with pytest.raises(InvalidParameterException):
        check_service_connect_defaults({"namespace": name})


def test_namespace_names_and_arns_ecs_accepts_pass() -> None:
    for namespace in ("", "internal", "x" * 1024, f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/ns-a"):
        check_service_connect_defaults({"namespace": namespace})
    check_service_connect_defaults(None)


def test_an_inactive_cluster_counts_nothing_in_any_view() -> None:
    view = cluster_view(spec_of("INACTIVE"), REGION, ACCOUNT, BUSY, ["STATISTICS"])
    assert [view[count] for count in COUNTS] == [0, 0, 0, 0]
    assert {entry["value"] for entry in view["statistics"]} == {"0"}


def test_an_active_cluster_shows_its_counts() -> None:
    view = cluster_view(spec_of("ACTIVE"), REGION, ACCOUNT, BUSY, ["STATISTICS"])
    assert [view[count] for count in COUNTS] == [3, 2, 1, 1]
    statistics = {entry["name"]: entry["value"] for entry in view["statistics"]}
    assert statistics["activeEC2ServiceCount"] == "1"
