"""Pods (as the API server and the simulated kubelet fill them) -> ECS Task views, through a task's life."""

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shim.schemas.responses import output_problems
from shim.translate.task_from_pod import (
    LIFECYCLE,
    desired_status,
    essential_container_exited,
    health_due_at,
    is_stopped,
    last_status,
    start_failure,
    stop_reason,
    stopped_at,
    stopped_task_record,
    task_id_of,
    task_view,
)
from shim.translate.task_to_pod import RunParameters, task_to_pod

REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "default"
TASK_ID = "0123456789abcdef0123456789abcdef"
NODE = "i-0123456789abcdef0"
INSTANCE_ID = "5b7c3e0a9d2f4e1b8c6a0f3d2e1b4c5a"
ZONE = "us-east-1a"
POD_IP = "10.244.1.7"
T0 = datetime(2026, 11, 27, 11, 2, 20, tzinfo=UTC)
TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{TASK_ID}"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": f"registry.example/{name.lower()}:1", "memory": 256, **fields}


def definition(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:7",
        "family": "web",
        "revision": 7,
        "containerDefinitions": list(containers) or [container()],
        **fields,
    }


def running(started: float = 5, *, ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    return {"state": {"running": {"startedAt": at(started)}}, "ready": ready, "started": True, "restartCount": restarts}


def exited(code: int, started: float = 5, finished: float = 9, reason: str | None = None) -> dict[str, Any]:
    terminated = {
        "exitCode": code,
        "reason": reason or ("Completed" if code == 0 else "Error"),
        "startedAt": at(started),
        "finishedAt": at(finished),
    }
    return {"state": {"terminated": terminated}, "ready": False, "started": False, "restartCount": 0}


def waiting(reason: str = "ContainerCreating", message: str | None = None, restarts: int = 0) -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason, **({"message": message} if message else {})}
    status: dict[str, Any] = {"state": {"waiting": state}, "ready": False, "started": False, "restartCount": restarts}
    if restarts:
        status["lastState"] = {"terminated": {"exitCode": 1, "startedAt": at(5), "finishedAt": at(8)}}
    return status


