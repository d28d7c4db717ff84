"""The server's Prometheus metrics, shared by every layer: each records what it alone sees (the
protocol layer requests, the kube layer API server calls and watch caches, the reconciler its
background steps); `ecs-shim serve` publishes them at /metrics.

gunicorn runs several worker processes, so the metrics are kept in prometheus_client's
multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (`ecs-shim serve` sets it before the
workers start, and prometheus_client must not be imported before that: it picks its mode on
import, hence the imports inside the functions here), and in memory otherwise (tests, tools)."""

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Family = Any
"""A prometheus_client metric family (GaugeMetricFamily), built at scrape time."""


_created: dict[str, Any] = {}
_creating = threading.Lock()


def _metrics() -> dict[str, Any]:
    """The metrics, made on first use, once: a worker's threads reach them together at its first
    requests, and a metric registered twice is an error."""
    if not _created:
        with _creating:
            if not _created:
                _created.update(_made())
    return _created


def _made() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    return {
        "requests": Counter(
            "ecs_shim_requests_total", "AWS API requests answered, by service, operation and HTTP status",
            ["service", "operation", "status"],
        ),
        "request_seconds": Histogram(
            "ecs_shim_request_duration_seconds", "Time to answer an AWS API request", ["service", "operation"],
            buckets=LATENCY_BUCKETS,
        ),
        "kube_requests": Counter(
            "ecs_shim_kube_requests_total", "Calls to the Kubernetes API server, by client call and outcome",
            ["call", "outcome"],
        ),
        "kube_seconds": Histogram(
            "ecs_shim_kube_request_duration_seconds", "Time a call to the Kubernetes API server took", ["call"],
            buckets=LATENCY_BUCKETS,
        ),
        "watch_lists": Counter(
            "ecs_shim_watch_lists_total", "Full LISTs of a watch-backed cache (its start and every resync)",
            ["resource"],
        ),
        "background_seconds": Histogram(
            "ecs_shim_background_step_duration_seconds", "Time one step of a background loop took", ["step"],
            buckets=LATENCY_BUCKETS,
        ),
        "background_failures": Counter(
            "ecs_shim_background_step_failures_total", "Background loop steps that failed", ["step"]
        ),
    }  # fmt: skip


def request_answered(service: str, operation: str | None, status: int, seconds: float) -> None:
    name = operation or "unknown"
    _metrics()["requests"].labels(service, name, str(status)).inc()
    _metrics()["request_seconds"].labels(service, name).observe(seconds)


@contextmanager
def kube_call(call: str) -> Iterator[None]:
    """Count and time one call to the API server; an exception counts as its outcome `error`."""
    started = time.monotonic()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        _metrics()["kube_requests"].labels(call, outcome).inc()
        _metrics()["kube_seconds"].labels(call).observe(time.monotonic() - started)


def watch_listed(resource: str) -> None:
    _metrics()["watch_lists"].labels(resource).inc()


def background_step(step: str, seconds: float, failed: bool) -> None:
    _metrics()["background_seconds"].labels(step).observe(seconds)
    if failed:
        _metrics()["background_failures"].labels(step).inc()


def exposition(collectors: Iterable[Callable[[], Iterable[Family]]] = ()) -> bytes:
    """The text a Prometheus scrape gets: every process's metrics (multiprocess mode) or this
    one's, and the families `collectors` build now from what this process sees."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

    _metrics()
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_Collected(collectors))


def gauge(name: str, documentation: str, labels: list[str], samples: Iterable[tuple[list[str], float]]) -> Family:
    """A gauge family of `samples` (label values, value), for a collector."""
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (gunicorn's child_exit hook; multiprocess mode only)."""
    if os.environ.get(MULTIPROCESS_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class _Collected:
    """A registry-like object for `generate_latest` holding the scrape-time families."""

    def __init__(self, collectors: Iterable[Callable[[], Iterable[Family]]]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Family]:
        for collector in self.collectors:
            yield from collector()
