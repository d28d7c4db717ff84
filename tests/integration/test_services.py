"""Services as Deployments and DaemonSets: CreateService, UpdateService, DeleteService,
DescribeServices and ListServices through boto3 (waiters included) and the AWS CLI, with the
workloads, pods, nodes, Services and EndpointSlices read back from the API server."""

import json
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import WaiterError
from kubernetes import client
from kubernetes.client import ApiException

from shim.kube.client import KubeClients
from shim.translate.names import LABEL_CLUSTER, LABEL_SERVICE, cluster_namespace, label_value
from tests.integration.conftest import (
    FAST_WAITER,
    INSTANCE_TYPE,
    ZONE,
    ShimServer,
    eventually,
    kube_json,
    nodes,
    run_aws,
    unique_name,
)

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def register(ecs: Any, family: str, image: str = "busybox:1.36", **container: Any) -> str:
    definition = {"name": "app", "image": image, "memory": 64, "cpu": 16, **container}
    registered = ecs.register_task_definition(family=family, containerDefinitions=[definition])
    arn: str = registered["taskDefinition"]["taskDefinitionArn"]
    return arn


def describe(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    response = ecs.describe_services(cluster=cluster, services=[service])
    assert response["failures"] == []
    [found] = response["services"]
    return dict(found)


def wait_stable(ecs: Any, cluster: str, *services: str) -> None:
    """The services_stable waiter, then each service's deployment COMPLETED: as on ECS, a deployment
    completes a moment after its tasks are steady (they must stay running: STEADY_SECONDS)."""
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=list(services), WaiterConfig=FAST_WAITER)
    for service in services:
        eventually(partial(completed, ecs, cluster, service))


def completed(ecs: Any, cluster: str, service: str) -> bool:
    return bool(describe(ecs, cluster, service)["deployments"][0]["rolloutState"] == "COMPLETED")


