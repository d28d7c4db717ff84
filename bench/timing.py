"""Clocks, percentiles, progress lines, and closed-loop load from several concurrent clients."""

import contextlib
import functools
import gc
import itertools
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

C = TypeVar("C")

STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the two nearest ranks (numpy's default)."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


@dataclass
class Samples:
    """Latencies in seconds, and the errors met while taking them."""

    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    def add(self, other: "Samples") -> None:
        self.seconds.extend(other.seconds)
        self.errors.extend(other.errors)
        self.wall += other.wall

    def p50_ms(self) -> float:
        return percentile(self.seconds, 0.5) * 1000

    def p99_ms(self) -> float:
        return percentile(self.seconds, 0.99) * 1000

    def throughput(self) -> float:
        return len(self.seconds) / self.wall if self.wall else 0.0


def sample(call: Callable[[], object], samples: Samples) -> None:
    """Time one call into `samples`; an exception is kept as an error, not as a latency."""
    began = time.perf_counter()
    try:
        call()
    except Exception as error:
        samples.errors.append(f"{type(error).__name__}: {error}"[:300])
        return
    samples.seconds.append(time.perf_counter() - began)


def within_budget(count: int, budget_seconds: float, minimum: int = 1) -> Iterator[int]:
    """0, 1, ... up to `count`, stopping early once `budget_seconds` have passed (after `minimum`)."""
    began = time.monotonic()
    for index in range(count):
        if index >= minimum and time.monotonic() - began > budget_seconds:
            return
        yield index


@dataclass
class ClientPool(Generic[C]):
    """One client object per concurrent caller, made (and warmed) before any clock starts."""

    clients: list[C]

    @classmethod
    def make(cls, size: int, make_client: Callable[[], C], warm: Callable[[C], object]) -> "ClientPool[C]":
        clients = [make_client() for _ in range(size)]
        for client in clients:
            warm(client)
        return cls(clients)

    def run(self, calls: int, call: Callable[[C, int], object], budget_seconds: float | None = None) -> Samples:
        """`calls` calls shared by all clients, each client issuing its next call as soon as its
        previous one answered (closed loop); wall time runs from the common start to the last answer.
        After `budget_seconds` no new call starts, so fewer than `calls` may be made."""
        samples = Samples()
        deadline = float("inf") if budget_seconds is None else time.monotonic() + budget_seconds
        lock = threading.Lock()
        numbers = itertools.count()
        start = threading.Barrier(len(self.clients) + 1)

        def caller(client: C) -> None:
            start.wait()
            mine = Samples()
            while True:
                with lock:
                    number = next(numbers)
                if number >= calls or time.monotonic() > deadline:
                    break
                sample(functools.partial(call, client, number), mine)
            with lock:
                samples.add(mine)

        threads = [threading.Thread(target=caller, args=(client,), daemon=True) for client in self.clients]
        with garbage_collection_paused():
            for thread in threads:
                thread.start()
            start.wait()
            began = time.perf_counter()
            for thread in threads:
                thread.join()
            samples.wall = time.perf_counter() - began
        return samples


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """No garbage collection in this process meanwhile: a full collection here (boto3's models,
    thousands of task ids) stalls every client for 0.1 to 0.3 s, on whichever side is measured."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
