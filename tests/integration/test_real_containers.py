"""Container-level ECS behaviour on real processes: tasks of the ECS cluster `real` run on the
cluster's real node (containerd + kubelet, label and taint `ecs.shim.io/cluster=real`), where
exit codes, signals, health checks, memory limits and dependency order are the kernel's and the
kubelet's, not a simulation. Each test asserts what an ECS user sees in DescribeTasks /
DescribeServices; what a container did is read from its own output (its pod's log, as the ECS
logs API does not exist here).

Only the preloaded image `busybox` (also `busybox:latest`, `docker.io/library/busybox:latest`)
exists on the node; nothing can be pulled. Every container stops within 2 s of SIGTERM unless a
test says otherwise, so a stopped task frees the node at once.

The module is skipped when the cluster has no real node (started with ECS_SHIM_REAL_NODE=0)."""

import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from shim.kube.client import KubeClients
from shim.translate.container_instances import container_instance_id
from shim.translate.names import LABEL_TASK_ID, cluster_namespace
from shim.translate.task_to_pod import environment_file_config_map, secret_key_ref
from tests.integration.conftest import (
    FAST_WAITER,
    REAL,
    eventually,
    kube_json,
    real_nodes,
    task_id_of_arn,
    unique_name,
)
from tests.integration.test_services import wait_stable

IDLE = "trap 'exit 0' TERM; sleep 3600 & wait"
"""A shell that runs until SIGTERM, then exits 0 at once (a bare `sleep` as PID 1 ignores it)."""

SHORT_WAITER = {"Delay": 1, "MaxAttempts": 45}
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"
ESSENTIAL_EXITED = ("EssentialContainerExited", "Essential container in task exited")
SHARED = {"name": "shared"}
"""A task volume without configuration: scratch space the task's containers share."""


@dataclass(frozen=True)
class RealCluster:
    name: str
    instance_ids: frozenset[str]
    """The container instance ids of the real nodes pinned to the cluster."""


@pytest.fixture(scope="module")
def real(kube: KubeClients, real_cluster: str) -> RealCluster:
    return RealCluster(real_cluster, frozenset(container_instance_id(node) for node in real_nodes(kube)))


pytestmark = pytest.mark.usefixtures("real", "responses_match_the_model")


@dataclass
class Tasks:
    """Runs tasks on the real node and stops, afterwards, those still running."""

    ecs: Any
    cluster: RealCluster
    started: list[str] = field(default_factory=list)

    def run(self, definition: str, **params: Any) -> str:
        response = self.ecs.run_task(cluster=self.cluster.name, taskDefinition=definition, **params)
        assert response["failures"] == []
        arn: str = response["tasks"][0]["taskArn"]
        self.started.append(arn)
        on_real_node(self.ecs, self.cluster, arn)
        return arn

    def stop_all(self) -> None:
        for arn in self.started:
            self.ecs.stop_task(cluster=self.cluster.name, task=arn, reason="test finished")


@pytest.fixture
def tasks(ecs: Any, real: RealCluster) -> Iterator[Tasks]:
    runner = Tasks(ecs, real)
    yield runner
    runner.stop_all()


