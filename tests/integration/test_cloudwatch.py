"""CloudWatch's AWS/ECS metrics and Application Auto Scaling on real usage, through boto3 and the
AWS CLI on the local cluster with its metrics pipeline: a service of 2 tasks whose simulated CPU
goes to 90% of what they reserve scales out under a 50% CPU target tracking policy and back in
when the load goes, GetMetricStatistics and GetMetricData show the usage the tasks had, and
DescribeScalingActivities tells the story; bad input gets CloudWatch's own errors."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shim.kube.client import KubeClients
from shim.translate.names import LABEL_SERVICE, cluster_namespace
from tests.integration.conftest import (
    ShimServer,
    checked_client,
    error_code,
    eventually,
    run_aws,
    task_pods,
    unique_name,
)
from tests.integration.test_services import describe

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

USAGE_CPU = "kwok.x-k8s.io/usage-cpu"
TASK_CPU_UNITS = 256  # a 250m request: 225m is 90% of it


@pytest.fixture(scope="module")
def cloudwatch(shim: ShimServer) -> Any:
    return checked_client(shim.url, "cloudwatch")


@pytest.fixture(scope="module")
def scaling(shim: ShimServer) -> Any:
    return checked_client(shim.url, "application-autoscaling")


def service_pods(kube: KubeClients, cluster: str) -> list[dict[str, Any]]:
    return [
        pod
        for pod in task_pods(kube, cluster)
        if pod["metadata"]["labels"].get(LABEL_SERVICE) == "web" and "deletionTimestamp" not in pod["metadata"]
    ]


def simulate_cpu(kube: KubeClients, cluster: str, pods: list[dict[str, Any]], usage: str | None) -> None:
    """Set (or with None, clear) the CPU kwok reports for the pods' containers."""
    for pod in pods:
        kube.core.patch_namespaced_pod(
            pod["metadata"]["name"], cluster_namespace(cluster), {"metadata": {"annotations": {USAGE_CPU: usage}}}
        )


def test_simulated_load_scales_a_service_out_and_in_and_cloudwatch_shows_it(
    ecs: Any, scaling: Any, cloudwatch: Any, kube: KubeClients, cluster: str, shim: ShimServer
) -> None:
    started = datetime.now(UTC)
    definition = ecs.register_task_definition(
        family=unique_name("load"),
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64, "cpu": TASK_CPU_UNITS}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=2)
    resource = {
        "ServiceNamespace": "ecs",
        "ScalableDimension": "ecs:service:DesiredCount",
        "ResourceId": f"service/{cluster}/web",
    }
    scaling.register_scalable_target(MinCapacity=2, MaxCapacity=4, **resource)
    scaling.put_scaling_policy(
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleInCooldown": 0,
        },
        **resource,
    )

    def running(count: int) -> list[dict[str, Any]] | None:
        service = describe(ecs, cluster, "web")
        pods = service_pods(kube, cluster)
        done = (service["desiredCount"], service["runningCount"], len(pods)) == (count, count, count)
        return pods if done else None

    loaded = eventually(lambda: running(2), timeout=60)
    simulate_cpu(kube, cluster, loaded, "225m")
    eventually(lambda: running(4), timeout=150)  # 2 x 90% / 50% -> 4, the target's maximum

    service_dimensions = [{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": "web"}]
    window = {"StartTime": started - timedelta(minutes=1), "EndTime": datetime.now(UTC) + timedelta(minutes=2)}

    def busiest_minute() -> dict[str, Any] | None:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/ECS",
            MetricName="CPUUtilization",
            Dimensions=service_dimensions,
            Period=60,
            Statistics=["Average", "Maximum", "Minimum", "SampleCount"],
            **window,
        )["Datapoints"]
        return max(points, key=lambda p: p["Maximum"], default=None) if any(p["Maximum"] > 80 for p in points) else None

    busiest = eventually(busiest_minute, timeout=150, interval=5)  # the sampler keeps one sample a minute
    assert 85 <= busiest["Maximum"] <= 95, busiest
    assert busiest["Unit"] == "Percent" and busiest["SampleCount"] >= 2

    simulate_cpu(kube, cluster, loaded, None)
    eventually(lambda: running(2), timeout=150)
    descriptions = [
        activity["Description"]
        for activity in scaling.describe_scaling_activities(
            **{k: resource[k] for k in ("ServiceNamespace", "ResourceId")}
        )["ScalingActivities"]
    ]
    assert "Setting desired count to 4." in descriptions and descriptions[0] == "Setting desired count to 2."

    data = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "cpu",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ECS",
                        "MetricName": "CPUUtilization",
                        "Dimensions": service_dimensions,
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            },
            {
                "Id": "cluster",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ECS",
                        "MetricName": "MemoryUtilization",
                        "Dimensions": [{"Name": "ClusterName", "Value": cluster}],
                    },
                    "Period": 300,
                    "Stat": "Average",
                },
            },
        ],
        **window,
    )["MetricDataResults"]
    cpu = next(result for result in data if result["Id"] == "cpu")
    assert max(cpu["Values"]) == pytest.approx(busiest["Maximum"])
    assert cpu["Timestamps"] == sorted(cpu["Timestamps"], reverse=True), "newest first, as CloudWatch scans"
    assert next(result for result in data if result["Id"] == "cluster")["Values"], "the cluster's own series"

    listed = run_aws(
        shim.url,
        "list-metrics",
        "--namespace",
        "AWS/ECS",
        "--dimensions",
        f"Name=ClusterName,Value={cluster}",
        service="cloudwatch",
    )
    assert listed.returncode == 0, listed.stderr
    metrics = {
        (m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"])))
        for m in json.loads(listed.stdout)["Metrics"]
    }
    assert metrics == {
        (name, dimensions)
        for name in ("CPUUtilization", "MemoryUtilization")
        for dimensions in (("ClusterName",), ("ClusterName", "ServiceName"))
    }
    scaling.deregister_scalable_target(**resource)


def test_bad_requests_get_cloudwatchs_errors(cloudwatch: Any) -> None:
    now = datetime.now(UTC)
    request = {
        "Namespace": "AWS/ECS",
        "MetricName": "CPUUtilization",
        "Dimensions": [{"Name": "ClusterName", "Value": "default"}],
        "StartTime": now - timedelta(hours=1),
        "EndTime": now,
        "Period": 60,
    }
    assert error_code(cloudwatch.get_metric_statistics, **request) == "MissingParameter"
    assert error_code(cloudwatch.get_metric_statistics, **{**request, "Period": 90, "Statistics": ["Average"]}) == (
        "InvalidParameterValue"
    )
    inverted = {**request, "StartTime": now, "EndTime": now - timedelta(hours=1), "Statistics": ["Average"]}
    assert error_code(cloudwatch.get_metric_statistics, **inverted) == "InvalidParameterValue"
    too_many = {**request, "StartTime": now - timedelta(days=2), "Statistics": ["Average"]}
    assert error_code(cloudwatch.get_metric_statistics, **too_many) == "InvalidParameterCombination"
    other = {**request, "Namespace": "AWS/EC2", "Statistics": ["Average"]}
    assert cloudwatch.get_metric_statistics(**other)["Datapoints"] == [], "other namespaces have no data here"
