"""Essential containers and dependsOn through boto3: whatever a container becomes in the pod (a
regular container, an init container, a sidecar), an essential one that exits stops its task with
its exit code, a non-essential one does not, and dependencies run for as long as they run.

The containers follow the simulated-container convention (SIMULATED_RUN_SECONDS,
SIMULATED_EXIT_CODE); on a real kubelet the same task definitions with real commands behave alike."""

from typing import Any

import pytest

from tests.integration.conftest import FAST_WAITER, eventually, unique_name

pytestmark = pytest.mark.usefixtures("responses_match_the_model")

FARGATE = {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512"}
AWSVPC = {"awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"]}}


def container(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", **fields}


def register(ecs: Any, *containers: dict[str, Any], **fields: Any) -> str:
    registered = ecs.register_task_definition(
        family=unique_name("essential"), containerDefinitions=list(containers), **fields
    )
    arn: str = registered["taskDefinition"]["taskDefinitionArn"]
    return arn


def simulated(run_seconds: int, exit_code: int = 0) -> list[dict[str, str]]:
    return [
        {"name": "SIMULATED_RUN_SECONDS", "value": str(run_seconds)},
        {"name": "SIMULATED_EXIT_CODE", "value": str(exit_code)},
    ]


def run(ecs: Any, cluster: str, definition: str, **params: Any) -> str:
    response = ecs.run_task(cluster=cluster, taskDefinition=definition, **params)
    assert response["failures"] == []
    arn: str = response["tasks"][0]["taskArn"]
    return arn


def describe(ecs: Any, cluster: str, task_arn: str) -> dict[str, Any]:
    [task] = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
    return dict(task)


def by_name(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in task["containers"]}


def test_essential_container_awaited_to_start_stops_the_task_when_it_exits(ecs: Any, ecs_cluster: str) -> None:
    definition = register(
        ecs,
        container("app", essential=True),
        container("sidecar", essential=False, dependsOn=[{"containerName": "app", "condition": "START"}]),
        **FARGATE,
    )
    task_arn = run(
        ecs,
        ecs_cluster,
        definition,
        launchType="FARGATE",
        networkConfiguration=AWSVPC,
        overrides={"containerOverrides": [{"name": "app", "environment": simulated(2, 3)}]},
    )

    ecs.get_waiter("tasks_stopped").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)

    stopped = describe(ecs, ecs_cluster, task_arn)
    assert (stopped["stopCode"], stopped["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    app = by_name(stopped)["app"]
    assert (app["lastStatus"], app["exitCode"]) == ("STOPPED", 3)
    assert stopped["startedAt"] <= stopped["stoppingAt"] <= stopped["stoppedAt"]


def test_essential_container_awaited_healthy_stops_the_task_when_it_exits(ecs: Any, ecs_cluster: str) -> None:
    definition = register(
        ecs,
        container("envoy", memory=64, healthCheck={"command": ["CMD-SHELL", "true"]}, environment=simulated(2, 4)),
        container("app", memory=64, dependsOn=[{"containerName": "envoy", "condition": "HEALTHY"}]),
    )
    task_arn = run(ecs, ecs_cluster, definition)

    ecs.get_waiter("tasks_stopped").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)

    stopped = describe(ecs, ecs_cluster, task_arn)
    assert stopped["stopCode"] == "EssentialContainerExited"
    envoy = by_name(stopped)["envoy"]
    assert (envoy["lastStatus"], envoy["exitCode"]) == ("STOPPED", 4)


def test_non_essential_container_awaited_to_start_exits_and_the_task_keeps_running(ecs: Any, ecs_cluster: str) -> None:
    definition = register(
        ecs,
        container("proxy", memory=64, essential=False, environment=simulated(1, 2)),
        container("app", memory=64, dependsOn=[{"containerName": "proxy", "condition": "START"}]),
    )
    task_arn = run(ecs, ecs_cluster, definition)
    ecs.get_waiter("tasks_running").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)

    def proxy_exited() -> dict[str, Any] | None:
        task = describe(ecs, ecs_cluster, task_arn)
        return task if by_name(task)["proxy"]["lastStatus"] == "STOPPED" else None

    task = eventually(proxy_exited)
    assert by_name(task)["proxy"]["exitCode"] == 2
    assert (task["lastStatus"], task["desiredStatus"], by_name(task)["app"]["lastStatus"]) == (
        "RUNNING",
        "RUNNING",
        "RUNNING",
    )
    assert "stopCode" not in task


def test_dependency_awaited_to_succeed_holds_the_essential_container_back_while_it_runs(
    ecs: Any, ecs_cluster: str
) -> None:
    definition = register(
        ecs,
        container("migrate", memory=64, essential=False, environment=simulated(3)),
        container("app", memory=64, dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]),
    )
    task_arn = run(ecs, ecs_cluster, definition)

    ecs.get_waiter("tasks_running").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)

    running = describe(ecs, ecs_cluster, task_arn)
    migrate = by_name(running)["migrate"]
    assert (migrate["lastStatus"], migrate["exitCode"]) == ("STOPPED", 0)
    assert (running["startedAt"] - running["pullStoppedAt"]).total_seconds() >= 3


def test_dependency_that_fails_stops_the_task_before_its_essential_container_starts(ecs: Any, ecs_cluster: str) -> None:
    definition = register(
        ecs,
        container("migrate", memory=64, essential=False, environment=simulated(2, 1)),
        container("app", memory=64, dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]),
    )
    task_arn = run(ecs, ecs_cluster, definition)

    ecs.get_waiter("tasks_stopped").wait(cluster=ecs_cluster, tasks=[task_arn], WaiterConfig=FAST_WAITER)

    stopped = describe(ecs, ecs_cluster, task_arn)
    assert stopped["stopCode"] == "TaskFailedToStart"
    migrate, app = by_name(stopped)["migrate"], by_name(stopped)["app"]
    assert (migrate["lastStatus"], migrate["exitCode"]) == ("STOPPED", 1)
    assert app["lastStatus"] == "STOPPED" and "exitCode" not in app
    assert "startedAt" not in stopped
    assert (stopped["stoppedAt"] - stopped["pullStoppedAt"]).total_seconds() >= 2
