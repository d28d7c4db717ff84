"""Task scale-in protection through boto3 and the AWS CLI: UpdateTaskProtection and
GetTaskProtection answer as ECS does, and a protected task is the one its service keeps when it
scales in (the ReplicaSet controller removes pods by their deletion cost)."""

import json
import time
from typing import Any

import pytest

from tests.integration.conftest import ShimServer, eventually, run_aws, unique_name
from tests.integration.test_services import describe, register, wait_stable

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def service_tasks(ecs: Any, cluster: str, service: str) -> list[str]:
    arns: list[str] = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    return arns


def test_a_protected_task_is_the_one_its_service_keeps_when_it_scales_in(ecs: Any, cluster: str) -> None:
    ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=register(ecs, unique_name("web")), desiredCount=3
    )
    wait_stable(ecs, cluster, "web")
    described = ecs.describe_tasks(cluster=cluster, tasks=service_tasks(ecs, cluster, "web"))["tasks"]
    # A ReplicaSet scales in its newest pods first: unprotected, this one would go.
    kept = max(described, key=lambda task: (task["startedAt"], task["createdAt"]))["taskArn"]
    before = time.time()

    answer = ecs.update_task_protection(cluster=cluster, tasks=[kept], protectionEnabled=True, expiresInMinutes=60)

    assert answer["failures"] == []
    [protected] = answer["protectedTasks"]
    assert (protected["taskArn"], protected["protectionEnabled"]) == (kept, True)
    expires = protected["expirationDate"].timestamp()
    assert before + 3600 - 5 <= expires <= time.time() + 3600 + 5
    assert ecs.get_task_protection(cluster=cluster)["protectedTasks"] == [protected]

    ecs.update_service(cluster=cluster, service="web", desiredCount=1)

    assert eventually(lambda: service_tasks(ecs, cluster, "web") == [kept], timeout=60)


def test_protection_can_be_lifted_and_is_refused_for_standalone_and_unknown_tasks(
    ecs: Any, shim: ShimServer, cluster: str
) -> None:
    family = unique_name("web")
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=register(ecs, family), desiredCount=1)
    wait_stable(ecs, cluster, "web")
    [service_task] = service_tasks(ecs, cluster, "web")
    [standalone] = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"]
    unknown = service_task.rsplit("/", 1)[0] + "/" + "0" * 32
    ecs.update_task_protection(cluster=cluster, tasks=[service_task], protectionEnabled=True)

    lifted = run_aws(
        shim.url,
        "update-task-protection",
        "--cluster",
        cluster,
        "--tasks",
        service_task,
        standalone["taskArn"],
        unknown,
        "--no-protection-enabled",
    )

    assert lifted.returncode == 0, lifted.stderr
    answer = json.loads(lifted.stdout)
    assert answer["protectedTasks"] == [{"taskArn": service_task, "protectionEnabled": False}]
    assert [(f["arn"], f["reason"]) for f in answer["failures"]] == [
        (standalone["taskArn"], "TASK_NOT_VALID"),
        (unknown, "MISSING"),
    ]
    assert ecs.get_task_protection(cluster=cluster)["protectedTasks"] == []
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="between 1 and 2880"):
        ecs.update_task_protection(cluster=cluster, tasks=[service_task], protectionEnabled=True, expiresInMinutes=0)
    ecs.stop_task(cluster=cluster, task=standalone["taskArn"])


def revisions_running(ecs: Any, cluster: str) -> dict[str, str]:
    """Task ARN -> task definition of the service's running tasks."""
    arns = service_tasks(ecs, cluster, "web")
    described = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    return {task["taskArn"]: task["taskDefinitionArn"] for task in described if task["lastStatus"] == "RUNNING"}


def test_a_rolling_deployment_waits_for_a_protected_task_until_its_protection_ends(ecs: Any, cluster: str) -> None:
    family = unique_name("web")
    first, second = register(ecs, family), register(ecs, family, image="busybox:1.37")
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=first, desiredCount=2)
    wait_stable(ecs, cluster, "web")
    protected, unprotected = service_tasks(ecs, cluster, "web")
    ecs.update_task_protection(cluster=cluster, tasks=[protected], protectionEnabled=True, expiresInMinutes=60)

    ecs.update_service(cluster=cluster, service="web", taskDefinition=second)

    def replaced_but_the_protected_one() -> bool:
        running = revisions_running(ecs, cluster)
        return unprotected not in running and list(running.values()).count(second) == 2

    eventually(replaced_but_the_protected_one, timeout=60)
    time.sleep(5)
    assert revisions_running(ecs, cluster).get(protected) == first, "the protected task keeps running"
    [primary, active] = describe(ecs, cluster, "web")["deployments"]
    assert (primary["rolloutState"], active["taskDefinition"], active["runningCount"]) == ("IN_PROGRESS", first, 1)

    ecs.update_task_protection(cluster=cluster, tasks=[protected], protectionEnabled=False)
    eventually(lambda: protected not in revisions_running(ecs, cluster), timeout=30)
    wait_stable(ecs, cluster, "web")
    assert set(revisions_running(ecs, cluster).values()) == {second}


def test_a_scale_in_leaves_every_protected_task_until_its_protection_ends(ecs: Any, cluster: str) -> None:
    ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=register(ecs, unique_name("web")), desiredCount=3
    )
    wait_stable(ecs, cluster, "web")
    protected = service_tasks(ecs, cluster, "web")[:2]
    ecs.update_task_protection(cluster=cluster, tasks=protected, protectionEnabled=True, expiresInMinutes=60)

    ecs.update_service(cluster=cluster, service="web", desiredCount=1)
    eventually(lambda: sorted(service_tasks(ecs, cluster, "web")) == sorted(protected), timeout=60)
    time.sleep(5)
    assert sorted(service_tasks(ecs, cluster, "web")) == sorted(protected), "ECS waits for the protection to end"

    ecs.update_task_protection(cluster=cluster, tasks=protected[:1], protectionEnabled=False)
    eventually(lambda: service_tasks(ecs, cluster, "web") == protected[1:], timeout=30)