def watch_deployments(
    ecs: Any, cluster: str, service: str, until: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> list[list[dict[str, Any]]]:
    """Every `deployments` DescribeServices showed, polled without pause until `until(service)`."""
    seen: list[list[dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    while True:
        shown = describe(ecs, cluster, service)
        seen.append(shown["deployments"])
        if until(shown):
            return seen
        assert time.monotonic() < deadline, shown["deployments"]


def settled_on(deployment_id: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a service shows only `deployment_id`, COMPLETED, running all its desired tasks."""

    def check(service: dict[str, Any]) -> bool:
        shown = [(d["id"], d["rolloutState"]) for d in service["deployments"]]
        return shown == [(deployment_id, "COMPLETED")] and service["runningCount"] == service["desiredCount"]

    return check


def service_tasks(ecs: Any, cluster: str, service: str) -> list[dict[str, Any]]:
    arns = [
        arn
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=service)
        for arn in page["taskArns"]
    ]
    if not arns:
        return []
    return list(ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"])


def service_selector(service: str) -> str:
    return f"{LABEL_SERVICE}={label_value(service)}"


def live_pods(kube: KubeClients, cluster: str, service: str) -> list[dict[str, Any]]:
    """The service's pods that are not on their way out."""
    listed = kube_json(
        kube.core.list_namespaced_pod, cluster_namespace(cluster), label_selector=service_selector(service)
    )
    return [
        pod
        for pod in listed["items"]
        if "deletionTimestamp" not in pod["metadata"] and pod["status"].get("phase") in ("Pending", "Running")
    ]


def pod_names(pods: list[dict[str, Any]]) -> set[str]:
    return {pod["metadata"]["name"] for pod in pods}


def pod_count_is(kube: KubeClients, cluster: str, service: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        return len(live_pods(kube, cluster, service)) == count

    return check


def images_of(pods: list[dict[str, Any]]) -> set[str]:
    return {container["image"] for pod in pods for container in pod["spec"]["containers"]}


def environment(**variables: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in variables.items()]


def test_service_runs_its_desired_count_as_tasks_of_its_group(
    ecs: Any, kube: KubeClients, shim: ShimServer, cluster: str
) -> None:
    definition = register(ecs, unique_name("web"))
    created = run_aws(
        shim.url,
        "create-service",
        "--cluster",
        cluster,
        "--service-name",
        "web",
        "--task-definition",
        definition,
        "--desired-count",
        "3",
    )
    assert created.returncode == 0, created.stderr
    service = json.loads(created.stdout)["service"]
    assert (service["status"], service["desiredCount"], service["taskDefinition"]) == ("ACTIVE", 3, definition)
    [deployment] = service["deployments"]
    assert deployment["status"] == "PRIMARY" and deployment["id"].startswith("ecs-svc/")

    wait_stable(ecs, cluster, "web")

    described = describe(ecs, cluster, "web")
    assert (described["runningCount"], described["pendingCount"], described["desiredCount"]) == (3, 0, 3)
    [steady] = described["deployments"]
    assert (steady["id"], steady["rolloutState"], steady["runningCount"]) == (deployment["id"], "COMPLETED", 3)
    assert any("has reached a steady state" in event["message"] for event in described["events"])
    tasks = service_tasks(ecs, cluster, "web")
    assert len(tasks) == 3
    assert {(task["group"], task["startedBy"], task["lastStatus"]) for task in tasks} == {
        ("service:web", deployment["id"], "RUNNING")
    }
    assert len(live_pods(kube, cluster, "web")) == 3
    assert ecs.list_services(cluster=cluster)["serviceArns"] == [described["serviceArn"]]
    assert ecs.list_services(cluster=cluster, schedulingStrategy="DAEMON")["serviceArns"] == []


def test_new_revision_rolls_out_then_scaling_follows(ecs: Any, kube: KubeClients, cluster: str) -> None:
    family = unique_name("web")
    first = register(ecs, family, image="busybox:1.36")
    second = register(ecs, family, image="busybox:1.37")
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=first, desiredCount=3)
    wait_stable(ecs, cluster, "web")
    old_id = describe(ecs, cluster, "web")["deployments"][0]["id"]

    updated = ecs.update_service(cluster=cluster, service="web", taskDefinition=second)["service"]
    new_id = updated["deployments"][0]["id"]
    assert new_id != old_id and updated["taskDefinition"] == second
    both = [(new_id, "PRIMARY", second), (old_id, "ACTIVE", first)]
    assert [(d["id"], d["status"], d["taskDefinition"]) for d in updated["deployments"]] == both
    rolling = [d for d in watch_deployments(ecs, cluster, "web", settled_on(new_id)) if len(d) == 2]
    assert rolling, "DescribeServices never showed the two deployments of the rollout"
    assert [(d["id"], d["status"], d["taskDefinition"]) for d in rolling[0]] == both

    wait_stable(ecs, cluster, "web")
    [done] = describe(ecs, cluster, "web")["deployments"]
    assert (done["id"], done["status"], done["taskDefinition"], done["rolloutState"]) == (
        new_id,
        "PRIMARY",
        second,
        "COMPLETED",
    )
    assert images_of(live_pods(kube, cluster, "web")) == {"busybox:1.37"}
    assert {task["startedBy"] for task in service_tasks(ecs, cluster, "web")} == {new_id}

    for desired in (5, 1):
        scaled = ecs.update_service(cluster=cluster, service="web", desiredCount=desired)["service"]
        assert scaled["desiredCount"] == desired and scaled["deployments"][0]["id"] == new_id
        wait_stable(ecs, cluster, "web")
        assert describe(ecs, cluster, "web")["runningCount"] == desired
        eventually(pod_count_is(kube, cluster, "web", desired), timeout=30)
        assert len(service_tasks(ecs, cluster, "web")) == desired


def test_force_new_deployment_replaces_the_tasks_on_the_same_revision(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    definition = register(ecs, unique_name("web"))
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=2)
    wait_stable(ecs, cluster, "web")
    old_id = describe(ecs, cluster, "web")["deployments"][0]["id"]
    old_pods = pod_names(live_pods(kube, cluster, "web"))

    forced = ecs.update_service(cluster=cluster, service="web", forceNewDeployment=True)["service"]

    new_id = forced["deployments"][0]["id"]
    assert new_id != old_id and forced["deployments"][0]["taskDefinition"] == definition
    wait_stable(ecs, cluster, "web")
    [done] = describe(ecs, cluster, "web")["deployments"]
    assert (done["id"], done["taskDefinition"], done["rolloutState"]) == (new_id, definition, "COMPLETED")
    eventually(pod_count_is(kube, cluster, "web", 2), timeout=30)
    assert not pod_names(live_pods(kube, cluster, "web")) & old_pods
    assert {task["startedBy"] for task in service_tasks(ecs, cluster, "web")} == {new_id}


def test_circuit_breaker_fails_a_broken_rollout_and_rolls_back(ecs: Any, kube: KubeClients, cluster: str) -> None:
    family = unique_name("web")
    good = register(ecs, family, image="busybox:1.36")
    broken = register(
        ecs,
        family,
        image="busybox:broken",
        environment=environment(SIMULATED_RUN_SECONDS="0", SIMULATED_EXIT_CODE="1"),
    )
    ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=good,
        desiredCount=2,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    wait_stable(ecs, cluster, "web")
    good_id = describe(ecs, cluster, "web")["deployments"][0]["id"]

    broken_id = ecs.update_service(cluster=cluster, service="web", taskDefinition=broken)["service"]["deployments"][0][
        "id"
    ]

    seen = watch_deployments(ecs, cluster, "web", settled_on(good_id), timeout=90)
    failed = next(
        d for deployments in seen for d in deployments if d["id"] == broken_id and d["rolloutState"] == "FAILED"
    )
    assert failed["taskDefinition"] == broken and "circuit breaker" in failed["rolloutStateReason"]
    wait_stable(ecs, cluster, "web")
    service = describe(ecs, cluster, "web")
    [restored] = service["deployments"]
    assert (restored["id"], restored["taskDefinition"], service["taskDefinition"]) == (good_id, good, good)
    assert service["runningCount"] == 2
    messages = [event["message"] for event in service["events"]]
    assert any(f"deployment {broken_id}) deployment failed" in message for message in messages), messages
    assert any(f"rolling back to deployment {good_id}" in message for message in messages), messages
    eventually(lambda: images_of(live_pods(kube, cluster, "web")) == {"busybox:1.36"}, timeout=30)
    assert len(live_pods(kube, cluster, "web")) == 2


def test_spread_by_zone_lands_two_tasks_in_each_zone(ecs: Any, kube: KubeClients, cluster: str) -> None:
    definition = register(ecs, unique_name("web"))
    ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=definition,
        desiredCount=6,
        placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}],
    )
    wait_stable(ecs, cluster, "web")

    zone_of = {node["metadata"]["name"]: node["metadata"]["labels"][ZONE] for node in nodes(kube)}
    pods = live_pods(kube, cluster, "web")
    assert Counter(zone_of[pod["spec"]["nodeName"]] for pod in pods) == {
        "us-east-1a": 2,
        "us-east-1b": 2,
        "us-east-1c": 2,
    }


def test_daemon_service_runs_one_task_on_each_eligible_node_and_on_a_new_one(
    ecs: Any, kube: KubeClients, cluster: str, add_node: Callable[[str], str]
) -> None:
    definition = register(ecs, unique_name("agent"))
    ecs.create_service(
        cluster=cluster,
        serviceName="agent",
        taskDefinition=definition,
        schedulingStrategy="DAEMON",
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type == m5.large"}],
    )
    wait_stable(ecs, cluster, "agent")

    def eligible_nodes() -> set[str]:
        return {
            node["metadata"]["name"]
            for node in nodes(kube)
            if node["metadata"]["labels"].get(INSTANCE_TYPE) == "m5.large"
            and node["metadata"]["labels"].get(LABEL_CLUSTER) in (None, label_value(cluster))
        }

    def nodes_with_a_task() -> list[str]:
        return sorted(pod["spec"].get("nodeName", "") for pod in live_pods(kube, cluster, "agent"))

    m5_nodes = eligible_nodes()
    assert len(m5_nodes) >= 6
    assert nodes_with_a_task() == sorted(m5_nodes)
    service = describe(ecs, cluster, "agent")
    assert (service["desiredCount"], service["runningCount"]) == (len(m5_nodes), len(m5_nodes))

    added = add_node("m5.large")

    eventually(lambda: nodes_with_a_task() == sorted({*m5_nodes, added}), timeout=30)
    eventually(lambda: describe(ecs, cluster, "agent")["desiredCount"] == len(m5_nodes) + 1, timeout=30)
    wait_stable(ecs, cluster, "agent")
    assert describe(ecs, cluster, "agent")["runningCount"] == len(m5_nodes) + 1


def test_a_stopped_service_task_is_replaced(ecs: Any, kube: KubeClients, cluster: str) -> None:
    definition = register(ecs, unique_name("web"))
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=2)
    wait_stable(ecs, cluster, "web")
    before = {task["taskArn"] for task in service_tasks(ecs, cluster, "web")}
    stopped_arn = sorted(before)[0]

    ecs.stop_task(cluster=cluster, task=stopped_arn, reason="testing self-healing")

    def replaced() -> set[str] | None:
        running = {task["taskArn"] for task in service_tasks(ecs, cluster, "web") if task["lastStatus"] == "RUNNING"}
        return running if len(running) == 2 and stopped_arn not in running else None

    running = eventually(replaced, timeout=30)
    assert len(running - before) == 1
    wait_stable(ecs, cluster, "web")
    assert describe(ecs, cluster, "web")["runningCount"] == 2
    ecs.get_waiter("tasks_stopped").wait(cluster=cluster, tasks=[stopped_arn], WaiterConfig=FAST_WAITER)
    [stopped] = ecs.describe_tasks(cluster=cluster, tasks=[stopped_arn])["tasks"]
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "testing self-healing")


