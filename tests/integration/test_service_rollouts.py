"""Service rollouts as ECS runs them, through boto3 against the shim on a real
cluster: a deployment being replaced never launches tasks, and the tasks a rollout or a scale-in
stops stay listed and describable as STOPPED."""

import threading
import time
from typing import Any

import pytest
from kubernetes import watch
from urllib3.exceptions import ProtocolError

from shim.kube.client import KubeClients
from shim.translate.names import ANNOTATION_TASK_DEFINITION_ARN, cluster_namespace
from tests.integration.conftest import FAST_WAITER, eventually, unique_name
from tests.integration.test_services import describe, register, service_selector

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def wait_stable(ecs: Any, cluster: str, service: str) -> None:
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=[service], WaiterConfig=FAST_WAITER)


class PodLaunches:
    """Every pod of a service the API server creates while this runs, by task definition ARN: a
    watch sees each one, however briefly it lives."""

    def __init__(self, kube: KubeClients, cluster: str, service: str) -> None:
        self.kube = kube
        self.namespace = cluster_namespace(cluster)
        self.selector = service_selector(service)
        self.seen: dict[str, set[str]] = {}
        self.watch = watch.Watch()
        self.stopped = False
        self.lost: str | None = None
        listed = kube.core.list_namespaced_pod(self.namespace, label_selector=self.selector)
        for pod in listed.items:
            self.note(pod)
        self.thread = threading.Thread(target=self.follow, args=(listed.metadata.resource_version,), daemon=True)
        self.thread.start()

    def note(self, pod: Any) -> None:
        arn = (pod.metadata.annotations or {}).get(ANNOTATION_TASK_DEFINITION_ARN, "")
        self.seen.setdefault(arn, set()).add(pod.metadata.uid)

    def follow(self, resource_version: str) -> None:
        try:
            for event in self.watch.stream(
                self.kube.core.list_namespaced_pod,
                self.namespace,
                label_selector=self.selector,
                resource_version=resource_version,
            ):
                self.note(event["object"])
        except ProtocolError as error:  # how Watch.stop ends the stream
            if not self.stopped:
                self.lost = str(error)
        if not self.stopped:
            self.lost = self.lost or "the watch ended"

    def stop(self) -> None:
        self.stopped = True
        self.watch.stop()

    def of(self, task_definition: str) -> int:
        assert self.lost is None, f"pods may have gone unseen: {self.lost}"
        return len(self.seen.get(task_definition, set()))


