"""Prometheus metrics at /metrics of a real server (gunicorn, two workers): requests counted
across both workers, API server calls, watch caches, and the tasks and services of a cluster as
the caches hold them."""

from typing import Any

import requests

from tests.integration.conftest import FAST_WAITER, ShimServer, eventually
from tests.integration.test_services import register
from tests.unit.test_metrics import sample


def scrape(shim: ShimServer) -> bytes:
    response = requests.get(f"{shim.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content


def test_metrics_count_every_workers_requests_and_show_the_clusters_tasks(
    ecs: Any, shim: ShimServer, cluster: str
) -> None:
    before = scrape(shim)
    for _ in range(12):  # spread over both workers by gunicorn
        ecs.describe_clusters(clusters=[cluster])
    after = scrape(shim)
    counted = {"service": "ecs", "operation": "DescribeClusters", "status": "200"}
    assert (
        sample(after, "ecs_shim_requests_total", **counted) - sample(before, "ecs_shim_requests_total", **counted) == 12
    )

    definition = register(ecs, "metrics")
    [task] = ecs.run_task(cluster=cluster, taskDefinition=definition)["tasks"]
    try:
        ecs.get_waiter("tasks_running").wait(cluster=cluster, tasks=[task["taskArn"]], WaiterConfig=FAST_WAITER)
        ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=0)

        def shown() -> bytes | None:
            text = scrape(shim)
            counts = (
                sample(text, "ecs_shim_tasks", cluster=cluster, status="RUNNING"),
                sample(text, "ecs_shim_services", cluster=cluster, status="ACTIVE"),
                sample(text, "ecs_shim_background_step_duration_seconds_count", step="follow_service") > 0,
            )
            return text if counts == (1, 1, True) else None

        text = eventually(shown)
    finally:
        ecs.stop_task(cluster=cluster, task=task["taskArn"])
    assert sample(text, "ecs_shim_kube_requests_total", call="create", outcome="ok") >= 1, "RunTask's pod"
    assert sample(text, "ecs_shim_watch_cache_objects", resource="pods") >= 1
    assert sample(text, "ecs_shim_watch_lists_total", resource="pods") >= 2, "each worker's cache listed once"