def task_pod(
    task_definition: dict[str, Any] | None = None,
    *,
    node: str | None = NODE,
    phase: str = "Pending",
    statuses: dict[str, dict[str, Any]] | None = None,
    init_statuses: dict[str, dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    resource_version: str = "1200",
    **run: Any,
) -> dict[str, Any]:
    """A task's pod as the API server returns it once the scheduler and the kubelet had their say."""
    parameters = RunParameters(**{"cluster_name": CLUSTER, "task_id": TASK_ID, **run})
    pod = task_to_pod(task_definition or definition(), parameters, "ecs-default")
    pod["metadata"].update(
        uid="7f0c2b4e-93a1-4d2c-8e55-0a1b2c3d4e5f", creationTimestamp=at(0), resourceVersion=resource_version
    )
    if node is None:
        pod["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}
        return pod
    pod["spec"]["nodeName"] = node
    scheduled = {"type": "PodScheduled", "status": "True", "lastTransitionTime": at(1)}
    pod["status"] = {
        "phase": phase,
        "startTime": at(2),
        "hostIP": "172.18.0.4",
        "podIP": POD_IP,
        "conditions": [scheduled, *(conditions or [])],
        "containerStatuses": _statuses(pod["spec"]["containers"], statuses or {}),
    }
    if pod["spec"].get("initContainers"):
        pod["status"]["initContainerStatuses"] = _statuses(pod["spec"]["initContainers"], init_statuses or {})
    return pod


def _statuses(containers: list[dict[str, Any]], given: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": c["name"], "image": c["image"], **given.get(c["name"], waiting())} for c in containers]


def deleted(pod: dict[str, Any], at_seconds: float, grace: int = 30) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    pod["metadata"]["deletionTimestamp"] = at(at_seconds + grace)
    pod["metadata"]["deletionGracePeriodSeconds"] = grace
    return pod


def view(pod: dict[str, Any] | None, record: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    scheduled = pod is not None and bool(pod["spec"].get("nodeName"))
    options.setdefault("now", epoch(10))
    shown = task_view(
        pod,
        record,
        region=REGION,
        account=ACCOUNT,
        cluster_name=CLUSTER,
        container_instance_id=INSTANCE_ID if scheduled else None,
        availability_zone=ZONE if scheduled else None,
        **options,
    )
    assert output_problems("DescribeTasks", {"tasks": [shown], "failures": []}) == []
    return shown


def record_of(pod: dict[str, Any], stopping_at: float, **stop: Any) -> dict[str, Any]:
    record = stopped_task_record(
        pod,
        stopping_at=stopping_at,
        region=REGION,
        account=ACCOUNT,
        cluster_name=CLUSTER,
        container_instance_id=INSTANCE_ID,
        availability_zone=ZONE,
        **stop,
    )
    stored: dict[str, Any] = json.loads(json.dumps(record))
    return stored


def only(views: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(views) == 1
    return views[0]


# Identity


def test_task_identity_comes_from_the_pod_labels_and_annotations() -> None:
    pod = task_pod(started_by="ci-job", group="batch")
    shown = view(pod)
    assert task_id_of(pod) == TASK_ID
    assert shown["taskArn"] == TASK_ARN
    assert shown["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
    assert shown["taskDefinitionArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:7"
    assert shown["group"] == "batch"
    assert shown["startedBy"] == "ci-job"
    assert shown["launchType"] == "EC2"
    assert shown["createdAt"] == epoch(0)
    assert shown["enableExecuteCommand"] is False
    assert shown["version"] == 1200


def test_standalone_task_group_defaults_to_its_family() -> None:
    assert view(task_pod())["group"] == "family:web"


def test_containers_show_their_ecs_names_and_stable_arns() -> None:
    pod = task_pod(definition(container("Web_App"), container("sidecar", essential=False)))
    containers = view(pod)["containers"]
    assert [c["name"] for c in containers] == ["Web_App", "sidecar"]
    assert [c["image"] for c in containers] == ["registry.example/web_app:1", "registry.example/sidecar:1"]
    for shown in containers:
        assert shown["taskArn"] == TASK_ARN
        assert shown["containerArn"].startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/{CLUSTER}/{TASK_ID}/")
    assert containers[0]["containerArn"] != containers[1]["containerArn"]
    assert [c["containerArn"] for c in view(pod)["containers"]] == [c["containerArn"] for c in containers]


def test_tags_are_shown_only_when_asked_for() -> None:
    pod = task_pod(tags=[{"key": "team", "value": "payments"}])
    assert "tags" not in view(pod)
    assert view(pod, include_tags=True)["tags"] == [{"key": "team", "value": "payments"}]
    assert view(task_pod(), include_tags=True)["tags"] == []


# Lifecycle


def test_task_not_yet_placed_is_provisioning() -> None:
    shown = view(task_pod(node=None))
    assert (shown["lastStatus"], shown["desiredStatus"]) == ("PROVISIONING", "RUNNING")
    assert "containerInstanceArn" not in shown and "connectivity" not in shown
    assert only(shown["containers"])["lastStatus"] == "PENDING"


def test_placed_task_is_pending_until_its_essential_containers_start() -> None:
    shown = view(task_pod(phase="Pending"))
    assert (shown["lastStatus"], shown["desiredStatus"]) == ("PENDING", "RUNNING")
    assert shown["containerInstanceArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{CLUSTER}/{INSTANCE_ID}"
    assert shown["availabilityZone"] == ZONE
    assert (shown["connectivity"], shown["connectivityAt"]) == ("CONNECTED", epoch(1))
    assert shown["pullStartedAt"] == epoch(2)
    assert "startedAt" not in shown and "pullStoppedAt" not in shown
    assert only(shown["containers"])["lastStatus"] == "PENDING"


def test_task_runs_once_every_essential_container_has_started() -> None:
    task = definition(container("app"), container("worker"), container("metrics", essential=False))
    pod = task_pod(task, phase="Running", statuses={"app": running(5), "worker": running(7)})
    shown = view(pod)
    assert (shown["lastStatus"], shown["desiredStatus"]) == ("RUNNING", "RUNNING")
    assert shown["pullStoppedAt"] == epoch(5)
    assert shown["startedAt"] == epoch(7)
    assert [c["lastStatus"] for c in shown["containers"]] == ["RUNNING", "RUNNING", "PENDING"]
    assert "stopCode" not in shown and "stoppingAt" not in shown


def test_task_with_an_essential_container_not_started_is_still_pending() -> None:
    task = definition(container("app"), container("worker"))
    shown = view(task_pod(task, phase="Running", statuses={"app": running(5)}))
    assert shown["lastStatus"] == "PENDING"
    assert "startedAt" not in shown


def test_container_being_restarted_keeps_the_task_running() -> None:
    task = definition(container("app", restartPolicy={"enabled": True}))
    shown = view(task_pod(task, phase="Running", statuses={"app": waiting("CrashLoopBackOff", restarts=1)}))
    assert shown["lastStatus"] == "RUNNING"
    assert only(shown["containers"])["lastStatus"] == "RUNNING"


def test_crash_looping_essential_container_of_a_service_pod_has_stopped_the_task() -> None:
    task = definition(container("app"))
    pod = task_pod(task, phase="Running", statuses={"app": waiting("CrashLoopBackOff", restarts=1)})
    assert essential_container_exited(pod)
    shown = view(pod)
    assert (shown["desiredStatus"], shown["stopCode"]) == ("STOPPED", "EssentialContainerExited")
    assert only(shown["containers"])["exitCode"] == 1


def test_essential_container_exit_stops_the_task() -> None:
    task = definition(container("app"), container("worker"))
    pod = task_pod(task, phase="Running", statuses={"app": exited(3, 5, 9), "worker": running(5)})
    shown = view(pod)
    assert essential_container_exited(pod) and not is_stopped(pod)
    assert (shown["lastStatus"], shown["desiredStatus"]) == ("STOPPING", "STOPPED")
    assert (shown["stopCode"], shown["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert shown["stoppingAt"] == epoch(9)
    assert "stoppedAt" not in shown
    app, worker = shown["containers"]
    assert (app["lastStatus"], app["exitCode"]) == ("STOPPED", 3)
    assert worker["lastStatus"] == "RUNNING" and "exitCode" not in worker


def test_non_essential_container_exit_leaves_the_task_running() -> None:
    task = definition(container("app"), container("setup", essential=False))
    pod = task_pod(task, phase="Running", statuses={"app": running(5), "setup": exited(0, 5, 6)})
    shown = view(pod)
    assert not essential_container_exited(pod)
    assert shown["lastStatus"] == "RUNNING"
    assert [(c["lastStatus"], c.get("exitCode")) for c in shown["containers"]] == [("RUNNING", None), ("STOPPED", 0)]


def restarted(code: int, finished: float = 9, restarts: int = 1) -> dict[str, Any]:
    """A container the kubelet started again at once after it exited with `code`."""
    status = running(finished, restarts=restarts)
    status["lastState"] = {
        "terminated": {"exitCode": code, "reason": "Error", "startedAt": at(5), "finishedAt": at(finished)}
    }
    return status


AWAITED_HEALTHY = definition(
    container("app", dependsOn=[{"containerName": "envoy", "condition": "HEALTHY"}]),
    container("envoy", healthCheck={"command": ["CMD", "/ready"]}),
)


@pytest.mark.parametrize("envoy", [restarted(3), waiting("CrashLoopBackOff", restarts=1)], ids=["running", "waiting"])
def test_essential_sidecar_restarted_by_the_kubelet_has_stopped_the_task(envoy: dict[str, Any]) -> None:
    pod = task_pod(AWAITED_HEALTHY, phase="Running", init_statuses={"envoy": envoy}, statuses={"app": running(6)})
    assert essential_container_exited(pod)
    shown = view(pod)
    assert (shown["lastStatus"], shown["desiredStatus"]) == ("STOPPING", "STOPPED")
    assert (shown["stopCode"], shown["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    envoy_view, app = shown["containers"]
    assert (envoy_view["name"], envoy_view["lastStatus"]) == ("envoy", "STOPPED")
    assert envoy_view["exitCode"] == envoy["lastState"]["terminated"]["exitCode"]
    assert app["lastStatus"] == "RUNNING"
    record = record_of(pod, stopping_at=epoch(10), stop_code="EssentialContainerExited")
    assert view(None, record)["containers"][0]["exitCode"] == envoy["lastState"]["terminated"]["exitCode"]


def test_essential_container_of_a_service_pod_started_again_has_stopped_the_task() -> None:
    pod = task_pod(definition(container("app")), phase="Running", statuses={"app": restarted(3)})
    assert essential_container_exited(pod)
    assert only(view(pod)["containers"])["exitCode"] == 3


def test_sidecar_restarted_by_its_ecs_restart_policy_keeps_the_task_running() -> None:
    task = definition(
        container("app", dependsOn=[{"containerName": "envoy", "condition": "HEALTHY"}]),
        container("envoy", healthCheck={"command": ["CMD", "/ready"]}, restartPolicy={"enabled": True}),
    )
    pod = task_pod(task, phase="Running", init_statuses={"envoy": restarted(3)}, statuses={"app": running(6)})
    assert not essential_container_exited(pod)
    shown = view(pod)
    assert shown["lastStatus"] == "RUNNING"
    assert [(c["name"], c["lastStatus"], c.get("exitCode")) for c in shown["containers"]] == [
        ("envoy", "RUNNING", None),
        ("app", "RUNNING", None),
    ]


def test_non_essential_sidecar_exit_leaves_the_task_running() -> None:
    task = definition(
        container("app", dependsOn=[{"containerName": "proxy", "condition": "START"}]),
        container("proxy", essential=False),
    )
    pod = task_pod(task, phase="Running", init_statuses={"proxy": restarted(2)}, statuses={"app": running(6)})
    assert not essential_container_exited(pod)
    shown = view(pod)
    assert shown["lastStatus"] == "RUNNING" and "stopCode" not in shown
    assert [(c["name"], c["lastStatus"], c.get("exitCode")) for c in shown["containers"]] == [
        ("proxy", "STOPPED", 2),
        ("app", "RUNNING", None),
    ]


def test_essential_container_awaited_to_start_exits_and_stops_the_task() -> None:
    task = definition(
        container("app"),
        container("sidecar", essential=False, dependsOn=[{"containerName": "app", "condition": "START"}]),
    )
    pod = task_pod(task, phase="Running", statuses={"app": exited(3, 5, 7), "sidecar": running(5)})
    assert essential_container_exited(pod)
    shown = view(pod)
    assert (shown["stopCode"], [(c["name"], c.get("exitCode")) for c in shown["containers"]]) == (
        "EssentialContainerExited",
        [("app", 3), ("sidecar", None)],
    )


def test_pod_being_deleted_is_stopping_since_its_deletion_began() -> None:
    pod = deleted(task_pod(phase="Running", statuses={"app": running(5)}), at_seconds=60)
    shown = view(pod)
    assert (shown["lastStatus"], shown["desiredStatus"]) == ("STOPPING", "STOPPED")
    assert desired_status(pod) == "STOPPED"
    assert shown["stoppingAt"] == epoch(60)
    assert only(shown["containers"])["lastStatus"] == "RUNNING"


def test_finished_pod_is_a_stopped_task_with_exit_codes_and_times() -> None:
    task = definition(container("app", environment=[{"name": "SIMULATED_RUN_SECONDS", "value": "2"}]))
    pod = task_pod(task, phase="Failed", statuses={"app": exited(3, 5, 7)})
    shown = view(pod)
    assert is_stopped(pod) and not essential_container_exited(pod)
    assert (shown["lastStatus"], shown["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert (shown["stopCode"], shown["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert (shown["startedAt"], shown["stoppingAt"], shown["stoppedAt"]) == (epoch(5), epoch(7), epoch(7))
    assert shown["executionStoppedAt"] == epoch(7)
    app = only(shown["containers"])
    assert (app["lastStatus"], app["exitCode"]) == ("STOPPED", 3)
    assert "reason" not in app


def test_failed_dependency_is_a_task_that_failed_to_start() -> None:
    task = definition(
        container("migrate", essential=False),
        container("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]),
    )
    pod = task_pod(
        task,
        phase="Failed",
        init_statuses={"migrate": exited(1, 3, 4)},
        statuses={"app": waiting("PodInitializing")},
    )
    shown = view(pod)
    assert stop_reason(pod) == ("TaskFailedToStart", "Task failed to start")
    assert (shown["lastStatus"], shown["stopCode"], shown["stoppedReason"]) == (
        "STOPPED",
        "TaskFailedToStart",
        "Task failed to start",
    )
    migrate, app = shown["containers"]
    assert (migrate["name"], migrate["exitCode"]) == ("migrate", 1)
    assert app["lastStatus"] == "STOPPED" and "exitCode" not in app
    assert "startedAt" not in shown
    assert shown["stoppedAt"] == epoch(4)


def test_successful_dependency_runs_before_the_task() -> None:
    task = definition(
        container("migrate", essential=False),
        container("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]),
    )
    pod = task_pod(task, phase="Running", init_statuses={"migrate": exited(0, 3, 4)}, statuses={"app": running(6)})
    shown = view(pod)
    assert stop_reason(pod) is None
    assert shown["lastStatus"] == "RUNNING"
    assert [(c["name"], c["lastStatus"]) for c in shown["containers"]] == [("migrate", "STOPPED"), ("app", "RUNNING")]
    assert (shown["pullStoppedAt"], shown["startedAt"]) == (epoch(3), epoch(6))


@pytest.mark.parametrize(
    ("reason", "stop_code"),
    [("Terminated", "TerminationNotice"), ("Evicted", "InfrastructureHealth")],
)
def test_pod_failed_by_its_node_says_why(reason: str, stop_code: str) -> None:
    pod = task_pod(phase="Failed", statuses={"app": exited(137, 5, 30)})
    pod["status"].update(reason=reason, message="The node had to let the pod go.")
    shown = view(pod)
    assert (shown["stopCode"], shown["stoppedReason"]) == (stop_code, "The node had to let the pod go.")


def test_out_of_memory_container_reason() -> None:
    shown = view(task_pod(phase="Failed", statuses={"app": exited(137, 5, 6, reason="OOMKilled")}))
    assert only(shown["containers"])["reason"] == "OutOfMemoryError: Container killed due to memory usage"


def test_image_that_cannot_be_pulled_is_the_container_reason() -> None:
    message = 'failed to pull image "registry.example/app:1": not found'
    pod = task_pod(statuses={"app": waiting("ErrImagePull", message)})
    assert only(view(pod)["containers"])["reason"] == f"CannotPullContainerError: {message}"


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("ErrImagePull", "CannotPullContainerError"),
        ("ImagePullBackOff", "CannotPullContainerError"),
        ("CreateContainerConfigError", "CannotStartContainerError"),
    ],
)
def test_a_container_that_cannot_start_fails_the_task_to_start(reason: str, words: str) -> None:
    task = definition(container("app"), container("sidecar", essential=False))
    pod = task_pod(task, statuses={"app": running(5), "sidecar": waiting(reason, "no such image")})
    assert start_failure(pod) == f"{words}: no such image"


def test_a_container_still_being_created_is_no_failure_nor_is_a_pod_going_away() -> None:
    assert start_failure(task_pod(statuses={"app": waiting("ContainerCreating")})) is None
    failing = task_pod(statuses={"app": waiting("ErrImagePull", "not found")})
    assert start_failure(deleted(failing, 20)) is None


def test_lifecycle_never_goes_back() -> None:
    task = definition(container("app"), container("worker"))
    life = [
        task_pod(task, node=None),
        task_pod(task),
        task_pod(task, phase="Running", statuses={"app": running(5)}),
        task_pod(task, phase="Running", statuses={"app": running(5), "worker": running(6)}),
        task_pod(task, phase="Running", statuses={"app": exited(3, 5, 9), "worker": running(6)}),
        deleted(task_pod(task, phase="Running", statuses={"app": exited(3, 5, 9), "worker": running(6)}), 10),
        task_pod(task, phase="Failed", statuses={"app": exited(3, 5, 9), "worker": exited(143, 6, 11)}),
    ]
    statuses = [last_status(pod) for pod in life]
    assert statuses == ["PROVISIONING", "PENDING", "PENDING", "RUNNING", "STOPPING", "STOPPING", "STOPPED"]
    assert [LIFECYCLE.index(s) for s in statuses] == sorted(LIFECYCLE.index(s) for s in statuses)
    record = record_of(life[5], stopping_at=epoch(10))
    assert view(None, record)["lastStatus"] == "STOPPED"


# Stopped-task records


def test_record_of_a_user_stopped_task_rebuilds_its_stopped_view() -> None:
    pod = task_pod(phase="Running", statuses={"app": running(5)}, tags=[{"key": "team", "value": "a"}])
    record = record_of(pod, stopping_at=epoch(60), stop_code="UserInitiated", stopped_reason="Deploying v2")
    shown = view(None, record)
    while_stopping = view(pod, record)
    assert (while_stopping["lastStatus"], while_stopping["desiredStatus"]) == ("RUNNING", "STOPPED")
    assert "stoppedAt" not in while_stopping
    assert {k: v for k, v in while_stopping.items() if k != "lastStatus"} == {
        k: v for k, v in shown.items() if k not in ("lastStatus", "stoppedAt", "executionStoppedAt")
    }
    assert (shown["lastStatus"], shown["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert (shown["stopCode"], shown["stoppedReason"]) == ("UserInitiated", "Deploying v2")
    assert (shown["stoppingAt"], shown["stoppedAt"], shown["executionStoppedAt"]) == (epoch(60), epoch(60), epoch(60))
    assert shown["startedAt"] == epoch(5)
    assert shown["version"] > view(pod)["version"]
    assert only(shown["containers"])["lastStatus"] == "STOPPED"
    assert shown["containerInstanceArn"].endswith(INSTANCE_ID)
    assert "tags" not in shown
    assert view(None, record, include_tags=True)["tags"] == [{"key": "team", "value": "a"}]
    assert record["labels"] == pod["metadata"]["labels"]
    assert record["containerInstanceId"] == INSTANCE_ID


def test_record_of_a_finished_pod_keeps_the_pods_own_stop() -> None:
    pod = task_pod(phase="Failed", statuses={"app": exited(3, 5, 7)})
    shown = view(None, record_of(pod, stopping_at=epoch(20)))
    assert (shown["stopCode"], shown["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert (shown["stoppingAt"], shown["stoppedAt"]) == (epoch(7), epoch(7))
    assert only(shown["containers"])["exitCode"] == 3
    assert {key: value for key, value in shown.items() if key != "version"} == {
        key: value for key, value in view(pod).items() if key != "version"
    }


def test_record_of_a_task_never_placed() -> None:
    pod = task_pod(node=None)
    record = stopped_task_record(
        pod,
        stop_code="UserInitiated",
        stopped_reason="Task stopped by user",
        stopping_at=epoch(30),
        region=REGION,
        account=ACCOUNT,
        cluster_name=CLUSTER,
        container_instance_id=None,
        availability_zone=None,
    )
    shown = view(None, record)
    assert shown["lastStatus"] == "STOPPED"
    assert "containerInstanceArn" not in shown and "startedAt" not in shown and "connectivity" not in shown
    assert shown["stoppedAt"] == epoch(30)
    assert "containerInstanceId" not in record


# Sizes and overrides


def test_task_and_container_sizes_read_as_ecs_shows_them() -> None:
    task = definition(
        container("app", cpu=256, memory=512, memoryReservation=128),
        container("worker", cpu=100, memory=None, memoryReservation=256),
        container("tail", memory=64),
        cpu="0.5 vCPU",
        memory="1 GB",
    )
    shown = view(task_pod(task))
    assert (shown["cpu"], shown["memory"]) == ("512", "1024")
    sizes = [(c["cpu"], c.get("memory"), c.get("memoryReservation")) for c in shown["containers"]]
    assert sizes == [("256", "512", "128"), ("100", None, "256"), ("0", "64", None)]


@pytest.mark.parametrize("units", [1, 2, 10, 50, 100, 128, 200, 256, 500, 512, 1000, 1024, 1536, 2048, 4096])
def test_common_container_cpu_values_read_back_exactly(units: int) -> None:
    shown = view(task_pod(definition(container("app", cpu=units))))
    assert only(shown["containers"])["cpu"] == str(units)


def test_task_without_a_task_size_shows_none() -> None:
    shown = view(task_pod())
    assert "cpu" not in shown and "memory" not in shown


def test_overrides_are_echoed_with_one_entry_per_container() -> None:
    task = definition(container("app"), container("worker"))
    overrides = {"containerOverrides": [{"name": "worker", "command": ["work", "--fast"]}], "cpu": "512"}
    shown = view(task_pod(task, overrides=overrides))
    assert shown["overrides"] == {
        "containerOverrides": [{"name": "app"}, {"name": "worker", "command": ["work", "--fast"]}],
        "inferenceAcceleratorOverrides": [],
        "cpu": "512",
    }
    assert shown["cpu"] == "512"


# Networking


def test_bridge_ports_bind_on_the_host_or_on_the_pod_address() -> None:
    task = definition(
        container(
            "app",
            portMappings=[
                {"containerPort": 80, "hostPort": 8080},
                {"containerPort": 9000},
                {"containerPort": 53, "hostPort": 5353, "protocol": "udp"},
            ],
        ),
        networkMode="bridge",
    )
    shown = view(task_pod(task, phase="Running", statuses={"app": running()}))
    assert only(shown["containers"])["networkBindings"] == [
        {"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 8080, "protocol": "tcp"},
        {"bindIP": POD_IP, "containerPort": 9000, "hostPort": 9000, "protocol": "tcp"},
        {"bindIP": "0.0.0.0", "containerPort": 53, "hostPort": 5353, "protocol": "udp"},
    ]
    assert shown["attachments"] == []


def test_host_mode_ports_are_host_ports() -> None:
    task = definition(container("app", portMappings=[{"containerPort": 8080}]), networkMode="host")
    shown = view(task_pod(task, phase="Running", statuses={"app": running()}))
    assert only(shown["containers"])["networkBindings"] == [
        {"bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}
    ]


def test_ports_are_bound_only_once_the_container_started() -> None:
    task = definition(container("app", portMappings=[{"containerPort": 80, "hostPort": 8080}]))
    assert only(view(task_pod(task))["containers"])["networkBindings"] == []


def test_awsvpc_task_has_an_elastic_network_interface_with_the_pod_address() -> None:
    task = definition(container("app", portMappings=[{"containerPort": 80}]), networkMode="awsvpc")
    shown = view(task_pod(task, phase="Running", statuses={"app": running()}), network_mode="awsvpc")
    attachment = only(shown["attachments"])
    assert (attachment["type"], attachment["status"]) == ("ElasticNetworkInterface", "ATTACHED")
    details = {d["name"]: d["value"] for d in attachment["details"]}
    assert details["privateIPv4Address"] == POD_IP
    assert details["privateDnsName"] == "ip-10-244-1-7.ec2.internal"
    assert details["networkInterfaceId"].startswith("eni-") and len(details["networkInterfaceId"]) == 21
    app = only(shown["containers"])
    assert app["networkInterfaces"] == [{"attachmentId": attachment["id"], "privateIpv4Address": POD_IP}]
    assert app["networkBindings"] == []


def test_awsvpc_interface_is_deleted_with_the_task() -> None:
    pod = task_pod(phase="Succeeded", statuses={"app": exited(0)})
    shown = view(pod, network_mode="awsvpc")
    assert only(shown["attachments"])["status"] == "DELETED"


def fargate_definition(**fields: Any) -> dict[str, Any]:
    return definition(
        container("app", memory=None),
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        **fields,
    )


def test_fargate_task_shows_its_platform_and_storage() -> None:
    shown = view(task_pod(fargate_definition(), launch_type="FARGATE", phase="Running", statuses={"app": running()}))
    assert shown["launchType"] == "FARGATE"
    assert (shown["platformVersion"], shown["platformFamily"]) == ("1.4.0", "Linux")
    assert shown["ephemeralStorage"] == {"sizeInGiB": 20}
    assert only(shown["attachments"])["type"] == "ElasticNetworkInterface"
    assert (shown["cpu"], shown["memory"]) == ("256", "512")


def test_fargate_task_storage_follows_the_definition() -> None:
    pod = task_pod(fargate_definition(ephemeralStorage={"sizeInGiB": 40}), launch_type="FARGATE")
    assert view(pod)["ephemeralStorage"] == {"sizeInGiB": 40}


def test_ec2_task_has_no_fargate_fields() -> None:
    shown = view(task_pod())
    assert not {"platformVersion", "platformFamily", "ephemeralStorage"} & shown.keys()


# Health


HEALTH_CHECK = {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "interval": 5}


def test_ready_container_with_a_health_check_is_healthy() -> None:
    task = definition(container("app", healthCheck=HEALTH_CHECK), container("worker"))
    shown = view(task_pod(task, phase="Running", statuses={"app": running(), "worker": running()}))
    assert [c["healthStatus"] for c in shown["containers"]] == ["HEALTHY", "UNKNOWN"]
    assert shown["healthStatus"] == "HEALTHY"


def test_container_not_ready_yet_is_unknown() -> None:
    task = definition(container("app", healthCheck=HEALTH_CHECK))
    not_ready = {"type": "Ready", "status": "False", "lastTransitionTime": at(2)}
    shown = view(task_pod(task, phase="Running", statuses={"app": running(5, ready=False)}, conditions=[not_ready]))
    assert only(shown["containers"])["healthStatus"] == "UNKNOWN"
    assert shown["healthStatus"] == "UNKNOWN"


def test_container_never_ready_is_unhealthy_once_its_start_period_and_retries_have_passed() -> None:
    """Started at 5 s, checked every 5 s, 3 retries: a check that never passes makes it UNHEALTHY
    at 20 s, or at 50 s with a 30 s start period, as ECS counts failures."""
    not_ready = {"type": "Ready", "status": "False", "lastTransitionTime": at(2)}
    for check, due in ((HEALTH_CHECK, 20), ({**HEALTH_CHECK, "startPeriod": 30}, 50)):
        pod = task_pod(
            definition(container("app", healthCheck=check)),
            phase="Running",
            statuses={"app": running(5, ready=False)},
            conditions=[not_ready],
        )
        assert health_due_at(pod) == epoch(due)
        assert view(pod, now=epoch(due - 1))["healthStatus"] == "UNKNOWN"
        assert only(view(pod, now=epoch(due))["containers"])["healthStatus"] == "UNHEALTHY"
        assert view(pod, now=epoch(due))["healthStatus"] == "UNHEALTHY"


def test_a_ready_container_has_no_health_deadline() -> None:
    pod = task_pod(definition(container("app", healthCheck=HEALTH_CHECK)), phase="Running", statuses={"app": running()})
    assert health_due_at(pod) is None
    assert view(pod, now=epoch(1_000))["healthStatus"] == "HEALTHY"


def test_container_that_lost_readiness_is_unhealthy() -> None:
    task = definition(container("app", healthCheck=HEALTH_CHECK))
    lost = {"type": "Ready", "status": "False", "lastTransitionTime": at(40)}
    shown = view(task_pod(task, phase="Running", statuses={"app": running(5, ready=False)}, conditions=[lost]))
    assert only(shown["containers"])["healthStatus"] == "UNHEALTHY"
    assert shown["healthStatus"] == "UNHEALTHY"


def test_only_essential_containers_decide_task_health() -> None:
    task = definition(container("app"), container("probe", essential=False, healthCheck=HEALTH_CHECK))
    lost = {"type": "Ready", "status": "False", "lastTransitionTime": at(40)}
    statuses = {"app": running(), "probe": running(5, ready=False)}
    shown = view(task_pod(task, phase="Running", statuses=statuses, conditions=[lost]))
    assert shown["containers"][1]["healthStatus"] == "UNHEALTHY"
    assert shown["healthStatus"] == "UNKNOWN"


def test_stopped_at_is_known_once_the_task_stopped() -> None:
    assert stopped_at(task_pod(phase="Running", statuses={"app": running(5)})) is None
    assert stopped_at(deleted(task_pod(phase="Running", statuses={"app": running(5)}), 60)) is None
    finished = task_pod(phase="Succeeded", statuses={"app": exited(0, 5, 12)})
    assert stopped_at(finished) == epoch(12)
    assert stopped_at(record_of(finished, stopping_at=epoch(30))) == epoch(12)
    user_stopped = record_of(task_pod(phase="Running", statuses={"app": running(5)}), stopping_at=epoch(30))
    assert stopped_at(user_stopped) == epoch(30)