def test_updating_revision_and_count_together_launches_no_task_of_the_replaced_deployment(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    family = unique_name("web")
    first = register(ecs, family, image="busybox:1.36")
    second = register(ecs, family, image="busybox:1.37")
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=first, desiredCount=1)
    wait_stable(ecs, cluster, "web")
    old_id = describe(ecs, cluster, "web")["deployments"][0]["id"]
    launches = PodLaunches(kube, cluster, "web")
    try:
        updated = ecs.update_service(cluster=cluster, service="web", taskDefinition=second, desiredCount=3)["service"]
        new_id = updated["deployments"][0]["id"]
        shown: list[list[dict[str, Any]]] = []

        def settled() -> bool:
            service = describe(ecs, cluster, "web")
            shown.append(service["deployments"])
            return [d["id"] for d in service["deployments"]] == [new_id] and service["runningCount"] == 3

        eventually(settled, timeout=90, interval=0.1)
    finally:
        launches.stop()

    assert launches.of(first) == 1, "a task of the replaced revision was launched"
    assert launches.of(second) == 3
    for deployments in shown:
        by_id = {d["id"]: d for d in deployments}
        assert by_id[new_id]["desiredCount"] == 3
        if old_id in by_id:
            assert by_id[old_id]["status"] == "ACTIVE"
            assert by_id[old_id]["desiredCount"] <= 1
            assert by_id[old_id]["pendingCount"] == 0
        assert sum(d["runningCount"] + d["pendingCount"] for d in deployments) <= 6  # maximumPercent 200
    tasks = ecs.describe_tasks(cluster=cluster, tasks=ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"])
    assert sorted((t["taskDefinitionArn"], t["startedBy"]) for t in tasks["tasks"]) == [(second, new_id)] * 3


def test_scaling_up_mid_rollout_launches_no_task_of_the_replaced_deployment(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    family = unique_name("web")
    first = register(ecs, family, image="busybox:1.36")
    unplaceable = ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": "busybox:1.37", "memory": 64, "cpu": 16}],
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type == none.nowhere"}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=first, desiredCount=2)
    wait_stable(ecs, cluster, "web")
    old_id = describe(ecs, cluster, "web")["deployments"][0]["id"]
    launches = PodLaunches(kube, cluster, "web")
    try:
        ecs.update_service(cluster=cluster, service="web", taskDefinition=unplaceable)
        eventually(lambda: launches.of(unplaceable) == 2, timeout=30)  # a rollout that cannot finish

        ecs.update_service(cluster=cluster, service="web", desiredCount=4)
        eventually(lambda: launches.of(unplaceable) == 4, timeout=30)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            by_id = {d["id"]: d for d in describe(ecs, cluster, "web")["deployments"]}
            assert (by_id[old_id]["desiredCount"], by_id[old_id]["runningCount"]) == (2, 2)
            assert launches.of(first) == 2, "a task of the replaced revision was launched"
            time.sleep(0.2)
    finally:
        launches.stop()
    [primary] = [d for d in by_id.values() if d["status"] == "PRIMARY"]
    assert (primary["taskDefinition"], primary["desiredCount"], primary["pendingCount"]) == (unplaceable, 4, 4)


def stopped_tasks_once_listed(ecs: Any, cluster: str, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """The service's STOPPED tasks by ARN, described, once ListTasks lists all of `wanted`."""

    def listed() -> dict[str, dict[str, Any]] | None:
        arns = ecs.list_tasks(cluster=cluster, serviceName="web", desiredStatus="STOPPED")["taskArns"]
        if not wanted <= set(arns):
            return None
        return {task["taskArn"]: task for task in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]}

    return eventually(listed, timeout=30)


def assert_stopped_by_the_scheduler(task: dict[str, Any], deployment_id: str) -> None:
    assert (task["lastStatus"], task["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert task["stopCode"] == "ServiceSchedulerInitiated"
    assert task["stoppedReason"] == f"Scaling activity initiated by (deployment {deployment_id})"
    assert task["startedBy"] == deployment_id
    assert task["stoppingAt"] <= task["stoppedAt"]
    assert {container["lastStatus"] for container in task["containers"]} == {"STOPPED"}


def test_tasks_a_rollout_or_a_scale_in_stops_stay_listed_and_describable_as_stopped(
    ecs: Any, kube: KubeClients, cluster: str
) -> None:
    definition = register(ecs, unique_name("web"))
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=2)
    wait_stable(ecs, cluster, "web")
    old_id = describe(ecs, cluster, "web")["deployments"][0]["id"]
    replaced = set(ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"])
    assert len(replaced) == 2

    forced = ecs.update_service(cluster=cluster, service="web", forceNewDeployment=True)["service"]
    new_id = forced["deployments"][0]["id"]
    wait_stable(ecs, cluster, "web")
    eventually(lambda: not kube_pods_of(kube, cluster, replaced), timeout=30)

    stopped = stopped_tasks_once_listed(ecs, cluster, replaced)
    for arn in replaced:
        assert_stopped_by_the_scheduler(stopped[arn], old_id)

    running = set(ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"])
    assert len(running) == 2 and not running & replaced
    ecs.update_service(cluster=cluster, service="web", desiredCount=1)
    wait_stable(ecs, cluster, "web")
    [kept] = ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"]
    [scaled_in] = running - {kept}
    eventually(lambda: not kube_pods_of(kube, cluster, {scaled_in}), timeout=30)

    stopped = stopped_tasks_once_listed(ecs, cluster, {scaled_in})
    assert_stopped_by_the_scheduler(stopped[scaled_in], new_id)
    assert stopped.keys() == replaced | {scaled_in}
    [described] = ecs.describe_tasks(cluster=cluster, tasks=[scaled_in])["tasks"]
    assert described == stopped[scaled_in]


def kube_pods_of(kube: KubeClients, cluster: str, task_arns: set[str]) -> list[str]:
    """The names of the pods of these service tasks the API server still holds."""
    task_ids = {arn.rsplit("/", 1)[-1] for arn in task_arns}
    pods = kube.core.list_namespaced_pod(cluster_namespace(cluster)).items
    return [pod.metadata.name for pod in pods if pod.metadata.uid.replace("-", "") in task_ids]
