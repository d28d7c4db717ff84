"""Full collections wait for a quiet moment, skip what survived the last one, and still reclaim
cycles."""

import gc
import time
import weakref
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shim.memory import (
    LONGEST_DEFERRAL_SECONDS,
    QUIET_SECONDS,
    UNFROZEN_SCAN_SECONDS,
    FullCollection,
    QuietCollector,
    full_collection_due,
)

STARTED = 1000.0


class Node:
    def __init__(self) -> None:
        self.peer: Node = self


def due(now: float, quiet_since: float | None, promoted: bool = True) -> FullCollection | None:
    return full_collection_due(now, quiet_since, last_full=STARTED, last_unfrozen=STARTED, promoted=promoted)


def test_promoted_objects_are_collected_once_the_worker_has_been_quiet_for_a_moment() -> None:
    assert due(STARTED + 1, quiet_since=STARTED + 1 - QUIET_SECONDS) is FullCollection.SINCE_FREEZE
    assert due(STARTED + 1, quiet_since=STARTED + 1 - QUIET_SECONDS / 2) is None


def test_nothing_is_collected_while_a_request_is_in_flight() -> None:
    assert due(STARTED + LONGEST_DEFERRAL_SECONDS / 2, quiet_since=None) is None


def test_a_worker_that_is_never_quiet_still_collects_after_the_longest_deferral() -> None:
    assert due(STARTED + LONGEST_DEFERRAL_SECONDS, quiet_since=None) is FullCollection.SINCE_FREEZE


def test_nothing_is_collected_when_young_collections_promoted_nothing() -> None:
    assert due(STARTED + LONGEST_DEFERRAL_SECONDS, quiet_since=STARTED, promoted=False) is None


def test_everything_is_scanned_again_at_the_first_quiet_moment_after_the_unfrozen_scan_interval() -> None:
    now = STARTED + UNFROZEN_SCAN_SECONDS
    assert due(now, quiet_since=STARTED, promoted=False) is FullCollection.UNFROZEN
    assert due(now, quiet_since=None) is FullCollection.SINCE_FREEZE
    assert due(now + LONGEST_DEFERRAL_SECONDS, quiet_since=None) is FullCollection.UNFROZEN


@given(
    now=st.floats(min_value=STARTED, max_value=STARTED + 10 * UNFROZEN_SCAN_SECONDS),
    last_full=st.floats(min_value=0, max_value=STARTED),
    last_unfrozen=st.floats(min_value=0, max_value=STARTED),
    promoted=st.booleans(),
)
def test_a_busy_worker_collects_only_what_has_waited_the_longest_deferral(
    now: float, last_full: float, last_unfrozen: float, promoted: bool
) -> None:
    collection = full_collection_due(now, None, last_full, last_unfrozen, promoted)
    if collection is FullCollection.UNFROZEN:
        assert now >= last_unfrozen + UNFROZEN_SCAN_SECONDS + LONGEST_DEFERRAL_SECONDS
    elif collection is FullCollection.SINCE_FREEZE:
        assert promoted and now >= last_full + LONGEST_DEFERRAL_SECONDS


@pytest.fixture
def collector() -> Iterator[QuietCollector]:
    quiet_collector = QuietCollector()
    try:
        yield quiet_collector
    finally:
        quiet_collector.stop()
        gc.unfreeze()
        gc.collect()


def promoted_garbage_cycle() -> weakref.ref[Node]:
    """A cycle that young collections moved to the oldest generation before it became garbage."""
    cycle = Node()
    alive = weakref.ref(cycle)
    gc.collect(generation=1)
    return alive


def test_a_started_collector_waits_for_the_request_in_flight_then_collects_and_freezes(
    collector: QuietCollector,
) -> None:
    collector.start()
    collector.request_started()
    full_collections = gc.get_stats()[2]["collections"]
    alive = promoted_garbage_cycle()
    time.sleep(5 * QUIET_SECONDS)
    assert alive() is not None
    assert gc.get_stats()[2]["collections"] == full_collections

    collector.request_finished()
    deadline = time.monotonic() + 10 * QUIET_SECONDS
    while (alive() is not None or not gc.get_freeze_count()) and time.monotonic() < deadline:
        time.sleep(QUIET_SECONDS / 4)
    assert alive() is None
    assert gc.get_freeze_count() > 0


def test_a_cycle_that_became_garbage_after_it_was_frozen_is_reclaimed_by_the_unfrozen_scan(
    collector: QuietCollector,
) -> None:
    cycle = Node()
    alive = weakref.ref(cycle)
    gc.collect(generation=1)
    started = time.monotonic()
    assert collector.collect_if_due(started + QUIET_SECONDS) is FullCollection.SINCE_FREEZE
    del cycle
    gc.collect(generation=1)
    assert collector.collect_if_due(started + 2 * QUIET_SECONDS) is FullCollection.SINCE_FREEZE
    assert alive() is not None
    assert collector.collect_if_due(started + UNFROZEN_SCAN_SECONDS + QUIET_SECONDS) is FullCollection.UNFROZEN
    assert alive() is None
