"""The CloudWatch metrics API (`cloudwatch`, SigV4 service `monitoring`: X-Amz-Target
`GraniteServiceVersion20100801.*` in JSON 1.0, which boto3 picks, or the same operations in Smithy
RPC v2 CBOR), on the same endpoint as ECS, for the `AWS/ECS` metrics the server samples
(sampler.py): GetMetricStatistics, GetMetricData and ListMetrics. Other namespaces have no data.

A call with a caller is made as the caller, so Kubernetes RBAC on `metricsamples` (ecs.shim.io)
decides it; a refusal is AccessDeniedException in IAM's words."""

import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import InvalidParameterValueException
from shim.kube.metric_samples import MetricSampleStore
from shim.operations.base import as_caller
from shim.operations.pagination import page
from shim.translate.cloudwatch import (
    CLUSTER_SERIES,
    MAX_QUERIES,
    NAMESPACE,
    RETENTION_HOURS,
    UNIT,
    MetricKey,
    Sample,
    buckets_between,
    check_period,
    check_statistics_request,
    datapoints,
    metric_key,
    periods,
    stat_name,
    statistic,
    timestamp,
)

MAX_LISTED = 500
RECENT_HOURS = 3


def build_cloudwatch_handlers(samples: MetricSampleStore) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        "GetMetricStatistics": partial(get_metric_statistics, samples),
        "GetMetricData": partial(get_metric_data, samples),
        "ListMetrics": partial(list_metrics, samples),
    }
    return {operation: as_caller(handler, "cloudwatch", "*") for operation, handler in handlers.items()}


class _Kept:
    """The samples objects one call reads, each cluster's read once whatever its queries."""

    def __init__(self, samples: MetricSampleStore, start: float, end: float) -> None:
        self.samples = samples
        self.buckets = buckets_between(start, end, time.time())
        self.read: dict[str, list[dict[str, Any]]] = {}

    def series(self, key: MetricKey) -> list[tuple[int, Sample]]:
        """The minutes' samples of one metric series."""
        if key.cluster not in self.read:
            self.read[key.cluster] = self.samples.buckets(self.buckets, key.cluster)
        found = []
        for spec in self.read[key.cluster]:
            for minute, by_series in (spec.get("samples") or {}).items():
                sample = (by_series.get(key.series) or {}).get(key.metric)
                if sample is not None:
                    found.append((int(minute), sample))
        return sorted(found)


def _unit_matches(unit: str | None) -> bool:
    """A request for another unit than the metric's gets no data, as in CloudWatch."""
    return unit is None or unit == UNIT


def get_metric_statistics(samples: MetricSampleStore, call: Call) -> Response:
    params = call.params
    check_statistics_request(params)
    key = metric_key(params["Namespace"], params["MetricName"], params.get("Dimensions") or [])
    start, end = params["StartTime"].timestamp(), params["EndTime"].timestamp()
    combined: list[tuple[int, Sample]] = []
    if key is not None and _unit_matches(params.get("Unit")):
        combined = periods(_Kept(samples, start, end).series(key), start, end, params["Period"])
    return {"Label": params["MetricName"], "Datapoints": datapoints(combined, params["Statistics"])}


def get_metric_data(samples: MetricSampleStore, call: Call) -> Response:
    """Each MetricStat query's values, newest first unless ScanBy says otherwise; a metric math
    expression is answered with no values and a message saying so."""
    params = call.params
    if params["EndTime"] <= params["StartTime"]:
        raise InvalidParameterValueException("The parameter StartTime must be less than the parameter EndTime.")
    if len(params["MetricDataQueries"]) > MAX_QUERIES:
        raise InvalidParameterValueException(f"A request can have at most {MAX_QUERIES} MetricDataQueries.")
    ascending = params.get("ScanBy") == "TimestampAscending"
    start, end = params["StartTime"].timestamp(), params["EndTime"].timestamp()
    kept = _Kept(samples, start, end)
    results = [
        _query_result(kept, query, start, end, ascending)
        for query in params["MetricDataQueries"]
        if query.get("ReturnData", True)
    ]
    return {"MetricDataResults": results, "Messages": []}


def _query_result(kept: _Kept, query: dict[str, Any], start: float, end: float, ascending: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"Id": query["Id"], "Timestamps": [], "Values": [], "StatusCode": "Complete"}
    stat = query.get("MetricStat")
    if (stat is None) == (query.get("Expression") is None):
        raise InvalidParameterValueException(
            f"The query {query['Id']} must have either a MetricStat or an Expression, not both or neither."
        )
    if stat is None:
        result["Label"] = query.get("Label") or query["Id"]
        result["Messages"] = [{"Code": "Unsupported", "Value": "Metric math expressions are not computed here."}]
        return result
    metric = stat["Metric"]
    result["Label"] = query.get("Label") or metric.get("MetricName", query["Id"])
    check_period(stat["Period"])
    name = stat_name(stat["Stat"])
    key = metric_key(metric.get("Namespace", ""), metric.get("MetricName", ""), metric.get("Dimensions") or [])
    if key is None or not _unit_matches(stat.get("Unit")):
        return result
    combined = periods(kept.series(key), start, end, stat["Period"])
    ordered = combined if ascending else list(reversed(combined))
    result["Timestamps"] = [timestamp(at) for at, _ in ordered]
    result["Values"] = [statistic(sample, name) for _, sample in ordered]
    return result


def list_metrics(samples: MetricSampleStore, call: Call) -> Response:
    """The AWS/ECS metrics that have samples (in the last RECENT_HOURS with RecentlyActive PT3H)."""
    params = call.params
    now = time.time()
    since = now - (RECENT_HOURS if params.get("RecentlyActive") else RETENTION_HOURS) * 3600
    found: set[tuple[str, str, str]] = set()
    for spec in samples.buckets(buckets_between(since, now, now)):
        for minute, by_series in (spec.get("samples") or {}).items():
            if int(minute) >= since:
                for series_name, metrics in by_series.items():
                    found.update((spec["clusterName"], series_name, metric) for metric in metrics)
    listed = sorted(
        (metric for metric in (_metric(*key) for key in found) if _listed(metric, params)), key=_metric_sort_key
    )
    chunk, token = page(
        listed,
        _metric_sort_key,
        None,
        params.get("NextToken"),
        limit=MAX_LISTED,
        refused=InvalidParameterValueException,
    )
    return {"Metrics": chunk, **({"NextToken": token} if token else {})}


def _metric(cluster: str, series_name: str, name: str) -> dict[str, Any]:
    dimensions = [{"Name": "ClusterName", "Value": cluster}]
    if series_name != CLUSTER_SERIES:
        dimensions.append({"Name": "ServiceName", "Value": series_name})
    return {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dimensions}


def _metric_sort_key(metric: dict[str, Any]) -> str:
    return "\x00".join([metric["MetricName"], *(f"{d['Name']}={d['Value']}" for d in metric["Dimensions"])])


def _listed(metric: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether a metric passes ListMetrics' filters: namespace, name, and each dimension given
    (by name, and by value when one is given)."""
    if params.get("Namespace") not in (None, metric["Namespace"]):
        return False
    if params.get("MetricName") not in (None, metric["MetricName"]):
        return False
    wanted: Sequence[dict[str, str]] = params.get("Dimensions") or []
    have = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
    return all(d["Name"] in have and d.get("Value") in (None, have[d["Name"]]) for d in wanted)