def test_delete_service_needs_force_then_drains_to_inactive(
    ecs: Any, kube: KubeClients, shim: ShimServer, cluster: str
) -> None:
    definition = register(ecs, unique_name("web"))
    arn = ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=2)["service"][
        "serviceArn"
    ]
    wait_stable(ecs, cluster, "web")
    namespace = cluster_namespace(cluster)
    [deployment] = kube_json(kube.apps.list_namespaced_deployment, namespace, label_selector=service_selector("web"))[
        "items"
    ]

    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.delete_service(cluster=cluster, service="web")
    assert describe(ecs, cluster, "web")["status"] == "ACTIVE"

    deleted = run_aws(shim.url, "delete-service", "--cluster", cluster, "--service", "web", "--force")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["service"]["status"] == "DRAINING"
    with pytest.raises(ecs.exceptions.ServiceNotActiveException):
        ecs.update_service(cluster=cluster, service="web", desiredCount=3)
    ecs.get_waiter("services_inactive").wait(cluster=cluster, services=["web"], WaiterConfig=FAST_WAITER)

    with pytest.raises(ApiException) as missing:
        kube_json(kube.apps.read_namespaced_deployment, deployment["metadata"]["name"], namespace)
    assert missing.value.status == 404
    assert describe(ecs, cluster, arn)["status"] == "INACTIVE"
    assert ecs.list_services(cluster=cluster)["serviceArns"] == []
    with pytest.raises(ecs.exceptions.ServiceNotActiveException):
        ecs.update_service(cluster=cluster, service="web", desiredCount=1)
    eventually(lambda: not live_pods(kube, cluster, "web"), timeout=30)


