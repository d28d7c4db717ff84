"""The server's Prometheus metrics: what each layer records shows in the exposition, in one
process or summed across gunicorn's worker processes (multiprocess mode)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shim import metrics


def sample(text: bytes, name: str, **labels: str) -> float:
    """The value of the sample `name` with `labels` in an exposition (0 when absent)."""
    for family in text_string_to_metric_families(text.decode()):
        for found in family.samples:
            if found.name == name and all(found.labels.get(key) == value for key, value in labels.items()):
                return float(found.value)
    return 0.0


def test_requests_api_server_calls_and_background_steps_are_counted() -> None:
    before = metrics.exposition()
    metrics.request_answered("ecs", "RunTask", 200, 0.012)
    with pytest.raises(RuntimeError), metrics.kube_call("create_namespaced_pod"):
        raise RuntimeError("refused")
    metrics.background_step("follow_service", 0.5, failed=True)
    after = metrics.exposition()
    for name, labels in (
        ("ecs_shim_requests_total", {"service": "ecs", "operation": "RunTask", "status": "200"}),
        ("ecs_shim_request_duration_seconds_count", {"operation": "RunTask"}),
        ("ecs_shim_kube_requests_total", {"call": "create_namespaced_pod", "outcome": "error"}),
        ("ecs_shim_background_step_failures_total", {"step": "follow_service"}),
    ):
        assert sample(after, name, **labels) - sample(before, name, **labels) == 1, name


def test_scrape_time_families_are_added() -> None:
    def tasks() -> list[metrics.Family]:
        return [metrics.gauge("ecs_shim_tasks", "tasks", ["cluster", "status"], [(["prod", "RUNNING"], 3)])]

    assert sample(metrics.exposition([tasks]), "ecs_shim_tasks", cluster="prod", status="RUNNING") == 3


def test_worker_processes_metrics_are_summed(tmp_path: Path) -> None:
    """Two processes (as two gunicorn workers) count requests; a third, scraped, shows both."""
    env = {**os.environ, metrics.MULTIPROCESS_DIR: str(tmp_path)}
    record = "from shim import metrics; metrics.request_answered('ecs', 'ListTasks', 200, 0.01)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", record], env=env, check=True)
    scrape = "import sys; from shim import metrics; sys.stdout.buffer.write(metrics.exposition())"
    text = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, capture_output=True).stdout
    assert sample(text, "ecs_shim_requests_total", operation="ListTasks", status="200") == 2
