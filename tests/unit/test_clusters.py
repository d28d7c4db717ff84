"""Which ECS clusters a node serves."""

from typing import Any

from shim.translate import names
from shim.translate.clusters import EVERY_CLUSTER, cluster_pin, node_pin


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