@pytest.fixture
def services(ecs: Any, real: RealCluster) -> Iterator[list[str]]:
    """Names of the services a test creates in the real cluster; deleted afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        ecs.delete_service(cluster=real.name, service=name, force=True)
    if created:
        ecs.get_waiter("services_inactive").wait(cluster=real.name, services=created, WaiterConfig=FAST_WAITER)


def on_real_node(ecs: Any, cluster: RealCluster, task_arn: str) -> None:
    """Waits until the task is placed, and checks that it was placed on the real node."""

    def placed() -> str | None:
        arn: str | None = describe(ecs, task_arn).get("containerInstanceArn")
        return arn

    instance_arn = eventually(placed, timeout=30)
    assert instance_arn.rsplit("/", 1)[-1] in cluster.instance_ids, f"{task_arn} is not on the real node"


def container(name: str, script: str | None = None, **fields: Any) -> dict[str, Any]:
    """A busybox container running `script` with sh (the image's own command without one)."""
    definition: dict[str, Any] = {"name": name, "image": "busybox", "memory": 64, "stopTimeout": 2, **fields}
    if script is not None:
        definition["command"] = ["sh", "-c", script]
    return definition


def shared(container_definition: dict[str, Any], read_only: bool = False) -> dict[str, Any]:
    """The container with the task's `shared` volume at /shared."""
    mount = {"sourceVolume": "shared", "containerPath": "/shared", "readOnly": read_only}
    return {**container_definition, "mountPoints": [mount]}


def register(ecs: Any, *containers: dict[str, Any], family: str | None = None, **fields: Any) -> str:
    registered = ecs.register_task_definition(
        family=family or unique_name("real"), containerDefinitions=list(containers), **fields
    )
    arn: str = registered["taskDefinition"]["taskDefinitionArn"]
    return arn


def describe(ecs: Any, task_arn: str) -> dict[str, Any]:
    [task] = ecs.describe_tasks(cluster=REAL, tasks=[task_arn])["tasks"]
    return dict(task)


def by_name(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in task["containers"]}


def wait_running(ecs: Any, *task_arns: str) -> None:
    ecs.get_waiter("tasks_running").wait(cluster=REAL, tasks=list(task_arns), WaiterConfig=SHORT_WAITER)


def wait_stopped(ecs: Any, task_arn: str, attempts: int = 45) -> dict[str, Any]:
    waiter = {"Delay": 1, "MaxAttempts": attempts}
    ecs.get_waiter("tasks_stopped").wait(cluster=REAL, tasks=[task_arn], WaiterConfig=waiter)
    return describe(ecs, task_arn)


def log_of(kube: KubeClients, task_arn: str, container_name: str) -> str:
    """What a container of the task has written so far ("" before it started or once its pod
    is gone): its pod is the one labelled with the task's id."""
    namespace = cluster_namespace(REAL)
    selector = f"{LABEL_TASK_ID}={task_id_of_arn(task_arn)}"
    pods = kube_json(kube.core.list_namespaced_pod, namespace, label_selector=selector)["items"]
    if not pods:
        return ""
    try:
        response: Any = kube.core.read_namespaced_pod_log(
            pods[0]["metadata"]["name"], namespace, container=container_name, _preload_content=False
        )
    except ApiException as error:
        if error.status in (400, 404):
            return ""
        raise
    return str(response.data.decode())


def output_lines(kube: KubeClients, task_arn: str, container_name: str, last: str, timeout: float = 30) -> list[str]:
    """The lines a container has written once it has written `last`."""

    def written() -> list[str] | None:
        lines = log_of(kube, task_arn, container_name).splitlines()
        return lines if last in lines else None

    written.__name__ = f"{container_name} wrote {last!r}"
    return eventually(written, timeout=timeout)


# Exit codes and essential containers


def test_essential_container_exit_code_stops_the_task(ecs: Any, tasks: Tasks) -> None:
    definition = register(ecs, container("app", "exit 3"), container("helper", IDLE, essential=False))

    stopped = wait_stopped(ecs, tasks.run(definition))

    assert (stopped["stopCode"], stopped["stoppedReason"]) == ESSENTIAL_EXITED
    app, helper = by_name(stopped)["app"], by_name(stopped)["helper"]
    assert (app["lastStatus"], app["exitCode"]) == ("STOPPED", 3)
    assert helper["lastStatus"] == "STOPPED"
    assert stopped["stoppingAt"] <= stopped["stoppedAt"]


def test_containers_stopped_with_their_task_show_how_they_exited(ecs: Any, tasks: Tasks) -> None:
    """ECS stops the others as StopTask does (SIGTERM, SIGKILL after stopTimeout) and keeps each
    one's exit code."""
    definition = register(
        ecs,
        container("app", "sleep 1; exit 3"),
        container("helper", IDLE, essential=False),
        container("stubborn", "trap '' TERM; sleep 3600 & wait", essential=False),
    )

    stopped = wait_stopped(ecs, tasks.run(definition))

    assert {name: (c["lastStatus"], c.get("exitCode")) for name, c in by_name(stopped).items()} == {
        "app": ("STOPPED", 3),
        "helper": ("STOPPED", 0),
        "stubborn": ("STOPPED", 137),
    }


def test_non_essential_exit_leaves_the_task_running_until_an_essential_one_exits(ecs: Any, tasks: Tasks) -> None:
    definition = register(ecs, container("side", "exit 5", essential=False), container("app", "sleep 5; exit 4"))
    task_arn = tasks.run(definition)
    wait_running(ecs, task_arn)

    def side_exited() -> dict[str, Any] | None:
        task = describe(ecs, task_arn)
        return task if by_name(task)["side"]["lastStatus"] == "STOPPED" else None

    running = eventually(side_exited)
    assert by_name(running)["side"]["exitCode"] == 5
    assert (running["lastStatus"], by_name(running)["app"]["lastStatus"]) == ("RUNNING", "RUNNING")
    assert "stopCode" not in running

    stopped = wait_stopped(ecs, task_arn)
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ESSENTIAL_EXITED
    assert {name: c.get("exitCode") for name, c in by_name(stopped).items()} == {"side": 5, "app": 4}


# dependsOn, order observed from the containers' own output


def test_container_awaited_to_start_starts_first(ecs: Any, kube: KubeClients, tasks: Tasks) -> None:
    definition = register(
        ecs,
        shared(container("proxy", "echo proxy >> /shared/order; " + IDLE)),
        shared(
            container(
                "app",
                "echo app >> /shared/order; cat /shared/order; " + IDLE,
                dependsOn=[{"containerName": "proxy", "condition": "START"}],
            )
        ),
        volumes=[SHARED],
    )
    task_arn = tasks.run(definition)

    assert output_lines(kube, task_arn, "app", "app") == ["proxy", "app"]
    wait_running(ecs, task_arn)


def test_essential_container_awaited_to_start_stops_the_task_when_it_exits(ecs: Any, tasks: Tasks) -> None:
    """The bug of issue 20: such a container became a sidecar, which a kubelet restarts."""
    definition = register(
        ecs,
        container("app", "sleep 2; exit 3"),
        container("sidecar", IDLE, essential=False, dependsOn=[{"containerName": "app", "condition": "START"}]),
    )

    stopped = wait_stopped(ecs, tasks.run(definition))

    assert (stopped["stopCode"], stopped["stoppedReason"]) == ESSENTIAL_EXITED
    app = by_name(stopped)["app"]
    assert (app["lastStatus"], app["exitCode"]) == ("STOPPED", 3)


def test_container_awaited_to_succeed_runs_to_its_end_first(ecs: Any, kube: KubeClients, tasks: Tasks) -> None:
    definition = register(
        ecs,
        shared(
            container(
                "migrate",
                "echo migrate >> /shared/order; sleep 1; echo migrated >> /shared/order",
                essential=False,
            )
        ),
        shared(
            container(
                "app",
                "echo app >> /shared/order; cat /shared/order; " + IDLE,
                dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}],
            )
        ),
        volumes=[SHARED],
    )
    task_arn = tasks.run(definition)

    assert output_lines(kube, task_arn, "app", "app") == ["migrate", "migrated", "app"]
    wait_running(ecs, task_arn)
    migrate = by_name(describe(ecs, task_arn))["migrate"]
    assert (migrate["lastStatus"], migrate["exitCode"]) == ("STOPPED", 0)


