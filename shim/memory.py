"""How a worker's garbage collector treats its caches.

A worker keeps every managed pod, node and ECS record as plain JSON in watch-backed caches.
Python's cycle collector scans every tracked object on each full collection: with 10,000 pods
cached, that stalls all of the worker's threads for 0.2 to 0.5 s, about once a minute while
tasks start. Those objects hold no reference cycles, so scanning them again finds nothing.
After each full collection its survivors are therefore frozen (kept out of later scans), and
the next full collection scans only what arrived since. Every FULL_SCAN_EVERY-th full
collection first unfreezes everything, so that cycles which became garbage after they were
frozen are still reclaimed, only less often.
"""

import gc
from typing import Any

FULL_SCAN_EVERY = 10


class FrozenSurvivors:
    """A gc callback: freezes what survives each full collection, unfreezes before every
    FULL_SCAN_EVERY-th."""

    def __init__(self) -> None:
        self.full_collections = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self.full_collections += 1
            if self.full_collections % FULL_SCAN_EVERY == 0:
                gc.unfreeze()
        else:
            gc.freeze()


def freeze_survivors_of_full_collections() -> None:
    gc.callbacks.append(FrozenSurvivors())
