"""When a worker's garbage collector makes a full collection.

A worker keeps every managed pod, node and ECS record as plain JSON in watch-backed caches.
Python's cycle collector scans every tracked object on each full collection, and every thread of
the worker waits meanwhile: 0.1 s for the few hundred pods a burst of RunTasks caches, 0.3 to
0.8 s for the first LIST of 10,000 pods. Left to the allocator, those collections fall in the
middle of requests. Cached objects hold no reference cycles, so scanning them again finds nothing.

So the allocator never starts a full collection here (young collections, of generations 0 and 1,
run as Python schedules them). A thread of the worker makes them instead, at a quiet moment: no
request in flight for QUIET_SECONDS. Survivors are frozen (kept out of later scans), so the next
full collection scans only what arrived since. Every UNFROZEN_SCAN_SECONDS everything is unfrozen
first, so that cycles which became garbage after they were frozen are still reclaimed. A worker
that has no quiet moment collects anyway: LONGEST_DEFERRAL_SECONDS after its last full collection,
or after the rescan fell due.
"""

import enum
import gc
import logging
import threading
import time

QUIET_SECONDS = 0.2
LONGEST_DEFERRAL_SECONDS = 10.0
UNFROZEN_SCAN_SECONDS = 600.0
POLL_SECONDS = 0.05
NO_AUTOMATIC_FULL_COLLECTIONS = 2**31 - 1
"""A generation-2 threshold the count of young collections never reaches."""

log = logging.getLogger(__name__)


class FullCollection(enum.Enum):
    SINCE_FREEZE = "what arrived since the last freeze"
    UNFROZEN = "everything, frozen objects included"


def full_collection_due(
    now: float, quiet_since: float | None, last_full: float, last_unfrozen: float, promoted: bool
) -> FullCollection | None:
    """Which full collection to make now, if any. `quiet_since`: when the last request ended
    (None while one is in flight); `promoted`: whether young collections have moved objects into
    the oldest generation since the last full collection."""
    quiet = quiet_since is not None and now - quiet_since >= QUIET_SECONDS
    unfrozen_due = last_unfrozen + UNFROZEN_SCAN_SECONDS
    if now >= unfrozen_due and (quiet or now >= unfrozen_due + LONGEST_DEFERRAL_SECONDS):
        return FullCollection.UNFROZEN
    if promoted and (quiet or now >= last_full + LONGEST_DEFERRAL_SECONDS):
        return FullCollection.SINCE_FREEZE
    return None


class QuietCollector:
    """Makes a worker's full collections at quiet moments; `request_started` and
    `request_finished` tell it when requests are in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        started = time.monotonic()
        self._quiet_since: float | None = started
        self._last_full = started
        self._last_unfrozen = started
        self._stopped = threading.Event()
        self._thresholds = gc.get_threshold()

    def start(self) -> "QuietCollector":
        young, middle, _ = self._thresholds
        gc.set_threshold(young, middle, NO_AUTOMATIC_FULL_COLLECTIONS)
        threading.Thread(target=self._run, name="quiet-collector", daemon=True).start()
        return self

    def stop(self) -> None:
        """Hand full collections back to the allocator (with what is frozen left frozen)."""
        self._stopped.set()
        gc.set_threshold(*self._thresholds)

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._quiet_since = None

    def request_finished(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if not self._in_flight:
                self._quiet_since = time.monotonic()

    def collect_if_due(self, now: float) -> FullCollection | None:
        with self._lock:
            quiet_since = self._quiet_since
        due = full_collection_due(now, quiet_since, self._last_full, self._last_unfrozen, gc.get_count()[2] > 0)
        if due is FullCollection.UNFROZEN:
            gc.unfreeze()
            self._last_unfrozen = now
        if due is not None:
            gc.collect()
            gc.freeze()
            self._last_full = now
        return due

    def _run(self) -> None:
        while not self._stopped.wait(POLL_SECONDS):
            try:
                self.collect_if_due(time.monotonic())
            except Exception:
                log.exception("a full garbage collection failed")