def test_container_awaited_to_succeed_that_fails_stops_the_task_before_the_others_start(ecs: Any, tasks: Tasks) -> None:
    definition = register(
        ecs,
        container("migrate", "sleep 1; exit 1", essential=False),
        container("app", IDLE, dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]),
    )

    stopped = wait_stopped(ecs, tasks.run(definition))

    assert stopped["stopCode"] == "TaskFailedToStart"
    migrate, app = by_name(stopped)["migrate"], by_name(stopped)["app"]
    assert (migrate["lastStatus"], migrate["exitCode"]) == ("STOPPED", 1)
    assert app["lastStatus"] == "STOPPED" and "exitCode" not in app
    assert "startedAt" not in stopped


def test_container_awaited_healthy_passes_its_health_check_first(ecs: Any, kube: KubeClients, tasks: Tasks) -> None:
    """The proxy starts, becomes ready a second later, and only then the app starts; once it
    exits (essential, and others wait on it) the task stops with its exit code."""
    definition = register(
        ecs,
        shared(
            container(
                "proxy",
                "echo proxy >> /shared/order; sleep 1; echo proxy-ready >> /shared/order; touch /tmp/ready; "
                "until [ -f /shared/done ]; do sleep 0.2; done; exit 4",
                healthCheck={"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "timeout": 2},
            )
        ),
        shared(
            container(
                "app",
                "echo app >> /shared/order; cat /shared/order; sleep 3; touch /shared/done; " + IDLE,
                dependsOn=[{"containerName": "proxy", "condition": "HEALTHY"}],
            )
        ),
        volumes=[SHARED],
    )
    task_arn = tasks.run(definition)

    assert output_lines(kube, task_arn, "app", "app") == ["proxy", "proxy-ready", "app"]
    stopped = wait_stopped(ecs, task_arn)
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ESSENTIAL_EXITED
    proxy = by_name(stopped)["proxy"]
    assert (proxy["lastStatus"], proxy["exitCode"]) == ("STOPPED", 4)


# Health checks


def health_check(command: str) -> dict[str, Any]:
    """Checked every 5 s (ECS's shortest interval), unhealthy after one failure."""
    return {"command": ["CMD-SHELL", command], "interval": 5, "timeout": 2, "retries": 1}


GETS_SICK = "sleep 8; touch /tmp/sick; " + IDLE
"""Healthy for its first 8 seconds by `health_check("test ! -f /tmp/sick")` (so some check every 5 s
sees it healthy), then unhealthy."""


def health(ecs: Any, task_arn: str) -> tuple[str, dict[str, str]]:
    task = describe(ecs, task_arn)
    return task["healthStatus"], {c["name"]: c["healthStatus"] for c in task["containers"]}


def test_task_health_follows_its_essential_containers(ecs: Any, tasks: Tasks) -> None:
    definition = register(ecs, container("web", GETS_SICK, healthCheck=health_check("test ! -f /tmp/sick")))
    task_arn = tasks.run(definition)

    eventually(lambda: health(ecs, task_arn) == ("HEALTHY", {"web": "HEALTHY"}), timeout=30)
    eventually(lambda: health(ecs, task_arn) == ("UNHEALTHY", {"web": "UNHEALTHY"}), timeout=30)
    assert describe(ecs, task_arn)["lastStatus"] == "RUNNING", "ECS does not stop an unhealthy standalone task"


def test_unhealthy_non_essential_container_leaves_the_task_healthy(ecs: Any, tasks: Tasks) -> None:
    definition = register(
        ecs,
        container("web", IDLE, healthCheck=health_check("true")),
        container("probe", GETS_SICK, essential=False, healthCheck=health_check("test ! -f /tmp/sick")),
        container("plain", IDLE),
    )
    task_arn = tasks.run(definition)

    expected = ("HEALTHY", {"web": "HEALTHY", "probe": "UNHEALTHY", "plain": "UNKNOWN"})
    eventually(lambda: health(ecs, task_arn) == expected, timeout=35)


def test_a_health_check_that_never_passes_turns_unhealthy_after_its_start_period_and_retries(
    ecs: Any, tasks: Tasks
) -> None:
    """A pod shows no failed check before a first success: the view tells it by the clock."""
    definition = register(ecs, container("web", IDLE, healthCheck={**health_check("false"), "startPeriod": 5}))
    task_arn = tasks.run(definition)
    wait_running(ecs, task_arn)

    assert health(ecs, task_arn) == ("UNKNOWN", {"web": "UNKNOWN"}), "5 s of start period, then one 5 s interval"
    eventually(lambda: health(ecs, task_arn) == ("UNHEALTHY", {"web": "UNHEALTHY"}), timeout=30)
    assert describe(ecs, task_arn)["lastStatus"] == "RUNNING", "ECS does not stop an unhealthy standalone task"


UNHEALTHY = ("ServiceSchedulerInitiated", "Task failed container health checks")


def service_tasks(ecs: Any, name: str, status: str = "RUNNING") -> list[str]:
    arns: list[str] = ecs.list_tasks(cluster=REAL, serviceName=name, desiredStatus=status)["taskArns"]
    return arns


def test_a_service_replaces_its_task_that_turns_unhealthy(ecs: Any, services: list[str], real: RealCluster) -> None:
    definition = register(ecs, container("web", GETS_SICK, healthCheck=health_check("test ! -f /tmp/sick")))
    name = unique_name("sick")
    ecs.create_service(cluster=REAL, serviceName=name, taskDefinition=definition, desiredCount=1)
    services.append(name)
    [first] = eventually(lambda: service_tasks(ecs, name) or None, timeout=30)
    on_real_node(ecs, real, first)
    eventually(lambda: health(ecs, first)[0] == "HEALTHY", timeout=30)

    eventually(lambda: describe(ecs, first)["lastStatus"] == "STOPPED", timeout=45)
    stopped = describe(ecs, first)
    assert (stopped["stopCode"], stopped["stoppedReason"]) == UNHEALTHY
    [second] = eventually(lambda: [arn for arn in service_tasks(ecs, name) if arn != first] or None, timeout=30)
    on_real_node(ecs, real, second)
    told = f"(service {name}) (task {task_id_of_arn(first)}) failed container health checks."
    eventually(lambda: told in [event["message"] for event in describe_service(ecs, name)["events"]], timeout=10)


def test_a_service_whose_health_check_never_passes_never_reaches_a_steady_state(
    ecs: Any, services: list[str], real: RealCluster
) -> None:
    definition = register(ecs, container("web", IDLE, healthCheck=health_check("false")))
    name = unique_name("never-healthy")
    ecs.create_service(cluster=REAL, serviceName=name, taskDefinition=definition, desiredCount=1)
    services.append(name)

    def replaced_twice() -> list[str] | None:
        stopped = service_tasks(ecs, name, "STOPPED")
        return stopped if len(stopped) >= 2 else None

    replaced = eventually(replaced_twice, timeout=60)
    for task in ecs.describe_tasks(cluster=REAL, tasks=replaced)["tasks"]:
        assert (task["stopCode"], task["stoppedReason"]) == UNHEALTHY
        on_real_node(ecs, real, task["taskArn"])
    service = describe_service(ecs, name)
    assert service["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert not [event for event in service["events"] if "steady state" in event["message"]]


# StopTask and stopTimeout


def test_stop_task_sends_sigterm_then_sigkill_after_the_stop_timeout(ecs: Any, tasks: Tasks) -> None:
    graceful = register(ecs, container("app", IDLE, stopTimeout=10))
    stubborn = register(ecs, container("app", "trap '' TERM; sleep 3600 & wait", stopTimeout=6))
    graceful_arn, stubborn_arn = tasks.run(graceful), tasks.run(stubborn)
    wait_running(ecs, graceful_arn, stubborn_arn)

    for arn in (graceful_arn, stubborn_arn):
        ecs.stop_task(cluster=REAL, task=arn, reason="deploying")

    # stoppedAt is the container's finish, which Kubernetes keeps in whole seconds: up to 1 s early.
    for arn, exit_code, seconds in ((graceful_arn, 0, (0, 3)), (stubborn_arn, 137, (4.5, 14))):
        stopped = wait_stopped(ecs, arn)
        assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "deploying")
        app = by_name(stopped)["app"]
        assert (app["lastStatus"], app.get("exitCode")) == ("STOPPED", exit_code), arn
        took = (stopped["stoppedAt"] - stopped["stoppingAt"]).total_seconds()
        assert seconds[0] <= took <= seconds[1], (arn, took)


# Memory


def test_container_over_its_memory_limit_is_killed_as_out_of_memory(ecs: Any, tasks: Tasks) -> None:
    definition = register(ecs, container("hog", "dd if=/dev/zero of=/dev/null bs=128M count=1", memory=32))

    stopped = wait_stopped(ecs, tasks.run(definition))

    assert (stopped["stopCode"], stopped["stoppedReason"]) == ESSENTIAL_EXITED
    hog = by_name(stopped)["hog"]
    assert (hog["lastStatus"], hog["exitCode"], hog.get("reason")) == ("STOPPED", 137, OUT_OF_MEMORY)


# What a container runs with, seen from inside


def test_environment_command_and_overrides_reach_the_process(ecs: Any, kube: KubeClients, tasks: Tasks) -> None:
    definition = register(
        ecs,
        container(
            "app",
            image="busybox:latest",
            entryPoint=["sh", "-c"],
            command=['echo "greeting=$GREETING name=$NAME args=$0,$1"', "one", "two"],
            environment=[{"name": "GREETING", "value": "hello"}, {"name": "NAME", "value": "definition"}],
        ),
    )
    override = {
        "name": "app",
        "command": ['echo "overridden greeting=$GREETING name=$NAME extra=$EXTRA"'],
        "environment": [{"name": "NAME", "value": "override"}, {"name": "EXTRA", "value": "added"}],
    }
    as_defined = tasks.run(definition)
    overridden = tasks.run(definition, overrides={"containerOverrides": [override]})

    assert output_lines(kube, as_defined, "app", "greeting=hello name=definition args=one,two")
    assert output_lines(kube, overridden, "app", "overridden greeting=hello name=override extra=added")
    for arn in (as_defined, overridden):
        assert by_name(wait_stopped(ecs, arn))["app"]["exitCode"] == 0


def test_image_command_runs_without_an_entry_point(ecs: Any, kube: KubeClients, tasks: Tasks) -> None:
    definition = register(
        ecs,
        container(
            "app",
            image="docker.io/library/busybox:latest",
            command=["env"],
            environment=[{"name": "COLOUR", "value": "blue green"}],
        ),
    )

    assert "COLOUR=blue green" in output_lines(kube, tasks.run(definition), "app", "COLOUR=blue green")


def test_working_directory_user_and_read_only_root_filesystem_apply_to_the_process(
    ecs: Any, kube: KubeClients, tasks: Tasks
) -> None:
    in_tmp = register(ecs, container("app", command=["pwd"], workingDirectory="/tmp"))
    as_nobody = register(ecs, container("app", command=["id"], user="65534:65534"))
    read_only = register(
        ecs,
        shared(
            container(
                "app",
                "touch /probe 2>/dev/null && echo root-writable || echo root-read-only; "
                "touch /shared/probe && echo volume-writable",
                readonlyRootFilesystem=True,
            )
        ),
        volumes=[SHARED],
    )
    runs = {
        name: tasks.run(definition) for name, definition in [("tmp", in_tmp), ("nobody", as_nobody), ("ro", read_only)]
    }

    assert output_lines(kube, runs["tmp"], "app", "/tmp") == ["/tmp"]
    [identity] = eventually(lambda: log_of(kube, runs["nobody"], "app").splitlines())
    assert identity.startswith("uid=65534(") and " gid=65534(" in identity, identity
    assert output_lines(kube, runs["ro"], "app", "volume-writable") == ["root-read-only", "volume-writable"]


def test_secrets_and_environment_files_reach_the_process(ecs: Any, kube: KubeClients, tasks: Tasks) -> None:
    """A Secrets Manager ARN reads a Kubernetes Secret, an S3 environment file a ConfigMap, in
    the cluster's Namespace (docs/translation.md names them)."""
    namespace = cluster_namespace(REAL)
    secret_arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{unique_name('db')}-AbCdEf"
    file_arn = f"arn:aws:s3:::config/{unique_name('app')}.env"
    secret = secret_key_ref(secret_arn)
    config_map = environment_file_config_map(file_arn)
    kube.core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name=secret["name"]), string_data={secret["key"]: "s3cr3t"}),
    )
    kube.core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=config_map), data={"MODE": "blue"})
    )
    try:
        definition = register(
            ecs,
            container(
                "app",
                'echo "password=$DB_PASSWORD mode=$MODE"',
                secrets=[{"name": "DB_PASSWORD", "valueFrom": secret_arn}],
                environmentFiles=[{"value": file_arn, "type": "s3"}],
            ),
        )

        assert output_lines(kube, tasks.run(definition), "app", "password=s3cr3t mode=blue")
    finally:
        kube.core.delete_namespaced_secret(secret["name"], namespace)
        kube.core.delete_namespaced_config_map(config_map, namespace)


