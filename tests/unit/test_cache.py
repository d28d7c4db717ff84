"""The watch-backed cache's indexes agree with its objects, whatever the order of events."""

import logging
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shim.kube.cache import Informer, KubeObject

NODES = st.sampled_from([None, "node-a", "node-b"])
NAMES = st.sampled_from(["p1", "p2", "p3", "p4"])


def pod(name: str, namespace: str, node: str | None, version: int) -> KubeObject:
    spec = {"nodeName": node} if node else {}
    return {
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": str(version), "managedFields": [{}]},
        "spec": spec,
    }


def node_of(obj: KubeObject) -> str | None:
    return obj["spec"].get("nodeName")


def pod_informer() -> Informer:
    def never_listed(**_: Any) -> None:
        raise AssertionError("the test does not LIST")

    return (
        Informer("pods", never_listed)
        .add_index("namespace", lambda obj: str(obj["metadata"]["namespace"]))
        .add_index("node", node_of)
    )


events = st.lists(
    st.tuples(NAMES, st.sampled_from(["ns-1", "ns-2"]), NODES, st.integers(1, 20), st.booleans()), max_size=40
)


@given(initial=events, later=events)
def test_each_index_groups_exactly_the_cached_objects_with_that_value(
    initial: list[tuple[str, str, str | None, int, bool]], later: list[tuple[str, str, str | None, int, bool]]
) -> None:
    informer = pod_informer()
    informer.replace([pod(name, namespace, node, version) for name, namespace, node, version, _ in initial])
    for name, namespace, node, version, deleted in later:
        informer.observe(pod(name, namespace, node, version), deleted=deleted)

    cached = informer.items()
    for value in ("node-a", "node-b"):
        expected = sorted(obj["metadata"]["name"] for obj in cached if node_of(obj) == value)
        assert sorted(obj["metadata"]["name"] for obj in informer.indexed("node", value)) == expected
    for namespace in ("ns-1", "ns-2"):
        expected = sorted(obj["metadata"]["name"] for obj in cached if obj["metadata"]["namespace"] == namespace)
        assert sorted(obj["metadata"]["name"] for obj in informer.indexed("namespace", namespace)) == expected
    assert all("managedFields" not in obj["metadata"] for obj in cached)


def test_an_older_version_does_not_replace_a_newer_one() -> None:
    informer = pod_informer()
    informer.replace([pod("p1", "ns-1", "node-a", 5)])
    informer.observe(pod("p1", "ns-1", "node-b", 4))
    assert [obj["spec"]["nodeName"] for obj in informer.indexed("node", "node-a")] == ["node-a"]
    assert informer.indexed("node", "node-b") == []


def test_an_unreachable_api_server_is_logged_once_and_retried_ever_more_slowly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[float] = []

    def refused(**_: Any) -> None:
        attempts.append(time.monotonic())
        raise ConnectionRefusedError("connection refused")

    informer = Informer("pods", refused)
    with caplog.at_level(logging.DEBUG, logger="shim.kube.cache"):
        informer.start()
        time.sleep(3.5)
    assert len(attempts) == 3, "retried after 1 s, then 2 s"
    assert [record.levelno for record in caplog.records].count(logging.WARNING) == 1
    assert not any(record.exc_info for record in caplog.records)
    assert informer.problem() == "cache of pods is not synced"
