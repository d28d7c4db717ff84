"""CloudWatch's `AWS/ECS` metrics from Kubernetes' resource metrics (metrics.k8s.io), and the
statistics GetMetricStatistics and GetMetricData compute over them.

Once a minute the server samples every ECS cluster's RUNNING tasks, as ECS does:
- a service's CPUUtilization (MemoryUtilization alike) is the CPU its tasks use over the CPU they
  reserve (their pods' requests: the task definition's cpu), in percent; with dimensions
  ClusterName and ServiceName;
- a cluster's is the CPU its tasks use over the CPU its container instances register (the nodes
  serving it), with dimension ClusterName alone.
A service's minute keeps, per metric, [average, minimum, maximum, sample count]: the average as
above, the minimum and maximum of the tasks' own percentages, and the number of tasks; a
cluster's minute is one sample, its average. A period's statistics combine its minutes: Average
weighs each minute by its count, Sum is Average x SampleCount, as CloudWatch derives it from the
same samples. Periods start at StartTime rounded down to the minute. The unit is Percent.

Samples are kept as records per cluster and BUCKET_SECONDS (shim/kube/metric_samples.py) for
RETENTION_HOURS; a request reads only what can still be kept."""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shim.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    MissingRequiredParameterException,
)
from shim.translate import names
from shim.translate.container_instances import allocatable, pod_usage
from shim.translate.quantities import parse_quantity
from shim.translate.task_from_pod import last_status

Json = dict[str, Any]
Sample = list[float]
"""[average, minimum, maximum, sample count] of one metric in one minute."""

NAMESPACE = "AWS/ECS"
CPU = "CPUUtilization"
MEMORY = "MemoryUtilization"
METRICS = (CPU, MEMORY)
UNIT = "Percent"
MINUTE = 60
BUCKET_SECONDS = 600
RETENTION_HOURS = 24
MAX_QUERIES = 500
MAX_DATAPOINTS = 1440
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
CLUSTER_SERIES = ""
"""The key of a minute's cluster-wide sample, beside the services' (keyed by service name)."""


@dataclass(frozen=True)
class TaskUse:
    """What one running task uses and reserves: CPU in cores, memory in bytes."""

    cpu_used: Decimal
    cpu_reserved: Decimal
    memory_used: Decimal
    memory_reserved: Decimal


def task_use(pod_metrics: Mapping[str, Any], cpu_reserved: Decimal, memory_reserved: Decimal) -> TaskUse:
    """A task's use from its pod's PodMetrics (metrics.k8s.io), with what its pod requests."""
    containers = pod_metrics.get("containers") or []
    return TaskUse(
        cpu_used=sum((parse_quantity(c["usage"].get("cpu", "0")) for c in containers), Decimal(0)),
        cpu_reserved=cpu_reserved,
        memory_used=sum((parse_quantity(c["usage"].get("memory", "0")) for c in containers), Decimal(0)),
        memory_reserved=memory_reserved,
    )


def minute_sample(tasks: Sequence[TaskUse], registered: tuple[Decimal, Decimal] | None = None) -> dict[str, Sample]:
    """One minute's sample of each metric over `tasks`: against what they reserve (a service),
    or against `registered` (CPU cores, memory bytes: a cluster's container instances)."""
    sample: dict[str, Sample] = {}
    for metric, used, reserved, capacity in (
        (CPU, [t.cpu_used for t in tasks], [t.cpu_reserved for t in tasks], registered[0] if registered else None),
        (
            MEMORY,
            [t.memory_used for t in tasks],
            [t.memory_reserved for t in tasks],
            registered[1] if registered else None,
        ),
    ):
        whole = capacity if capacity is not None else sum(reserved, Decimal(0))
        per_task = [round(float(u / r * 100), 3) for u, r in zip(used, reserved, strict=True) if r > 0]
        if whole <= 0 or not per_task:
            continue
        average = round(float(sum(used, Decimal(0)) / whole * 100), 3)
        sample[metric] = (
            [average, average, average, 1] if registered else [average, min(per_task), max(per_task), len(per_task)]
        )
    return sample


def cluster_minute(
    pods: Iterable[Mapping[str, Any]],
    metrics: Mapping[str, Mapping[str, Any]],
    service_names: Mapping[str, str],
    registered: tuple[Decimal, Decimal],
) -> dict[str, dict[str, Sample]]:
    """One ECS cluster's minute: the cluster's sample (key CLUSTER_SERIES, against `registered`)
    and each service's, over its RUNNING tasks' pods that have resource metrics (`metrics`, by
    pod name); `service_names` maps the pods' service label to the service's name."""
    everyone: list[TaskUse] = []
    by_service: dict[str, list[TaskUse]] = {}
    for pod in pods:
        found = metrics.get(pod["metadata"]["name"])
        if found is None or "deletionTimestamp" in pod["metadata"] or last_status(pod) != "RUNNING":
            continue
        reserved = pod_usage(pod)
        use = task_use(found, reserved.cpu, reserved.memory)
        everyone.append(use)
        service = service_names.get((pod["metadata"].get("labels") or {}).get(names.LABEL_SERVICE, ""))
        if service is not None:
            by_service.setdefault(service, []).append(use)
    minute = {CLUSTER_SERIES: minute_sample(everyone, registered)}
    minute.update({service: minute_sample(uses) for service, uses in by_service.items()})
    return {series: sample for series, sample in minute.items() if sample}


