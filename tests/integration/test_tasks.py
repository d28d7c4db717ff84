"""Tasks as Pods: RunTask, StartTask, StopTask, DescribeTasks and ListTasks through boto3 and the
AWS CLI, with the Pods and Nodes read back from the API server."""

import json
import time
from typing import Any

import pytest

from shim.kube.client import KubeClients
from shim.translate.names import LABEL_TASK_ID
from shim.translate.task_from_pod import LIFECYCLE
from tests.integration.conftest import (
    FAST_WAITER,
    ShimServer,
    eventually,
    landed_on,
    node_labels,
    run_aws,
    task_id_of_arn,
    task_pods,
    unique_name,
)

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def task_definition(ecs: Any, family: str | None = None, **container: Any) -> str:
    definition = {"name": "app", "image": "busybox", "memory": 64, "cpu": 32, **container}
    registered = ecs.register_task_definition(family=family or unique_name("task"), containerDefinitions=[definition])
    arn: str = registered["taskDefinition"]["taskDefinitionArn"]
    return arn


def environment(**variables: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in variables.items()]


def run_one(ecs: Any, cluster: str, definition: str, **params: Any) -> dict[str, Any]:
    response = ecs.run_task(cluster=cluster, taskDefinition=definition, **params)
    assert response["failures"] == []
    [task] = response["tasks"]
    return dict(task)


def describe_one(ecs: Any, cluster: str, task_arn: str, **params: Any) -> dict[str, Any]:
    response = ecs.describe_tasks(cluster=cluster, tasks=[task_arn], **params)
    assert response["failures"] == []
    [task] = response["tasks"]
    return dict(task)


def pod_of(kube: KubeClients, cluster: str, task_arn: str) -> dict[str, Any] | None:
    wanted = task_id_of_arn(task_arn)
    return next((pod for pod in task_pods(kube, cluster) if pod["metadata"]["labels"][LABEL_TASK_ID] == wanted), None)


def environment_of(container: dict[str, Any]) -> dict[str, str]:
    return {variable["name"]: variable["value"] for variable in container.get("env", [])}


def listed(ecs: Any, cluster: str, **filters: Any) -> list[str]:
    pages = ecs.get_paginator("list_tasks").paginate(cluster=cluster, **filters)
    return sorted(arn for page in pages for arn in page["taskArns"])


def test_essential_container_exit_stops_the_task_with_its_exit_code(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    definition = task_definition(ecs, environment=environment(SIMULATED_RUN_SECONDS="2", SIMULATED_EXIT_CODE="3"))
    task = run_one(ecs, ecs_cluster, definition)
    seen = [task["lastStatus"]]
    deadline = time.monotonic() + 30

    while seen[-1] != "STOPPED":
        assert time.monotonic() < deadline, seen
        status = describe_one(ecs, ecs_cluster, task["taskArn"])["lastStatus"]
        if status != seen[-1]:
            seen.append(status)
        time.sleep(0.1)

    assert seen[0] in ("PROVISIONING", "PENDING") and "RUNNING" in seen
    assert [LIFECYCLE.index(status) for status in seen] == sorted(LIFECYCLE.index(status) for status in seen)
    stopped = describe_one(ecs, ecs_cluster, task["taskArn"])
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["stoppedReason"] == "Essential container in task exited"
    [container] = stopped["containers"]
    assert (container["lastStatus"], container["exitCode"]) == ("STOPPED", 3)
    assert stopped["createdAt"] <= stopped["startedAt"] <= stopped["stoppingAt"] <= stopped["stoppedAt"]
    assert listed(ecs, ecs_cluster, desiredStatus="STOPPED") == [task["taskArn"]]


def test_waiters_follow_a_task_and_stop_task_reason_outlives_the_pod(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    definition = task_definition(ecs)
    task_arn = run_one(ecs, ecs_cluster, definition)["taskArn"]

    ecs.get_waiter("tasks_running").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)
    running = describe_one(ecs, ecs_cluster, task_arn)
    assert (running["lastStatus"], running["desiredStatus"]) == ("RUNNING", "RUNNING")
    [node] = landed_on(kube, ecs_cluster, [task_arn]).values()
    assert running["availabilityZone"] == node_labels(kube)[node]["topology.kubernetes.io/zone"]

    stopping = ecs.stop_task(cluster=ecs_cluster, task=task_arn, reason="Rolled back release 42")["task"]
    assert stopping["desiredStatus"] == "STOPPED"
    ecs.get_waiter("tasks_stopped").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)

    eventually(lambda: pod_of(kube, ecs_cluster, task_arn) is None)
    stopped = describe_one(ecs, ecs_cluster, task_arn)
    assert stopped["lastStatus"] == "STOPPED"
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "Rolled back release 42")
    assert stopped["containerInstanceArn"] == running["containerInstanceArn"]
    assert listed(ecs, ecs_cluster, desiredStatus="STOPPED") == [task_arn]
    assert listed(ecs, ecs_cluster) == []
    assert ecs.stop_task(cluster=ecs_cluster, task=task_arn)["task"]["stoppedReason"] == "Rolled back release 42"


