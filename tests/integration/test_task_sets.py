"""Task sets through boto3 and the AWS CLI on the local cluster: an outside deployment tool runs
a blue/green deployment of an EXTERNAL service by hand (create the green task set beside the
blue one, scale it, make it primary, delete the blue one), and every step shows in ECS's views,
in the tasks' pods and in the Services of the target groups."""

import json
from typing import Any

import pytest
from kubernetes import client

from shim.kube.client import KubeClients
from shim.translate.names import cluster_namespace
from shim.translate.task_sets import target_group_service_name, task_set_workload_name
from tests.integration.conftest import ShimServer, ecs_error, eventually, kube_json, run_aws, unique_name
from tests.integration.test_blue_green import endpoint_ips
from tests.integration.test_services import describe, live_pods, register

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

BLUE_TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/0123456789abcdef"
GREEN_TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/fedcba9876543210"


def load_balancer(target_group: str) -> list[dict[str, Any]]:
    return [{"targetGroupArn": target_group, "containerName": "app", "containerPort": 8080}]


def create_external_service(ecs: Any, cluster: str, desired: int) -> dict[str, Any]:
    created = ecs.create_service(
        cluster=cluster, serviceName="web", desiredCount=desired, deploymentController={"type": "EXTERNAL"}
    )
    return dict(created["service"])


def task_sets(ecs: Any, cluster: str) -> dict[str, dict[str, Any]]:
    """The service's task sets by id, as DescribeTaskSets shows them."""
    shown = ecs.describe_task_sets(cluster=cluster, service="web")
    return {task_set["id"]: task_set for task_set in shown["taskSets"]}


def steady(ecs: Any, cluster: str, task_set_id: str, running: int) -> bool:
    task_set = task_sets(ecs, cluster).get(task_set_id) or {}
    return (task_set.get("runningCount"), task_set.get("stabilityStatus")) == (running, "STEADY_STATE")


def ips_of(kube: KubeClients, cluster: str, started_by: str) -> list[str]:
    return sorted(
        pod["status"].get("podIP", "")
        for pod in live_pods(kube, cluster, "web")
        if pod["metadata"]["annotations"]["ecs.shim.io/started-by"] == started_by
    )


def target_group_ips(kube: KubeClients, cluster: str, target_group: str) -> list[str]:
    """The ready addresses behind a target group's Service."""
    return endpoint_ips(kube, cluster, f"kubernetes.io/service-name={target_group_service_name('web', target_group)}")


def kube_objects(kube: KubeClients, cluster: str, kind: str) -> list[str]:
    """The names of the Deployments or Services the shim made in the cluster's namespace."""
    namespace = cluster_namespace(cluster)
    if kind == "Deployment":
        listed = kube_json(client.AppsV1Api(kube.api).list_namespaced_deployment, namespace)
    else:
        listed = kube_json(kube.core.list_namespaced_service, namespace)
    return sorted(item["metadata"]["name"] for item in listed["items"])