def test_a_host_port_mapping_is_reachable_on_the_node(ecs: Any, kube: KubeClients, tasks: Tasks) -> None:
    script = "mkdir -p /www && echo hello from the task > /www/index.html && exec httpd -f -p 8080 -h /www"
    definition = register(
        ecs, container("web", script, portMappings=[{"containerPort": 8080, "hostPort": 18080, "protocol": "tcp"}])
    )
    task_arn = tasks.run(definition)
    wait_running(ecs, task_arn)
    [binding] = by_name(describe(ecs, task_arn))["web"]["networkBindings"]
    assert (binding["containerPort"], binding["hostPort"]) == (8080, 18080)
    node = real_nodes(kube)[0]
    address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")

    def served() -> str | None:
        try:
            with urllib.request.urlopen(f"http://{address}:18080/", timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            return None

    assert eventually(served, timeout=20) == "hello from the task\n"


def test_volume_is_shared_between_two_containers(ecs: Any, kube: KubeClients, tasks: Tasks) -> None:
    definition = register(
        ecs,
        shared(container("writer", "echo written by writer > /shared/message", essential=False)),
        shared(
            container(
                "reader",
                "until [ -f /shared/message ]; do sleep 0.2; done; cat /shared/message; "
                "touch /shared/other 2>/dev/null || echo mounted read-only; " + IDLE,
            ),
            read_only=True,
        ),
        volumes=[SHARED],
    )

    lines = output_lines(kube, tasks.run(definition), "reader", "mounted read-only")
    assert lines == ["written by writer", "mounted read-only"]


# Images


def test_image_that_cannot_be_pulled_stops_the_task_as_failed_to_start(ecs: Any, tasks: Tasks) -> None:
    definition = register(ecs, container("web", image="nginx:1.27"))
    task_arn = tasks.run(definition)

    stopped = wait_stopped(ecs, task_arn, attempts=60)

    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"].startswith("CannotPullContainerError:"), stopped["stoppedReason"]
    web = by_name(stopped)["web"]
    assert web["lastStatus"] == "STOPPED" and "exitCode" not in web
    assert web.get("reason", "").startswith("CannotPullContainerError:"), web
    assert "startedAt" not in stopped
    running = ecs.list_tasks(cluster=REAL, desiredStatus="RUNNING")["taskArns"]
    assert task_arn not in running


# Services


def describe_service(ecs: Any, name: str) -> dict[str, Any]:
    [service] = ecs.describe_services(cluster=REAL, services=[name])["services"]
    return dict(service)


def test_circuit_breaker_rolls_back_a_deployment_whose_tasks_crash(
    ecs: Any, services: list[str], real: RealCluster
) -> None:
    family = unique_name("real-web")
    good = register(ecs, container("web", IDLE), family=family)
    crashing = register(ecs, container("web", "echo starting; exit 1"), family=family)
    name = unique_name("web")
    ecs.create_service(
        cluster=REAL,
        serviceName=name,
        taskDefinition=good,
        desiredCount=1,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    services.append(name)
    wait_stable(ecs, REAL, name)
    good_id = describe_service(ecs, name)["deployments"][0]["id"]
    [good_task] = ecs.list_tasks(cluster=REAL, serviceName=name)["taskArns"]
    on_real_node(ecs, real, good_task)

    crashing_id = ecs.update_service(cluster=REAL, service=name, taskDefinition=crashing)["service"]["deployments"][0][
        "id"
    ]

    failed: dict[str, Any] | None = None
    deadline = time.monotonic() + 60
    while True:
        service = describe_service(ecs, name)
        failed = failed or next(
            (d for d in service["deployments"] if d["id"] == crashing_id and d["rolloutState"] == "FAILED"), None
        )
        shown = [(d["id"], d["rolloutState"]) for d in service["deployments"]]
        if shown == [(good_id, "COMPLETED")] and service["runningCount"] == 1:
            break
        assert time.monotonic() < deadline, service["deployments"]
        time.sleep(0.5)
    assert failed is not None, "the crashing deployment was never shown FAILED"
    assert failed["taskDefinition"] == crashing and "circuit breaker" in failed["rolloutStateReason"]
    assert service["taskDefinition"] == good
    [running] = ecs.describe_tasks(cluster=REAL, tasks=ecs.list_tasks(cluster=REAL, serviceName=name)["taskArns"])[
        "tasks"
    ]
    assert (running["taskDefinitionArn"], running["lastStatus"]) == (good, "RUNNING")
    on_real_node(ecs, real, running["taskArn"])

    stopped = ecs.list_tasks(cluster=REAL, startedBy=crashing_id, desiredStatus="STOPPED")["taskArns"]
    described = ecs.describe_tasks(cluster=REAL, tasks=stopped[:100])["tasks"]
    crashed = [task for task in described if (task["stopCode"], task["stoppedReason"]) == ESSENTIAL_EXITED]
    assert len(crashed) >= failed["failedTasks"] >= 3, "the circuit breaker's threshold for one task is 3"
    assert {by_name(task)["web"]["exitCode"] for task in crashed} == {1}
    # The rollback itself may stop a crashing task that was about to start again.
    assert {task["stopCode"] for task in described} <= {ESSENTIAL_EXITED[0], "ServiceSchedulerInitiated"}
