"""The cluster every other integration test stands on: a real API server, controller manager
and scheduler, and nodes whose pods run and exit as the simulated-container convention says."""

from kubernetes import client

from shim.kube.client import KubeClients
from tests.integration.conftest import eventually

ZONES = {"us-east-1a", "us-east-1b", "us-east-1c"}


def container(name: str, env: dict[str, str] | None = None) -> client.V1Container:
    return client.V1Container(
        name=name,
        image="public.ecr.aws/docker/library/busybox:latest",
        env=[client.V1EnvVar(name=key, value=value) for key, value in (env or {}).items()],
        resources=client.V1ResourceRequirements(requests={"cpu": "100m", "memory": "64Mi"}),
    )


def ready_nodes(kube: KubeClients) -> list[client.V1Node]:
    return [
        node
        for node in kube.core.list_node().items
        if any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    ]


def test_nodes_span_three_zones_and_are_ready(kube: KubeClients) -> None:
    nodes = ready_nodes(kube)
    zones = {node.metadata.labels.get("topology.kubernetes.io/zone") for node in nodes}
    assert zones >= ZONES
    assert all("node.kubernetes.io/instance-type" in node.metadata.labels for node in nodes)


def test_deployment_pods_are_scheduled_onto_nodes_and_run(kube: KubeClients, namespace: str) -> None:
    labels = {"app": "web"}
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=3,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container("web")]),
            ),
        ),
    )
    kube.apps.create_namespaced_deployment(namespace, deployment)
    node_names = {node.metadata.name for node in ready_nodes(kube)}

    def running_pods() -> list[client.V1Pod] | None:
        pods = kube.core.list_namespaced_pod(namespace, label_selector="app=web").items
        running = [pod for pod in pods if pod.status.phase == "Running"]
        return running if len(running) == 3 else None

    pods = eventually(running_pods)
    assert {pod.spec.node_name for pod in pods} <= node_names
    assert all(pod.status.container_statuses[0].state.running for pod in pods)
    available = eventually(
        lambda: kube.apps.read_namespaced_deployment("web", namespace).status.available_replicas == 3
    )
    assert available


def test_simulated_container_exits_with_its_code(kube: KubeClients, namespace: str) -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="exits"),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[container("main", {"SIMULATED_RUN_SECONDS": "1", "SIMULATED_EXIT_CODE": "3"})],
        ),
    )
    kube.core.create_namespaced_pod(namespace, pod)

    def finished() -> client.V1Pod | None:
        current = kube.core.read_namespaced_pod("exits", namespace)
        return current if current.status.phase in ("Succeeded", "Failed") else None

    done = eventually(finished)
    assert done.status.phase == "Failed"
    terminated = done.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 3
    assert (terminated.finished_at - terminated.started_at).total_seconds() >= 1


def test_container_without_run_seconds_keeps_running(kube: KubeClients, namespace: str) -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="mixed"),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[container("quick", {"SIMULATED_RUN_SECONDS": "1"}), container("server")],
        ),
    )
    kube.core.create_namespaced_pod(namespace, pod)

    def quick_finished() -> dict[str, client.V1ContainerState] | None:
        current = kube.core.read_namespaced_pod("mixed", namespace)
        states = {status.name: status.state for status in current.status.container_statuses or []}
        quick = states.get("quick")
        return states if quick is not None and quick.terminated is not None else None

    states = eventually(quick_finished)
    assert states["quick"].terminated.exit_code == 0
    assert states["server"].running is not None
    assert kube.core.read_namespaced_pod("mixed", namespace).status.phase == "Running"


def sidecar(name: str, env: dict[str, str] | None = None) -> client.V1Container:
    restartable = container(name, env)
    restartable.restart_policy = "Always"
    return restartable


def test_init_containers_run_one_after_another_for_their_time(kube: KubeClients, namespace: str) -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="staged"),
        spec=client.V1PodSpec(
            restart_policy="Never",
            init_containers=[
                container("migrate", {"SIMULATED_RUN_SECONDS": "2"}),
                sidecar("proxy"),
                container("seed"),
            ],
            containers=[container("main")],
        ),
    )
    kube.core.create_namespaced_pod(namespace, pod)

    def running() -> client.V1Pod | None:
        current = kube.core.read_namespaced_pod("staged", namespace)
        return current if current.status.phase == "Running" else None

    status = eventually(running).status
    init = {s.name: s.state for s in status.init_container_statuses}
    migrated = init["migrate"].terminated
    assert migrated.exit_code == 0
    assert 2 <= (migrated.finished_at - migrated.started_at).total_seconds() <= 3
    assert init["proxy"].running.started_at >= migrated.finished_at
    assert init["seed"].terminated.started_at >= init["proxy"].running.started_at
    assert status.container_statuses[0].state.running.started_at >= init["seed"].terminated.finished_at


def test_sidecar_exits_after_its_time_is_restarted_and_stopped_with_the_pod(kube: KubeClients, namespace: str) -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="sidecars"),
        spec=client.V1PodSpec(
            restart_policy="Never",
            init_containers=[
                sidecar("flaky", {"SIMULATED_RUN_SECONDS": "1", "SIMULATED_EXIT_CODE": "3"}),
                sidecar("steady"),
            ],
            containers=[container("main", {"SIMULATED_RUN_SECONDS": "4"})],
        ),
    )
    kube.core.create_namespaced_pod(namespace, pod)

    def flaky_exited() -> client.V1ContainerStatus | None:
        statuses = kube.core.read_namespaced_pod("sidecars", namespace).status.init_container_statuses or []
        flaky = next((s for s in statuses if s.name == "flaky"), None)
        return flaky if flaky is not None and flaky.restart_count > 0 else None

    flaky = eventually(flaky_exited)
    assert flaky.last_state.terminated.exit_code == 3
    assert kube.core.read_namespaced_pod("sidecars", namespace).status.phase == "Running"

    def finished() -> client.V1Pod | None:
        current = kube.core.read_namespaced_pod("sidecars", namespace)
        return current if current.status.phase in ("Succeeded", "Failed") else None

    done = eventually(finished).status
    assert done.phase == "Succeeded"
    steady = next(s for s in done.init_container_statuses if s.name == "steady")
    assert steady.state.terminated.exit_code == 0