def test_an_outside_tool_moves_an_external_service_from_its_blue_task_set_to_a_green_one(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    family = unique_name("web")
    ports = [{"containerPort": 8080}]
    blue, green = register(ecs, family, portMappings=ports), register(ecs, family, "busybox:1.37", portMappings=ports)
    service = create_external_service(ecs, cluster, desired=4)
    assert (service["deploymentController"], service["taskSets"], service["deployments"]) == (
        {"type": "EXTERNAL"},
        [],
        [],
    )
    assert "taskDefinition" not in service, "no task definition before a task set is primary"

    blue_set = ecs.create_task_set(
        cluster=cluster,
        service="web",
        taskDefinition=blue,
        externalId="deploy-1",
        loadBalancers=load_balancer(BLUE_TARGET_GROUP),
        scale={"value": 100, "unit": "PERCENT"},
    )["taskSet"]
    assert (blue_set["status"], blue_set["computedDesiredCount"], blue_set["externalId"]) == ("ACTIVE", 4, "deploy-1")
    assert blue_set["taskSetArn"].endswith(f":task-set/{cluster}/web/{blue_set['id']}")
    primary = ecs.update_service_primary_task_set(cluster=cluster, service="web", primaryTaskSet=blue_set["taskSetArn"])
    assert primary["taskSet"]["status"] == "PRIMARY"
    eventually(lambda: steady(ecs, cluster, blue_set["id"], 4), timeout=60)
    shown = describe(ecs, cluster, "web")
    assert (shown["taskDefinition"], shown["loadBalancers"], shown["runningCount"]) == (
        blue,
        load_balancer(BLUE_TARGET_GROUP),
        4,
    )
    listed = ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=listed)["tasks"]
    assert {(task["startedBy"], task["group"], task["lastStatus"]) for task in tasks} == {
        (blue_set["id"], "service:web", "RUNNING")
    }
    blue_ips = ips_of(kube, cluster, blue_set["id"])
    eventually(lambda: target_group_ips(kube, cluster, BLUE_TARGET_GROUP) == blue_ips)

    green_set = ecs.create_task_set(
        cluster=cluster,
        service="web",
        taskDefinition=green,
        loadBalancers=load_balancer(GREEN_TARGET_GROUP),
        scale={"value": 50, "unit": "PERCENT"},
    )["taskSet"]
    assert green_set["computedDesiredCount"] == 2
    eventually(lambda: steady(ecs, cluster, green_set["id"], 2), timeout=60)
    green_ips = ips_of(kube, cluster, green_set["id"])
    eventually(lambda: target_group_ips(kube, cluster, GREEN_TARGET_GROUP) == green_ips)
    assert target_group_ips(kube, cluster, BLUE_TARGET_GROUP) == blue_ips, "each target group has its own tasks"

    scaled = ecs.update_task_set(
        cluster=cluster, service="web", taskSet=green_set["id"], scale={"value": 100, "unit": "PERCENT"}
    )
    assert scaled["taskSet"]["computedDesiredCount"] == 4
    eventually(lambda: steady(ecs, cluster, green_set["id"], 4), timeout=60)
    ecs.update_service_primary_task_set(cluster=cluster, service="web", primaryTaskSet=green_set["id"])
    statuses = {task_set_id: shown["status"] for task_set_id, shown in task_sets(ecs, cluster).items()}
    assert statuses == {blue_set["id"]: "ACTIVE", green_set["id"]: "PRIMARY"}
    assert describe(ecs, cluster, "web")["taskDefinition"] == green

    refused = ecs_error(ecs.delete_task_set, cluster=cluster, service="web", taskSet=blue_set["id"])
    assert refused["Code"] == "InvalidParameterException", "a task set with tasks is deleted only by force"
    deleted = ecs.delete_task_set(cluster=cluster, service="web", taskSet=blue_set["taskSetArn"], force=True)
    assert (deleted["taskSet"]["status"], deleted["taskSet"]["computedDesiredCount"]) == ("DRAINING", 0)
    eventually(lambda: list(task_sets(ecs, cluster)) == [green_set["id"]], timeout=60)
    assert ips_of(kube, cluster, blue_set["id"]) == []
    blue_objects = (
        task_set_workload_name("web", blue_set["id"]),
        target_group_service_name("web", BLUE_TARGET_GROUP),
    )
    eventually(
        lambda: (
            not set(blue_objects)
            & {*kube_objects(kube, cluster, "Deployment"), *kube_objects(kube, cluster, "Service")}
        )
    )

    ecs.update_service(cluster=cluster, service="web", desiredCount=2)
    eventually(lambda: steady(ecs, cluster, green_set["id"], 2), timeout=60)
    shown = describe(ecs, cluster, "web")
    assert (shown["desiredCount"], shown["runningCount"], len(shown["taskSets"])) == (2, 2, 1)


