"""Idempotency under concurrency: the same request made many times at once, over two servers
(two replicas behind a load balancer, each with several workers), lands once."""

from collections.abc import Callable
from functools import partial
from typing import Any

import botocore.exceptions

from shim.kube.client import KubeClients
from tests.integration.conftest import (
    ShimServer,
    all_at_once,
    ecs_client,
    model_checked,
    remove_services,
    task_pods,
    unique_name,
)

REGISTRATIONS_EACH = 5
"""Registrations each of the 40 clients makes in a row: the servers keep claiming revisions
while their caches lag behind."""


def clients_of(*servers: ShimServer, each: int) -> list[Any]:
    """`each` model-checked clients per server, alternating between servers."""
    return [model_checked(ecs_client(server.url)) for _ in range(each) for server in servers]


def register(ecs: Any, family: str) -> str:
    definition = {"name": "app", "image": "busybox", "memory": 8}
    arn: str = ecs.register_task_definition(family=family, containerDefinitions=[definition])["taskDefinition"][
        "taskDefinitionArn"
    ]
    return arn


def test_simultaneous_run_tasks_with_one_client_token_start_one_set_of_tasks(
    ecs: Any, ecs_cluster: str, shim: ShimServer, second_shim: ShimServer, kube: KubeClients
) -> None:
    definition = register(ecs, unique_name("token"))
    token = unique_name("token")
    run: list[Callable[[], Any]] = [
        partial(client.run_task, cluster=ecs_cluster, taskDefinition=definition, count=2, clientToken=token)
        for client in clients_of(shim, second_shim, each=8)
    ]

    answers = all_at_once(run)

    task_sets = {frozenset(task["taskArn"] for task in answer["tasks"]) for answer in answers}
    assert all(answer["failures"] == [] for answer in answers)
    assert len(task_sets) == 1
    [task_set] = task_sets
    assert len(task_set) == 2
    assert len(task_pods(kube, ecs_cluster)) == 2


def test_simultaneous_registrations_of_one_family_all_get_a_revision(shim: ShimServer, second_shim: ShimServer) -> None:
    family = unique_name("contended")
    clients = clients_of(shim, second_shim, each=20)

    def register_several(client: Any) -> list[str]:
        return [register(client, family) for _ in range(REGISTRATIONS_EACH)]

    arns = [
        arn
        for registered in all_at_once([partial(register_several, client) for client in clients])
        for arn in registered
    ]

    revisions = sorted(int(arn.rsplit(":", 1)[-1]) for arn in arns)
    assert revisions == list(range(1, len(clients) * REGISTRATIONS_EACH + 1))


def test_simultaneous_create_services_of_one_name_create_one(
    ecs: Any, ecs_cluster: str, shim: ShimServer, second_shim: ShimServer, kube: KubeClients
) -> None:
    definition = register(ecs, unique_name("service"))
    name = unique_name("svc")
    clients = clients_of(shim, second_shim, each=4)

    def create(client: Any) -> str:
        try:
            client.create_service(cluster=ecs_cluster, serviceName=name, taskDefinition=definition, desiredCount=0)
        except botocore.exceptions.ClientError as error:
            return f"{error.response['Error']['Code']}: {error.response['Error']['Message']}"
        return "created"

    try:
        outcomes = all_at_once([partial(create, client) for client in clients])
        assert outcomes.count("created") == 1
        refusal = "InvalidParameterException: Creation of service was not idempotent."
        assert sorted(set(outcomes) - {"created"}) == [refusal]
    finally:
        remove_services(ecs, kube, ecs_cluster)
