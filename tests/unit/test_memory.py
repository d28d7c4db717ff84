"""Full collections skip what survived the last one, and cycles are still reclaimed."""

import gc
import weakref
from collections.abc import Iterator

import pytest

from shim.memory import FULL_SCAN_EVERY, FrozenSurvivors


class Node:
    def __init__(self) -> None:
        self.peer: Node = self


@pytest.fixture
def frozen_survivors() -> Iterator[None]:
    callback = FrozenSurvivors()
    gc.callbacks.append(callback)
    try:
        yield
    finally:
        gc.callbacks.remove(callback)
        gc.unfreeze()
        gc.collect()


@pytest.mark.usefixtures("frozen_survivors")
def test_a_full_collection_freezes_its_survivors_out_of_the_next_scan() -> None:
    cached = [{"metadata": {"name": f"pod-{number}"}} for number in range(100)]
    gc.collect()
    assert gc.get_freeze_count() > len(cached)
    assert not any(obj is cached for obj in gc.get_objects(generation=2))


@pytest.mark.usefixtures("frozen_survivors")
def test_a_cycle_that_became_garbage_after_it_was_frozen_is_reclaimed_by_a_later_full_scan() -> None:
    cycle = Node()
    alive = weakref.ref(cycle)
    gc.collect()
    del cycle
    gc.collect()
    assert alive() is not None
    for _ in range(FULL_SCAN_EVERY):
        gc.collect()
    assert alive() is None