def test_task_set_calls_are_checked_and_leave_nothing_half_written(
    ecs: Any, kube: KubeClients, cluster: str, shim: ShimServer
) -> None:
    definition = register(ecs, unique_name("web"), portMappings=[{"containerPort": 8080}])
    ecs.create_service(cluster=cluster, serviceName="rolling", taskDefinition=definition, desiredCount=0)
    not_external = ecs_error(ecs.create_task_set, cluster=cluster, service="rolling", taskDefinition=definition)
    assert not_external["Code"] == "InvalidParameterException"
    daemon = ecs_error(
        ecs.create_service,
        cluster=cluster,
        serviceName="daemon",
        schedulingStrategy="DAEMON",
        deploymentController={"type": "EXTERNAL"},
    )
    assert daemon["Code"] == "InvalidParameterException"

    create_external_service(ecs, cluster, desired=1)
    for params, code in (
        ({"scale": {"value": 150, "unit": "PERCENT"}}, "InvalidParameterException"),
        (
            {"loadBalancers": [{"targetGroupArn": BLUE_TARGET_GROUP, "containerName": "db", "containerPort": 5432}]},
            "InvalidParameterException",
        ),
        ({"taskDefinition": "missing-family:1"}, "ClientException"),
    ):
        refused = ecs_error(
            ecs.create_task_set, cluster=cluster, service="web", **{"taskDefinition": definition, **params}
        )
        assert refused["Code"] == code, (params, refused)
    assert task_sets(ecs, cluster) == {}, "nothing half-written"
    assert not [name for name in kube_objects(kube, cluster, "Deployment") if name.startswith("ts-")]

    missing = ecs_error(
        ecs.update_task_set, cluster=cluster, service="web", taskSet="ecs-svc/1", scale={"value": 1, "unit": "PERCENT"}
    )
    assert missing["Code"] == "TaskSetNotFoundException"
    created = run_aws(
        shim.url,
        "create-task-set",
        "--cluster",
        cluster,
        "--service",
        "web",
        "--task-definition",
        definition,
        "--scale",
        "value=0,unit=PERCENT",
    )
    assert created.returncode == 0, created.stderr
    task_set = json.loads(created.stdout)["taskSet"]
    assert (task_set["computedDesiredCount"], task_set["stabilityStatus"]) == (0, "STEADY_STATE")
    described = ecs.describe_task_sets(cluster=cluster, service="web", taskSets=[task_set["id"], "ecs-svc/2"])
    assert [shown["id"] for shown in described["taskSets"]] == [task_set["id"]]
    assert [failure["reason"] for failure in described["failures"]] == ["MISSING"]
    refused = ecs_error(ecs.update_service, cluster=cluster, service="web", taskDefinition=definition)
    assert refused["Code"] == "InvalidParameterException", "a new task definition takes a new task set"
    deleted = ecs.delete_task_set(cluster=cluster, service="web", taskSet=task_set["id"])
    assert deleted["taskSet"]["status"] == "DRAINING", "a task set scaled to 0 is deleted without force"
    eventually(lambda: task_sets(ecs, cluster) == {}, timeout=30)
    retry = {"clientToken": "deploy-7", "taskDefinition": definition, "scale": {"value": 0, "unit": "PERCENT"}}
    first = ecs.create_task_set(cluster=cluster, service="web", **retry)["taskSet"]
    assert ecs.create_task_set(cluster=cluster, service="web", **retry)["taskSet"]["id"] == first["id"]
    assert list(task_sets(ecs, cluster)) == [first["id"]], "a retried request makes no second task set"


def test_deleting_an_external_service_drains_its_task_sets_and_removes_their_objects(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    definition = register(ecs, unique_name("web"), portMappings=[{"containerPort": 8080}])
    create_external_service(ecs, cluster, desired=2)
    task_set = ecs.create_task_set(
        cluster=cluster, service="web", taskDefinition=definition, loadBalancers=load_balancer(BLUE_TARGET_GROUP)
    )["taskSet"]
    eventually(lambda: steady(ecs, cluster, task_set["id"], 2), timeout=60)
    deleted = ecs.delete_service(cluster=cluster, service="web", force=True)["service"]
    assert [shown["status"] for shown in deleted["taskSets"]] == ["DRAINING"]
    eventually(lambda: describe(ecs, cluster, "web")["status"] == "INACTIVE", timeout=60)
    assert live_pods(kube, cluster, "web") == []
    made = {task_set_workload_name("web", task_set["id"]), target_group_service_name("web", BLUE_TARGET_GROUP)}
    assert not made & {*kube_objects(kube, cluster, "Deployment"), *kube_objects(kube, cluster, "Service")}
