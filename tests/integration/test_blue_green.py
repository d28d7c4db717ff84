"""BLUE_GREEN and CANARY service deployments through boto3 on the local cluster: both revisions
run at once, the load balancer's Kubernetes Service moves from the old tasks to the new ones in
one step (or a canary's share first), the old tasks go after the bake time, a rollback during
the bake moves traffic straight back, and a lifecycle hook holds a deployment until it is
continued."""

import time
from typing import Any

import pytest
from kubernetes import client

from shim.kube.client import KubeClients
from shim.translate.names import LABEL_REVISION, cluster_namespace
from tests.integration.conftest import ecs_error, eventually, kube_json, unique_name
from tests.integration.test_service_deployments import listed, statuses_become
from tests.integration.test_services import describe, live_pods, register, wait_stable

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
BAKE_MINUTES = 1


def create_blue_green(ecs: Any, cluster: str, **configuration: Any) -> tuple[str, str]:
    """A BLUE_GREEN service `web` of two tasks behind a load balancer, steady on its first (blue)
    revision; returns the blue and green revisions."""
    family = unique_name("web")
    ports = [{"containerPort": 8080}]
    blue, green = register(ecs, family, portMappings=ports), register(ecs, family, "busybox:1.37", portMappings=ports)
    ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=blue,
        desiredCount=2,
        loadBalancers=[{"targetGroupArn": TARGET_GROUP, "containerName": "app", "containerPort": 8080}],
        deploymentConfiguration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": BAKE_MINUTES, **configuration},
    )
    wait_stable(ecs, cluster, "web")
    return blue, green


