"""Application Auto Scaling of an ECS service through boto3 and the AWS CLI on the local cluster:
a target tracking policy becomes the service's HorizontalPodAutoscaler, which really scales its
Deployment (to the target's minimum), DescribeServices and DescribeScalingActivities follow it, a
scheduled action raises the limits at its time, and bad input gets Application Auto Scaling's
own errors."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from shim.kube.client import KubeClients
from shim.kube.errors import NotFound, requested
from shim.translate.names import cluster_namespace
from shim.translate.service_to_kube import workload_name
from tests.integration.conftest import ShimServer, checked_client, error_code, eventually, run_aws, unique_name
from tests.integration.test_services import describe, register

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

DIMENSION = {"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount"}
CPU_AT_50 = {
    "TargetValue": 50.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    "ScaleInCooldown": 60,
}


@pytest.fixture(scope="module")
def scaling(shim: ShimServer) -> Any:
    """An Application Auto Scaling client whose every response is checked against the model."""
    return checked_client(shim.url, "application-autoscaling")


def autoscaler(kube: KubeClients, cluster: str) -> dict[str, Any] | None:
    api = client.AutoscalingV2Api(kube.api)
    try:
        found = requested(
            api.read_namespaced_horizontal_pod_autoscaler, workload_name("web"), cluster_namespace(cluster)
        )
    except NotFound:
        return None
    return dict(kube.api.sanitize_for_serialization(found))


def test_target_tracking_scales_the_service_through_its_hpa_and_a_scheduled_action_raises_its_limits(
    ecs: Any, scaling: Any, kube: KubeClients, cluster: str, shim: ShimServer
) -> None:
    ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=register(ecs, unique_name("web")), desiredCount=1
    )
    resource = {"ResourceId": f"service/{cluster}/web", **DIMENSION}
    arn = scaling.register_scalable_target(MinCapacity=2, MaxCapacity=4, **resource)["ScalableTargetARN"]
    [shown] = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource["ResourceId"]])[
        "ScalableTargets"
    ]
    assert (shown["ScalableTargetARN"], shown["MinCapacity"], shown["MaxCapacity"]) == (arn, 2, 4)
    assert autoscaler(kube, cluster) is None, "a target alone scales nothing"

    scaling.put_scaling_policy(
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=CPU_AT_50,
        **resource,
    )
    hpa = autoscaler(kube, cluster)
    assert hpa is not None
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50

    def scaled_to(count: int) -> bool:
        service = describe(ecs, cluster, "web")
        return (service["desiredCount"], service["runningCount"]) == (count, count)

    eventually(lambda: scaled_to(2), timeout=60)  # the HPA brings the service to its minimum
    activities = scaling.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=resource["ResourceId"])
    assert activities["ScalingActivities"][0]["Description"] == "Setting desired count to 2."
    assert "HorizontalPodAutoscaler" in activities["ScalingActivities"][0]["Cause"]

    soon = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S")
    scaling.put_scheduled_action(
        ScheduledActionName="peak",
        Schedule=f"at({soon})",
        ScalableTargetAction={"MinCapacity": 3, "MaxCapacity": 5},
        **resource,
    )
    eventually(lambda: scaled_to(3), timeout=60)
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 5)
    eventually(lambda: (autoscaler(kube, cluster) or {}).get("spec", {}).get("minReplicas") == 3)
    causes = [a["Cause"] for a in scaling.describe_scaling_activities(ServiceNamespace="ecs")["ScalingActivities"]]
    assert any("scheduled action name peak" in cause for cause in causes)

    listed = run_aws(
        shim.url,
        "describe-scaling-policies",
        "--service-namespace",
        "ecs",
        "--resource-id",
        resource["ResourceId"],
        service="application-autoscaling",
    )
    assert listed.returncode == 0, listed.stderr
    policies = json.loads(listed.stdout)
    assert [p["PolicyName"] for p in policies["ScalingPolicies"]] == ["cpu50"]
    scaling.tag_resource(ResourceARN=arn, Tags={"team": "web", "stage": "prod"})
    scaling.untag_resource(ResourceARN=arn, TagKeys=["stage"])
    assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "web"}
    scaling.delete_scheduled_action(ScheduledActionName="peak", **resource)
    assert (
        scaling.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=resource["ResourceId"])[
            "ScheduledActions"
        ]
        == []
    )
    scaling.delete_scaling_policy(PolicyName="cpu50", **resource)
    eventually(lambda: autoscaler(kube, cluster) is None)  # a target without target tracking has no HPA
    scaling.deregister_scalable_target(**resource)
    assert (
        scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource["ResourceId"]])[
            "ScalableTargets"
        ]
        == []
    )


def test_bad_input_gets_application_auto_scalings_errors_and_changes_nothing(
    ecs: Any, scaling: Any, cluster: str
) -> None:
    ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=register(ecs, unique_name("web")), desiredCount=0
    )
    resource = {"ResourceId": f"service/{cluster}/web", **DIMENSION}
    tracking = {
        "PolicyName": "cpu",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": CPU_AT_50,
    }
    for call, params, code in (
        (
            scaling.register_scalable_target,
            {**resource, "ResourceId": f"service/{cluster}/absent", "MinCapacity": 1, "MaxCapacity": 2},
            "ValidationException",
        ),
        (scaling.register_scalable_target, {**resource, "MinCapacity": 3, "MaxCapacity": 2}, "ValidationException"),
        (
            scaling.register_scalable_target,
            {
                **resource,
                "ResourceId": "table/orders",
                "ServiceNamespace": "dynamodb",
                "ScalableDimension": "dynamodb:table:ReadCapacityUnits",
                "MinCapacity": 1,
                "MaxCapacity": 2,
            },
            "ValidationException",
        ),
        (scaling.put_scaling_policy, {**resource, **tracking}, "ObjectNotFoundException"),
        (scaling.delete_scaling_policy, {**resource, "PolicyName": "cpu"}, "ObjectNotFoundException"),
        (scaling.deregister_scalable_target, resource, "ObjectNotFoundException"),
        # A service deleted first (terraform destroy): nothing is registered for it.
        (
            scaling.deregister_scalable_target,
            {**resource, "ResourceId": f"service/{cluster}/absent"},
            "ObjectNotFoundException",
        ),
    ):
        assert error_code(call, **params) == code, (call, params)
    assert (
        scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource["ResourceId"]])[
            "ScalableTargets"
        ]
        == []
    )
    scaling.register_scalable_target(MinCapacity=0, MaxCapacity=2, **resource)
    refused = error_code(scaling.put_scheduled_action, ScheduledActionName="x", Schedule="every day", **resource)
    assert refused == "ValidationException"
    assert (
        scaling.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=resource["ResourceId"])[
            "ScheduledActions"
        ]
        == []
    )