def test_unknown_services_are_reported(ecs: Any, cluster: str) -> None:
    response = ecs.describe_services(cluster=cluster, services=["nowhere"])
    assert response["services"] == []
    [failure] = response["failures"]
    assert failure["reason"] == "MISSING" and failure["arn"].endswith(":service/nowhere")
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.update_service(cluster=cluster, service="nowhere", desiredCount=1)
    with pytest.raises(WaiterError, match="terminal failure"):
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=["nowhere"], WaiterConfig=FAST_WAITER)


def test_load_balancer_and_service_registry_become_kubernetes_services(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    definition = register(ecs, unique_name("web"), portMappings=[{"containerPort": 8080, "protocol": "tcp"}])
    target_group = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
    registry = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-0123456789abcdef"
    load_balancers = [{"targetGroupArn": target_group, "containerName": "app", "containerPort": 8080}]
    created = ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=definition,
        desiredCount=2,
        loadBalancers=load_balancers,
        serviceRegistries=[{"registryArn": registry}],
    )["service"]
    assert created["loadBalancers"] == load_balancers
    assert created["serviceRegistries"] == [{"registryArn": registry}]
    wait_stable(ecs, cluster, "web")

    namespace = cluster_namespace(cluster)
    pods = live_pods(kube, cluster, "web")
    pod_ips = sorted(pod["status"].get("podIP", "") for pod in pods)
    assert len(pod_ips) == 2 and all(pod_ips)
    kube_services = {s["metadata"]["name"]: s["spec"] for s in kube_services_in(kube, namespace)}
    [balanced_name] = [name for name, spec in kube_services.items() if spec["clusterIP"] != "None"]
    balanced = kube_services[balanced_name]
    assert balanced["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"], p["protocol"]) for p in balanced["ports"]] == [(8080, 8080, "TCP")]
    for pod in pods:
        assert balanced["selector"].items() <= pod["metadata"]["labels"].items()
    assert kube_services["web"]["clusterIP"] == "None"
    assert kube_services["web"]["selector"] == balanced["selector"]

    def endpoint_ips(service_name: str) -> list[str]:
        slices = kube_json(
            client.DiscoveryV1Api(kube.api).list_namespaced_endpoint_slice,
            namespace,
            label_selector=f"kubernetes.io/service-name={service_name}",
        )["items"]
        return sorted(address for s in slices for e in s.get("endpoints") or [] for address in e["addresses"])

    eventually(lambda: endpoint_ips(balanced_name) == pod_ips, timeout=30)
    eventually(lambda: endpoint_ips("web") == pod_ips, timeout=30)

    ecs.delete_service(cluster=cluster, service="web", force=True)
    eventually(lambda: not kube_services_in(kube, namespace), timeout=30)


def kube_services_in(kube: KubeClients, namespace: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = kube_json(kube.core.list_namespaced_service, namespace)["items"]
    return listed