def ips_by_revision(kube: KubeClients, cluster: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for pod in live_pods(kube, cluster, "web"):
        found.setdefault(pod["metadata"]["labels"][LABEL_REVISION], []).append(pod["status"].get("podIP", ""))
    return {revision: sorted(ips) for revision, ips in found.items()}


def endpoint_ips(kube: KubeClients, cluster: str, service_selector: str = "ecs.shim.io/service=web") -> list[str]:
    """The ready addresses behind the load balancer's Service (its EndpointSlices), or the Services
    `service_selector` selects."""
    slices = kube_json(
        client.DiscoveryV1Api(kube.api).list_namespaced_endpoint_slice,
        cluster_namespace(cluster),
        label_selector=f"kubernetes.io/service-name,{service_selector}",
    )["items"]
    return sorted(
        address
        for endpoint_slice in slices
        for endpoint in endpoint_slice.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready", True)
        for address in endpoint["addresses"]
    )


def revision(arn: str) -> str:
    return arn.rsplit(":", 1)[1]


def test_both_revisions_run_traffic_moves_in_one_step_and_the_old_tasks_go_after_the_bake(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    blue, green = create_blue_green(ecs, cluster)
    blue_ips = ips_by_revision(kube, cluster)[revision(blue)]
    eventually(lambda: endpoint_ips(kube, cluster) == blue_ips, timeout=30)

    ecs.update_service(cluster=cluster, service="web", taskDefinition=green)
    seen: list[list[str]] = []
    green_ips: list[str] = []
    deadline = time.monotonic() + 60
    while not green_ips or seen[-1] != green_ips:
        assert time.monotonic() < deadline, f"traffic never moved to the green tasks: {seen[-3:]}"
        running = ips_by_revision(kube, cluster)
        if not green_ips and len(running.get(revision(green), [])) == 2 and all(running[revision(green)]):
            assert running[revision(blue)] == blue_ips, "the blue tasks all stay while the green ones start"
            green_ips = running[revision(green)]
        seen.append(endpoint_ips(kube, cluster))
        time.sleep(0.1)
    switched = time.monotonic()
    assert all(ips in (blue_ips, green_ips) for ips in seen), f"traffic was split on the way: {seen}"

    [ongoing, _] = listed(ecs, cluster, "web")
    deployment = ecs.describe_service_deployments(serviceDeploymentArns=[ongoing["serviceDeploymentArn"]])
    [described] = deployment["serviceDeployments"]
    assert (described["status"], described["lifecycleStage"]) == ("IN_PROGRESS", "BAKE_TIME")
    assert ips_by_revision(kube, cluster)[revision(blue)] == blue_ips, "blue runs on through the bake"

    eventually(lambda: revision(blue) not in ips_by_revision(kube, cluster), timeout=60 * BAKE_MINUTES + 30)
    assert time.monotonic() - switched >= 60 * BAKE_MINUTES - 5, "the blue tasks went before the bake was over"
    statuses_become(ecs, cluster, "web", ["SUCCESSFUL", "SUCCESSFUL"])
    assert endpoint_ips(kube, cluster) == green_ips
    assert [(d["taskDefinition"], d["rolloutState"]) for d in describe(ecs, cluster, "web")["deployments"]] == [
        (green, "COMPLETED")
    ]


def test_a_rollback_during_the_bake_moves_traffic_back_to_the_old_tasks_at_once(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    blue, green = create_blue_green(ecs, cluster)
    blue_ips = ips_by_revision(kube, cluster)[revision(blue)]
    ecs.update_service(cluster=cluster, service="web", taskDefinition=green)

    def baking() -> dict[str, Any] | None:
        shown = newest_deployment(ecs, cluster)
        return shown if shown.get("lifecycleStage") == "BAKE_TIME" else None

    arn = eventually(baking, timeout=60)["serviceDeploymentArn"]
    green_ips = ips_by_revision(kube, cluster)[revision(green)]
    eventually(lambda: endpoint_ips(kube, cluster) == green_ips, timeout=10)  # the EndpointSlices follow
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    eventually(lambda: endpoint_ips(kube, cluster) == blue_ips, timeout=10)
    eventually(lambda: list(ips_by_revision(kube, cluster)) == [revision(blue)], timeout=30)
    statuses_become(ecs, cluster, "web", ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"])


def newest_deployment(ecs: Any, cluster: str) -> dict[str, Any]:
    newest = listed(ecs, cluster, "web")[0]
    [shown] = ecs.describe_service_deployments(serviceDeploymentArns=[newest["serviceDeploymentArn"]])[
        "serviceDeployments"
    ]
    return dict(shown)


def test_a_pause_hook_holds_the_deployment_until_it_is_continued(ecs: Any, kube: KubeClients, cluster: str) -> None:
    hook = {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}
    blue, green = create_blue_green(ecs, cluster, bakeTimeInMinutes=0, lifecycleHooks=[hook])
    blue_ips = ips_by_revision(kube, cluster)[revision(blue)]
    ecs.update_service(cluster=cluster, service="web", taskDefinition=green)

    def paused() -> dict[str, Any] | None:
        shown = newest_deployment(ecs, cluster)
        return shown if shown.get("lifecycleStage") == "POST_SCALE_UP" else None

    deployment = eventually(paused, timeout=60)
    [detail] = deployment["lifecycleHookDetails"]
    assert (detail["targetType"], detail["status"], detail["timeoutAction"]) == ("PAUSE", "AWAITING_ACTION", "ROLLBACK")
    time.sleep(3)
    assert newest_deployment(ecs, cluster)["lifecycleStage"] == "POST_SCALE_UP", "it waits"
    running = ips_by_revision(kube, cluster)
    assert running[revision(blue)] == blue_ips and len(running[revision(green)]) == 2
    assert endpoint_ips(kube, cluster) == blue_ips, "no traffic moves while the hook waits"

    arn = deployment["serviceDeploymentArn"]
    answer = ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=detail["hookId"], action="CONTINUE")
    assert answer["serviceDeploymentArn"] == arn
    eventually(lambda: endpoint_ips(kube, cluster) == running[revision(green)], timeout=10)
    eventually(lambda: list(ips_by_revision(kube, cluster)) == [revision(green)], timeout=30)
    statuses_become(ecs, cluster, "web", ["SUCCESSFUL", "SUCCESSFUL"])
    again = {"hookId": detail["hookId"], "action": "CONTINUE"}
    assert ecs_error(ecs.continue_service_deployment, serviceDeploymentArn=arn, **again)["Code"] == "ClientException"
    gone = arn.rsplit("/", 1)[0] + "/1"
    assert ecs_error(ecs.continue_service_deployment, serviceDeploymentArn=gone, **again)["Code"] == (
        "ServiceDeploymentNotFoundException"
    )


def test_a_canary_serves_a_share_of_the_traffic_from_the_new_tasks_then_all_of_it(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    """Half the traffic to one of the two new tasks for a minute (the canary), then all of it."""
    canary = {"canaryPercent": 50.0, "canaryBakeTimeInMinutes": 1}
    blue, green = create_blue_green(ecs, cluster, strategy="CANARY", canaryConfiguration=canary, bakeTimeInMinutes=0)
    blue_ips = ips_by_revision(kube, cluster)[revision(blue)]
    ecs.update_service(cluster=cluster, service="web", taskDefinition=green)

    def split() -> list[str] | None:
        serving = endpoint_ips(kube, cluster)
        return serving if len(serving) == 2 and len(set(serving) & set(blue_ips)) == 1 else None

    shared = eventually(split, timeout=60)
    started = time.monotonic()
    assert newest_deployment(ecs, cluster)["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    green_ips = eventually(lambda: ips_by_revision(kube, cluster).get(revision(green)), timeout=10)
    assert set(shared) - set(blue_ips) <= set(green_ips)

    eventually(lambda: endpoint_ips(kube, cluster) == green_ips, timeout=90)
    assert time.monotonic() - started >= 55, "the canary step lasts its bake time"
    eventually(lambda: list(ips_by_revision(kube, cluster)) == [revision(green)], timeout=30)
    statuses_become(ecs, cluster, "web", ["SUCCESSFUL", "SUCCESSFUL"])


def test_blue_green_and_canary_settings_are_checked(ecs: Any, cluster: str) -> None:
    definition = register(ecs, unique_name("web"))
    for configuration, code in (
        ({"strategy": "BLUE_GREEN"}, "InvalidParameterException"),
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1441}, "InvalidParameterException"),
        ({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.05}}, "InvalidParameterException"),
        (
            {"strategy": "LINEAR", "lifecycleHooks": [{"lifecycleStages": ["POST_SCALE_UP"]}]},
            "InvalidParameterException",
        ),
    ):
        refused = ecs_error(
            ecs.create_service,
            cluster=cluster,
            serviceName="web",
            taskDefinition=definition,
            desiredCount=1,
            deploymentConfiguration=configuration,
        )
        assert refused["Code"] == code, refused
    assert ecs.list_services(cluster=cluster)["serviceArns"] == [], "nothing half-written"