def registered_resources(nodes: Iterable[Mapping[str, Any]]) -> tuple[Decimal, Decimal]:
    """The CPU cores and memory bytes the container instances on `nodes` register."""
    totals = [allocatable(node) for node in nodes]
    return sum((cpu for cpu, _ in totals), Decimal(0)), sum((memory for _, memory in totals), Decimal(0))


# Reading


@dataclass(frozen=True)
class MetricKey:
    """Which series a request names: the cluster, and the service (CLUSTER_SERIES: the cluster's)."""

    cluster: str
    series: str
    metric: str


def metric_key(namespace: str, metric: str, dimensions: Sequence[Mapping[str, str]]) -> MetricKey | None:
    """The series of an `AWS/ECS` metric with dimensions ClusterName (and ServiceName), as
    CloudWatch matches them: exactly; None for any other metric (it has no data here)."""
    named = {d["Name"]: d.get("Value", "") for d in dimensions}
    if namespace != NAMESPACE or metric not in METRICS or len(named) != len(dimensions):
        return None
    if set(named) == {"ClusterName"}:
        return MetricKey(named["ClusterName"], CLUSTER_SERIES, metric)
    if set(named) == {"ClusterName", "ServiceName"}:
        return MetricKey(named["ClusterName"], named["ServiceName"], metric)
    return None


def check_statistics_request(params: Mapping[str, Any]) -> None:
    """GetMetricStatistics' rules (its times as datetimes): a period of whole minutes, an end
    after the start, at least one statistic, at most MAX_DATAPOINTS datapoints."""
    if not params.get("Statistics") and not params.get("ExtendedStatistics"):
        raise MissingRequiredParameterException("The parameter Statistics or ExtendedStatistics is required.")
    if params.get("Statistics") and params.get("ExtendedStatistics"):
        raise InvalidParameterCombinationException(
            "The parameters Statistics and ExtendedStatistics are mutually exclusive."
        )
    if params.get("ExtendedStatistics"):
        raise InvalidParameterValueException("Percentiles are not kept for AWS/ECS metrics here: use Statistics.")
    check_period(params["Period"])
    if params["EndTime"] <= params["StartTime"]:
        raise InvalidParameterValueException("The parameter StartTime must be less than the parameter EndTime.")
    if (params["EndTime"] - params["StartTime"]).total_seconds() / params["Period"] > MAX_DATAPOINTS:
        raise InvalidParameterCombinationException(
            f"You have requested up to {MAX_DATAPOINTS + 1} datapoints, which exceeds the limit of {MAX_DATAPOINTS}."
        )


def check_period(period: int) -> None:
    if period < MINUTE or period % MINUTE:
        raise InvalidParameterValueException(
            f"The parameter Period must be a multiple of {MINUTE} (these metrics have one sample a minute)."
        )


def periods(series: Iterable[tuple[int, Sample]], start: float, end: float, period: int) -> list[tuple[int, Sample]]:
    """The minutes' samples from `start` (rounded down to the minute) to `end` combined per
    period, in time order: (period start, [average, minimum, maximum, count])."""
    origin = int(start) // MINUTE * MINUTE
    grouped: dict[int, list[Sample]] = {}
    for minute, sample in series:
        if origin <= minute < end:
            grouped.setdefault(origin + (minute - origin) // period * period, []).append(sample)
    combined = []
    for at, samples in sorted(grouped.items()):
        count = sum(s[3] for s in samples)
        average = sum(s[0] * s[3] for s in samples) / count
        combined.append((at, [average, min(s[1] for s in samples), max(s[2] for s in samples), count]))
    return combined


def statistic(sample: Sample, name: str) -> float:
    average, minimum, maximum, count = sample
    return {
        "Average": average,
        "Minimum": minimum,
        "Maximum": maximum,
        "SampleCount": count,
        "Sum": average * count,
    }[name]


def datapoints(combined: Sequence[tuple[int, Sample]], statistics: Sequence[str]) -> list[Json]:
    """GetMetricStatistics' Datapoints."""
    return [
        {"Timestamp": timestamp(at), **{name: statistic(sample, name) for name in statistics}, "Unit": UNIT}
        for at, sample in combined
    ]


def timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def stat_name(stat: str) -> str:
    """A MetricStat's Stat as a statistic this data has (CloudWatch's names, case as given)."""
    if stat not in STATISTICS:
        raise InvalidParameterValueException(
            f"The statistic {stat} is not one of {', '.join(STATISTICS)} (percentiles are not kept here)."
        )
    return stat


def buckets_between(start: float, end: float, now: float) -> list[int]:
    """The buckets (epoch seconds // BUCKET_SECONDS) a request from `start` to `end` reads: only
    those that may still be kept (none for a range wholly before or after them)."""
    low = max(int(start) // MINUTE * MINUTE, now - RETENTION_HOURS * 3600 - BUCKET_SECONDS)
    high = min(end, now + MINUTE)
    if low >= high:
        return []
    return list(range(math.floor(low / BUCKET_SECONDS), math.ceil(high / BUCKET_SECONDS)))
