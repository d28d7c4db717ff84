"""CloudWatch's AWS/ECS metrics as ECS computes them: a service's use over its tasks'
reservations, a cluster's over its instances' registered resources, minutes combined into a
period's statistics, the series a request names, and CloudWatch's rules for a request."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shim.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    MissingRequiredParameterException,
)
from shim.translate.cloudwatch import (
    CLUSTER_SERIES,
    CPU,
    MEMORY,
    MetricKey,
    TaskUse,
    buckets_between,
    check_statistics_request,
    cluster_minute,
    datapoints,
    metric_key,
    minute_sample,
    periods,
    registered_resources,
    task_use,
)
from shim.translate.names import LABEL_SERVICE
from tests.unit.test_tasks import container, definition, running, task_pod

MIB = Decimal(1024 * 1024)


def use(cpu_used: str, cpu_reserved: str, memory_used: int = 0, memory_reserved: int = 1) -> TaskUse:
    return TaskUse(Decimal(cpu_used), Decimal(cpu_reserved), Decimal(memory_used) * MIB, Decimal(memory_reserved) * MIB)


def test_a_services_cpu_is_what_its_tasks_use_over_what_they_reserve() -> None:
    sample = minute_sample([use("0.225", "0.25", 32, 64), use("0.025", "0.25", 16, 64)])
    assert sample[CPU] == pytest.approx([50.0, 10.0, 90.0, 2])
    assert sample[MEMORY] == pytest.approx([37.5, 25.0, 50.0, 2])


def test_a_clusters_cpu_is_what_its_tasks_use_over_what_its_instances_register() -> None:
    sample = minute_sample([use("0.5", "0.25", 64, 64), use("0.1", "0.25")], registered=(Decimal(2), 1024 * MIB))
    assert sample[CPU] == pytest.approx([30.0, 30.0, 30.0, 1]), "one sample a minute for the cluster"
    assert sample[MEMORY][0] == pytest.approx(6.25)
    assert minute_sample([use("0.5", "0.25")])[CPU][2] == pytest.approx(200.0), "a task may use more than it reserves"


def test_tasks_reserving_nothing_give_no_sample() -> None:
    assert minute_sample([use("0.1", "0")]) == {MEMORY: pytest.approx([0.0, 0.0, 0.0, 1])}
    assert minute_sample([]) == {}


def test_a_pods_usage_is_the_sum_of_its_containers() -> None:
    metrics = {"containers": [{"usage": {"cpu": "100m", "memory": "10Mi"}}, {"usage": {"cpu": "150000n"}}]}
    made = task_use(metrics, Decimal("0.5"), 64 * MIB)
    assert (made.cpu_used, made.memory_used) == (Decimal("0.10015"), 10 * MIB)


def test_a_clusters_minute_counts_its_running_tasks_by_service() -> None:
    spec = definition(container(cpu=256, memory=64))
    web = task_pod(spec, phase="Running", statuses={"app": running()})
    web["metadata"]["labels"][LABEL_SERVICE] = "web"
    standalone = task_pod(spec, phase="Running", statuses={"app": running()})
    standalone["metadata"]["name"] = "standalone"
    pending = task_pod(spec, phase="Pending")
    pending["metadata"]["name"] = "pending"
    usage = {"containers": [{"usage": {"cpu": "128m", "memory": "32Mi"}}]}
    metrics: dict[str, Any] = {"standalone": usage, web["metadata"]["name"]: usage, "pending": usage}
    minute = cluster_minute([web, standalone, pending], metrics, {"web": "web"}, (Decimal(1), 1024 * MIB))
    assert set(minute) == {CLUSTER_SERIES, "web"}
    assert minute["web"][CPU] == pytest.approx([51.2, 51.2, 51.2, 1])
    assert minute[CLUSTER_SERIES][CPU] == pytest.approx([25.6, 25.6, 25.6, 1]), "256m of the 1 registered core"


def test_registered_resources_add_up_the_nodes() -> None:
    nodes = [{"status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}}, {"status": {"allocatable": {"cpu": "500m"}}}]
    assert registered_resources(nodes) == (Decimal("2.5"), 4096 * MIB)


def test_minutes_combine_into_periods_weighted_by_their_task_counts() -> None:
    minutes = [(600, [90.0, 85.0, 95.0, 2]), (660, [30.0, 10.0, 50.0, 4]), (720, [20.0, 20.0, 20.0, 1])]
    combined = periods(minutes, 600, 780, 120)
    assert combined == [(600, [pytest.approx(50.0), 10.0, 95.0, 6]), (720, [20.0, 20.0, 20.0, 1])]
    [point, _] = datapoints(combined, ["Average", "Sum", "SampleCount"])
    assert point["Timestamp"] == datetime.fromtimestamp(600, UTC)
    assert (point["Average"], point["Sum"], point["SampleCount"], point["Unit"]) == (
        pytest.approx(50.0),
        pytest.approx(300.0),
        6,
        "Percent",
    )
    assert periods(minutes, 661, 720, 60) == [(660, [30.0, 10.0, 50.0, 4])], "the start rounds down to its minute"
    assert periods(minutes, 600, 660, 60) == [(600, [90.0, 85.0, 95.0, 2])], "the end is not included"


def test_a_request_names_a_series_by_its_exact_dimensions() -> None:
    cluster = [{"Name": "ClusterName", "Value": "prod"}]
    service = [*cluster, {"Name": "ServiceName", "Value": "web"}]
    assert metric_key("AWS/ECS", CPU, cluster) == MetricKey("prod", CLUSTER_SERIES, CPU)
    assert metric_key("AWS/ECS", MEMORY, service) == MetricKey("prod", "web", MEMORY)
    assert metric_key("AWS/ECS", CPU, [{"Name": "ServiceName", "Value": "web"}]) is None
    assert metric_key("AWS/ECS", "GPUReservation", cluster) is None
    assert metric_key("AWS/EC2", CPU, cluster) is None


def test_statistics_requests_follow_cloudwatchs_rules() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    good = {"StartTime": now - timedelta(hours=1), "EndTime": now, "Period": 60, "Statistics": ["Average"]}
    check_statistics_request(good)
    for change, refused in (
        ({"Statistics": None}, MissingRequiredParameterException),
        ({"ExtendedStatistics": ["p90"]}, InvalidParameterCombinationException),
        ({"Statistics": None, "ExtendedStatistics": ["p90"]}, InvalidParameterValueException),
        ({"Period": 30}, InvalidParameterValueException),
        ({"Period": 90}, InvalidParameterValueException),
        ({"EndTime": now - timedelta(hours=2)}, InvalidParameterValueException),
        ({"StartTime": now - timedelta(days=2)}, InvalidParameterCombinationException),
    ):
        with pytest.raises(refused):
            check_statistics_request({**good, **change})


def test_a_request_reads_only_the_buckets_that_may_still_be_kept() -> None:
    now = 1_800_000_000.0
    assert buckets_between(now - 1200, now, now) == [2999998, 2999999]
    assert buckets_between(now - 600, now - 599.5, now) == [2999999], "a range within one minute still reads it"
    assert len(buckets_between(0, 10**11, now)) == 24 * 6 + 2, "a day and the bucket around each end, not 1970 on"
    assert buckets_between(0, now - 2 * 86400, now) == [], "a range wholly before what is kept reads nothing"