def test_tasks_running_waiter_fails_when_the_task_stops(ecs: Any, ecs_cluster: str) -> None:
    definition = task_definition(ecs, environment=environment(SIMULATED_RUN_SECONDS="0", SIMULATED_EXIT_CODE="1"))
    task_arn = run_one(ecs, ecs_cluster, definition)["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)

    with pytest.raises(Exception, match="TasksRunning failed: Waiter encountered a terminal failure state"):
        ecs.get_waiter("tasks_running").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)


def test_container_overrides_reach_the_pod(ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    definition = task_definition(ecs, command=["serve"], environment=environment(MODE="base", KEEP="yes"))
    overrides = {
        "containerOverrides": [
            {"name": "app", "command": ["migrate", "--to", "42"], "environment": environment(MODE="migrate")}
        ]
    }

    task = run_one(ecs, ecs_cluster, definition, overrides=overrides)

    pod = eventually(lambda: pod_of(kube, ecs_cluster, task["taskArn"]))
    [container] = pod["spec"]["containers"]
    assert container["args"] == ["migrate", "--to", "42"]
    assert environment_of(container) == {"MODE": "migrate", "KEEP": "yes"}
    [shown] = describe_one(ecs, ecs_cluster, task["taskArn"])["overrides"]["containerOverrides"]
    assert shown["command"] == ["migrate", "--to", "42"]
    assert shown["environment"] == environment(MODE="migrate")


def test_same_client_token_gives_the_same_tasks(ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    definition = task_definition(ecs)
    token = unique_name("token")

    first = ecs.run_task(cluster=ecs_cluster, taskDefinition=definition, count=2, clientToken=token)
    again = ecs.run_task(cluster=ecs_cluster, taskDefinition=definition, count=2, clientToken=token)
    other = ecs.run_task(cluster=ecs_cluster, taskDefinition=definition, clientToken=unique_name("token"))

    first_arns = sorted(task["taskArn"] for task in first["tasks"])
    assert len(first_arns) == 2
    assert sorted(task["taskArn"] for task in again["tasks"]) == first_arns
    assert other["tasks"][0]["taskArn"] not in first_arns
    assert len(task_pods(kube, ecs_cluster)) == 3


def test_tags_are_shown_when_included(ecs: Any, ecs_cluster: str) -> None:
    definition = task_definition(ecs)
    tags = [{"key": "team", "value": "payments"}, {"key": "cost-center", "value": "42"}]

    task_arn = run_one(ecs, ecs_cluster, definition, tags=tags)["taskArn"]

    assert describe_one(ecs, ecs_cluster, task_arn, include=["TAGS"])["tags"] == tags
    assert describe_one(ecs, ecs_cluster, task_arn).get("tags", []) == []


def test_list_tasks_filters_and_pages(ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    family = unique_name("listed")
    listed_definition = task_definition(ecs, family)
    other_definition = task_definition(ecs)
    mine = ecs.run_task(cluster=ecs_cluster, taskDefinition=listed_definition, count=3, startedBy="nightly-job")
    theirs = ecs.run_task(cluster=ecs_cluster, taskDefinition=other_definition, count=2, startedBy="someone-else")
    mine_arns = sorted(task["taskArn"] for task in mine["tasks"])
    theirs_arns = sorted(task["taskArn"] for task in theirs["tasks"])
    everything = sorted(mine_arns + theirs_arns)
    landed = landed_on(kube, ecs_cluster, everything)
    instances = ecs.describe_tasks(cluster=ecs_cluster, tasks=everything)["tasks"]
    instance_of = {task["taskArn"]: task["containerInstanceArn"] for task in instances}
    some_instance = instance_of[mine_arns[0]]

    assert listed(ecs, ecs_cluster) == everything
    assert listed(ecs, ecs_cluster, family=family) == mine_arns
    assert listed(ecs, ecs_cluster, startedBy="someone-else") == theirs_arns
    assert listed(ecs, ecs_cluster, containerInstance=some_instance) == sorted(
        arn for arn, node in landed.items() if node == landed[mine_arns[0]]
    )
    assert listed(ecs, ecs_cluster, containerInstance=some_instance.rsplit("/", 1)[-1]) == listed(
        ecs, ecs_cluster, containerInstance=some_instance
    )
    assert listed(ecs, ecs_cluster, desiredStatus="STOPPED") == []

    pages, token = [], None
    while True:
        page = ecs.list_tasks(cluster=ecs_cluster, maxResults=2, **({"nextToken": token} if token else {}))
        pages.append(page["taskArns"])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(arn for page in pages for arn in page) == everything

    ecs.stop_task(cluster=ecs_cluster, task=theirs_arns[0])
    assert listed(ecs, ecs_cluster, desiredStatus="STOPPED") == [theirs_arns[0]]
    assert listed(ecs, ecs_cluster, startedBy="someone-else") == theirs_arns[1:]


def test_start_task_runs_on_exactly_the_named_instances(ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    definition = task_definition(ecs)
    chosen = []
    for expression in (
        "attribute:ecs.instance-type == c5.xlarge and attribute:ecs.availability-zone == us-east-1b",
        "attribute:ecs.cpu-architecture == arm64",
    ):
        [arn] = ecs.list_container_instances(cluster=ecs_cluster, filter=expression)["containerInstanceArns"]
        chosen.append(arn)
    node_of = {
        instance["containerInstanceArn"]: instance["ec2InstanceId"]
        for instance in ecs.describe_container_instances(cluster=ecs_cluster, containerInstances=chosen)[
            "containerInstances"
        ]
    }

    response = ecs.start_task(
        cluster=ecs_cluster, taskDefinition=definition, containerInstances=chosen, startedBy="operator"
    )

    assert response["failures"] == []
    task_arns = [task["taskArn"] for task in response["tasks"]]
    landed = landed_on(kube, ecs_cluster, task_arns)
    described = ecs.describe_tasks(cluster=ecs_cluster, tasks=task_arns)["tasks"]
    assert {task["containerInstanceArn"] for task in described} == set(chosen)
    for task in described:
        assert landed[task["taskArn"]] == node_of[task["containerInstanceArn"]]
        assert task["startedBy"] == "operator"
        assert task["group"] == f"family:{definition.rsplit('/', 1)[-1].split(':')[0]}"


def test_aws_cli_runs_and_describes_a_task(shim: ShimServer, ecs: Any, kube: KubeClients, ecs_cluster: str) -> None:
    definition = task_definition(ecs)
    overrides = {"containerOverrides": [{"name": "app", "environment": environment(FROM="cli")}]}

    ran = run_aws(
        shim.url,
        "run-task",
        "--cluster",
        ecs_cluster,
        "--task-definition",
        definition,
        "--count",
        "2",
        "--overrides",
        json.dumps(overrides),
    )

    assert ran.returncode == 0, ran.stderr
    task_arns = [task["taskArn"] for task in json.loads(ran.stdout)["tasks"]]
    assert len(task_arns) == 2
    landed_on(kube, ecs_cluster, task_arns)
    described = run_aws(shim.url, "describe-tasks", "--cluster", ecs_cluster, "--tasks", *task_arns)
    assert described.returncode == 0, described.stderr
    tasks = json.loads(described.stdout)["tasks"]
    assert sorted(task["taskArn"] for task in tasks) == sorted(task_arns)
    assert all(task["containerInstanceArn"] for task in tasks)
    pod = pod_of(kube, ecs_cluster, task_arns[0])
    assert pod is not None and environment_of(pod["spec"]["containers"][0]) == {"FROM": "cli"}
