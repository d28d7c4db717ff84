"""Task definitions through boto3 and the AWS CLI: one custom object per family revision."""

import datetime
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from shim.kube.client import KubeClients
from shim.translate.task_definitions import REMOVAL_GRACE_SECONDS
from tests.integration.conftest import (
    FAST_WAITER,
    ShimServer,
    all_at_once,
    ecs_client,
    ecs_error,
    ecs_wire,
    eventually,
    model_checked,
    run_aws,
    task_definitions_of,
    unique_name,
)

ARN_PREFIX = "arn:aws:ecs:us-east-1:123456789012:task-definition"
CONCURRENT_REGISTRATIONS = 20

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def container(name: str = "app", memory: int | None = 128, **extra: Any) -> dict[str, Any]:
    definition = {"name": name, "image": "public.ecr.aws/docker/library/nginx:latest", **extra}
    return definition if memory is None else {**definition, "memory": memory}


def register(ecs: Any, family: str, **extra: Any) -> dict[str, Any]:
    extra.setdefault("containerDefinitions", [container()])
    registered: dict[str, Any] = ecs.register_task_definition(family=family, **extra)["taskDefinition"]
    return registered


def all_pages(call: Any, key: str, page_size: int = 1, **params: Any) -> list[str]:
    """Every item of a paginated list, walking nextToken by hand."""
    items: list[str] = []
    token = None
    while True:
        page = call(maxResults=page_size, **params, **({"nextToken": token} if token else {}))
        assert len(page[key]) <= page_size
        items.extend(page[key])
        token = page.get("nextToken")
        if not token:
            return items


def arns(family: str, *revisions: int) -> list[str]:
    return [f"{ARN_PREFIX}/{family}:{revision}" for revision in revisions]


def test_register_fills_in_what_ecs_fills_in(ecs: Any) -> None:
    family = unique_name("defaults")
    before = datetime.datetime.now(datetime.UTC)

    registered = register(
        ecs,
        family,
        containerDefinitions=[
            container(portMappings=[{"containerPort": 80}], logConfiguration={"logDriver": "json-file"})
        ],
    )

    assert registered["taskDefinitionArn"] == f"{ARN_PREFIX}/{family}:1"
    assert (registered["family"], registered["revision"], registered["status"]) == (family, 1, "ACTIVE")
    assert "EC2" in registered["compatibilities"]
    [app] = registered["containerDefinitions"]
    assert (app["cpu"], app["essential"], app["memory"]) == (0, True, 128)
    assert app["portMappings"] == [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]
    assert (app["environment"], app["mountPoints"], app["volumesFrom"]) == ([], [], [])
    assert (registered["volumes"], registered["placementConstraints"]) == ([], [])
    assert {"name": "com.amazonaws.ecs.capability.logging-driver.json-file"} in registered["requiresAttributes"]
    assert (
        before - datetime.timedelta(seconds=5) <= registered["registeredAt"] <= before + datetime.timedelta(seconds=30)
    )
    assert registered["registeredBy"].startswith("arn:aws:iam::123456789012:")


def test_register_for_fargate_keeps_the_task_size(ecs: Any) -> None:
    family = unique_name("fargate")

    registered = register(
        ecs,
        family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="0.25 vCPU",
        memory="512",
        containerDefinitions=[container(memory=None, portMappings=[{"containerPort": 8080}])],
    )

    assert (registered["cpu"], registered["memory"], registered["networkMode"]) == ("256", "512", "awsvpc")
    assert registered["requiresCompatibilities"] == ["FARGATE"]
    assert set(registered["compatibilities"]) == {"EC2", "FARGATE"}
    assert registered["containerDefinitions"][0]["portMappings"][0]["hostPort"] == 8080
    assert {"name": "ecs.capability.task-eni"} in registered["requiresAttributes"]


FARGATE = {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512"}


def test_fargate_refuses_the_hosts_process_namespace(ecs: Any) -> None:
    family = unique_name("pidhost")

    error = ecs_error(
        ecs.register_task_definition, family=family, pidMode="host", containerDefinitions=[container()], **FARGATE
    )

    assert error["Code"] == "ClientException"
    assert error["Message"] == (
        "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'."
    )
    assert ecs_error(ecs.describe_task_definition, taskDefinition=family)["Code"] == "ClientException"


def test_fargate_shares_the_tasks_process_namespace(ecs: Any) -> None:
    registered = register(ecs, unique_name("pidtask"), pidMode="task", **FARGATE)

    assert (registered["pidMode"], registered["compatibilities"]) == ("task", ["EC2", "FARGATE"])


def test_families_differing_only_in_case_or_separators_are_distinct(ecs: Any, kube: KubeClients) -> None:
    suffix = uuid.uuid4().hex[:10]
    families = [f"Web_App{suffix}", f"web_app{suffix}", f"web-app{suffix}", "W" * (255 - len(suffix)) + suffix]
    for family in families:
        register(ecs, family)
    register(ecs, families[0])

    for family, latest in zip(families, (2, 1, 1, 1), strict=True):
        described = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        assert (described["family"], described["revision"]) == (family, latest)
        assert len(task_definitions_of(kube, family)) == latest
    assert ecs.list_task_definition_families(familyPrefix=families[0])["families"] == [families[0]]


def test_describe_by_family_revision_and_arn(ecs: Any) -> None:
    family = unique_name("describe")
    first = register(ecs, family, tags=[{"key": "tier", "value": "web"}])
    second = register(ecs, family, containerDefinitions=[container(image="busybox")])

    latest = ecs.describe_task_definition(taskDefinition=family)
    assert latest["taskDefinition"] == second
    assert latest.get("tags", []) == []
    assert ecs.describe_task_definition(taskDefinition=f"{family}:1")["taskDefinition"] == first
    by_arn = ecs.describe_task_definition(taskDefinition=first["taskDefinitionArn"], include=["TAGS"])
    assert by_arn["taskDefinition"] == first
    assert by_arn["tags"] == [{"key": "tier", "value": "web"}]


def test_describe_of_what_does_not_exist_is_a_client_error(ecs: Any) -> None:
    family = unique_name("absent")
    for reference in (family, f"{family}:1", f"{ARN_PREFIX}/{family}:3"):
        error = ecs_error(ecs.describe_task_definition, taskDefinition=reference)
        assert (error["Code"], error["Message"]) == ("ClientException", "Unable to describe task definition.")
    register(ecs, family)
    error = ecs_error(ecs.describe_task_definition, taskDefinition=f"{family}:latest")
    assert error["Code"] == "InvalidParameterException"
    assert "latest" in error["Message"]


def test_list_task_definitions_by_exact_family_status_and_order(ecs: Any) -> None:
    family = unique_name("listed")
    for _ in range(3):
        register(ecs, family)
    register(ecs, f"{family}-other")
    ecs.deregister_task_definition(taskDefinition=f"{family}:2")

    listed = ecs.list_task_definitions(familyPrefix=family)
    assert listed["taskDefinitionArns"] == arns(family, 1, 3)
    assert ecs.list_task_definitions(familyPrefix=family, sort="DESC")["taskDefinitionArns"] == arns(family, 3, 1)
    assert ecs.list_task_definitions(familyPrefix=family, status="INACTIVE")["taskDefinitionArns"] == arns(family, 2)
    assert all_pages(ecs.list_task_definitions, "taskDefinitionArns", familyPrefix=family) == arns(family, 1, 3)
    everything = all_pages(ecs.list_task_definitions, "taskDefinitionArns", page_size=50)
    assert len(everything) == len(set(everything))
    assert {*arns(family, 1, 3), *arns(f"{family}-other", 1)} <= set(everything)
    assert not set(arns(family, 2)) & set(everything)


@pytest.mark.parametrize(
    ("sort", "first_page", "rest"),
    [("ASC", list(range(1, 11)), [11, 12]), ("DESC", [12, 11], list(range(10, 0, -1)))],
)
def test_listing_resumes_right_after_a_revision_deregistered_between_pages(
    ecs: Any, sort: str, first_page: list[int], rest: list[int]
) -> None:
    family = unique_name("moving")
    for _ in range(12):
        register(ecs, family)
    page = ecs.list_task_definitions(familyPrefix=family, sort=sort, maxResults=len(first_page))
    assert page["taskDefinitionArns"] == arns(family, *first_page)

    ecs.deregister_task_definition(taskDefinition=page["taskDefinitionArns"][-1])

    following = ecs.list_task_definitions(familyPrefix=family, sort=sort, nextToken=page["nextToken"])
    assert following["taskDefinitionArns"] == arns(family, *rest)


def test_list_task_definition_families_by_prefix_and_status(ecs: Any) -> None:
    prefix = unique_name("fam")
    active, active_longer, retired = f"{prefix}-a", f"{prefix}-ab", f"{prefix}-retired"
    for family in (active, active_longer, retired):
        register(ecs, family)
    ecs.deregister_task_definition(taskDefinition=f"{retired}:1")
    register(ecs, f"other-{prefix}")

    def families(**params: Any) -> list[str]:
        return list(ecs.list_task_definition_families(familyPrefix=prefix, **params)["families"])

    assert families() == [active, active_longer, retired]
    assert families(status="ACTIVE") == [active, active_longer]
    assert families(status="INACTIVE") == [retired]
    assert families(status="ALL") == [active, active_longer, retired]
    assert ecs.list_task_definition_families(familyPrefix=active)["families"] == [active, active_longer]
    paged = all_pages(ecs.list_task_definition_families, "families", familyPrefix=prefix, status="ALL")
    assert paged == [active, active_longer, retired]


def test_list_task_definition_families_lists_families_without_an_active_revision_by_default(ecs: Any) -> None:
    prefix = unique_name("famdefault")
    active, deregistered, deleted = f"{prefix}-active", f"{prefix}-deregistered", f"{prefix}-deleted"
    for family in (active, deregistered, deleted):
        register(ecs, family)
        if family != active:
            ecs.deregister_task_definition(taskDefinition=f"{family}:1")
    ecs.delete_task_definitions(taskDefinitions=[f"{deleted}:1"])

    listed = ecs.list_task_definition_families(familyPrefix=prefix)["families"]

    assert listed == [active, deleted, deregistered]
    assert ecs.list_task_definition_families(familyPrefix=prefix, status="ALL")["families"] == listed
    assert ecs.list_task_definition_families(familyPrefix=prefix, status="ACTIVE")["families"] == [active]
    assert ecs.list_task_definition_families(familyPrefix=prefix, status="INACTIVE")["families"] == [
        deleted,
        deregistered,
    ]


def test_deregistered_revision_stays_describable_and_family_means_latest_active(ecs: Any) -> None:
    family = unique_name("dereg")
    for _ in range(3):
        register(ecs, family)

    deregistered = ecs.deregister_task_definition(taskDefinition=f"{ARN_PREFIX}/{family}:3")["taskDefinition"]

    assert deregistered["status"] == "INACTIVE"
    assert isinstance(deregistered["deregisteredAt"], datetime.datetime)
    assert ecs.describe_task_definition(taskDefinition=f"{family}:3")["taskDefinition"]["status"] == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"] == 2
    error = ecs_error(ecs.deregister_task_definition, taskDefinition=family)
    assert error["Code"] == "ClientException"
    assert "revision" in error["Message"]


def test_delete_marks_inactive_revisions_and_refuses_active_ones(ecs: Any) -> None:
    family = unique_name("delete")
    register(ecs, family)
    register(ecs, family)
    ecs.deregister_task_definition(taskDefinition=f"{family}:1")
    missing = f"{unique_name('never')}:1"

    result = ecs.delete_task_definitions(taskDefinitions=[f"{family}:1", f"{family}:2", missing])

    [deleted] = result["taskDefinitions"]
    assert (deleted["revision"], deleted["status"]) == (1, "DELETE_IN_PROGRESS")
    assert isinstance(deleted["deleteRequestedAt"], datetime.datetime)
    reasons = {failure["arn"]: failure["reason"] for failure in result["failures"]}
    assert "ACTIVE" in reasons[f"{ARN_PREFIX}/{family}:2"]
    assert len(reasons) == 2
    assert ecs.describe_task_definition(taskDefinition=f"{family}:1")["taskDefinition"]["status"] == (
        "DELETE_IN_PROGRESS"
    )
    listed = ecs.list_task_definitions(familyPrefix=family, status="DELETE_IN_PROGRESS")
    assert listed["taskDefinitionArns"] == arns(family, 1)


def test_revision_numbers_are_never_reused(ecs: Any) -> None:
    family = unique_name("norecycle")
    register(ecs, family)
    register(ecs, family)
    ecs.deregister_task_definition(taskDefinition=f"{family}:2")
    assert register(ecs, family)["revision"] == 3
    ecs.deregister_task_definition(taskDefinition=f"{family}:3")
    ecs.delete_task_definitions(taskDefinitions=[f"{family}:2", f"{family}:3"])
    assert register(ecs, family)["revision"] == 4


def test_deleted_revisions_nothing_uses_go_for_good_and_their_numbers_stay_taken(
    ecs: Any, kube: KubeClients, ecs_cluster: str
) -> None:
    used, alone = unique_name("removed"), unique_name("removedalone")
    for _ in range(3):
        register(ecs, used)
    register(ecs, alone)
    [task] = ecs.run_task(cluster=ecs_cluster, taskDefinition=f"{used}:1")["tasks"]
    ecs.get_waiter("tasks_running").wait(cluster=ecs_cluster, tasks=[task["taskArn"]], WaiterConfig=FAST_WAITER)
    doomed = [*(f"{used}:{revision}" for revision in (1, 2, 3)), f"{alone}:1"]
    for reference in doomed:
        ecs.deregister_task_definition(taskDefinition=reference)

    deleted = ecs.delete_task_definitions(taskDefinitions=doomed)

    assert [shown["status"] for shown in deleted["taskDefinitions"]] == ["DELETE_IN_PROGRESS"] * 4
    error = ecs_error(ecs.deregister_task_definition, taskDefinition=f"{used}:2")
    assert (error["Code"], error["Message"]) == (
        "ClientException",
        "The specified task definition is in the process of being deleted.",
    )

    def unused_ones_removed() -> bool:
        listed = ecs.list_task_definitions(familyPrefix=used, status="DELETE_IN_PROGRESS")["taskDefinitionArns"]
        return listed == arns(used, 1) and ecs.list_task_definition_families(familyPrefix=alone)["families"] == []

    eventually(unused_ones_removed, timeout=REMOVAL_GRACE_SECONDS + 40, interval=1)
    for reference in (f"{used}:2", f"{used}:3", f"{alone}:1", alone):
        error = ecs_error(ecs.describe_task_definition, taskDefinition=reference)
        assert (error["Code"], error["Message"]) == ("ClientException", "Unable to describe task definition.")
    in_use = ecs.describe_task_definition(taskDefinition=f"{used}:1")["taskDefinition"]
    assert in_use["status"] == "DELETE_IN_PROGRESS"
    assert ecs.describe_tasks(cluster=ecs_cluster, tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "RUNNING"
    assert (register(ecs, used)["revision"], register(ecs, alone)["revision"]) == (4, 2)
    assert ecs.list_task_definition_families(familyPrefix=alone)["families"] == [alone]

    def removed_definitions_dropped() -> bool:
        """Only revisions ECS still knows keep their definition; the rest hold their number."""
        stored = [
            obj["spec"]["taskDefinition"] for family in (used, alone) for obj in task_definitions_of(kube, family)
        ]
        kept = sorted((d["family"] == used, d["revision"]) for d in stored if "containerDefinitions" in d)
        return kept == [(False, 2), (True, 1), (True, 4)]

    eventually(removed_definitions_dropped, timeout=40, interval=1)


def register_all_at_once(clients: list[Any], family: str) -> list[int]:
    """One registration per client, all released together; the revisions they were given."""

    def registration(index: int, ecs: Any) -> Callable[[], int]:
        environment = [{"name": "I", "value": str(index)}]
        return lambda: int(register(ecs, family, containerDefinitions=[container(environment=environment)])["revision"])

    return all_at_once([registration(index, ecs) for index, ecs in enumerate(clients)])


def check_revisions(ecs: Any, kube: KubeClients, family: str, revisions: list[int]) -> None:
    expected = list(range(1, CONCURRENT_REGISTRATIONS + 1))
    assert sorted(revisions) == expected
    stored = task_definitions_of(kube, family)
    assert sorted(obj["spec"]["taskDefinition"]["revision"] for obj in stored) == expected
    environments = {
        obj["spec"]["taskDefinition"]["containerDefinitions"][0]["environment"][0]["value"] for obj in stored
    }
    assert environments == {str(index) for index in range(CONCURRENT_REGISTRATIONS)}

    def all_listed() -> bool:
        listed = all_pages(ecs.list_task_definitions, "taskDefinitionArns", familyPrefix=family)
        return listed == arns(family, *expected)

    eventually(all_listed, timeout=10)


def test_concurrent_registrations_get_revisions_one_to_twenty(shim: ShimServer, ecs: Any, kube: KubeClients) -> None:
    family = unique_name("race")
    clients = [model_checked(ecs_client(shim.url)) for _ in range(CONCURRENT_REGISTRATIONS)]

    revisions = register_all_at_once(clients, family)

    check_revisions(ecs, kube, family, revisions)


def test_concurrent_registrations_through_two_servers(
    shim: ShimServer, second_shim: ShimServer, ecs: Any, kube: KubeClients
) -> None:
    family = unique_name("race2")
    half = CONCURRENT_REGISTRATIONS // 2
    clients = [model_checked(ecs_client(server.url)) for server in (shim, second_shim) for _ in range(half)]

    revisions = register_all_at_once(clients, family)

    check_revisions(ecs, kube, family, revisions)
    second = model_checked(ecs_client(second_shim.url))

    def latest_seen_by_second() -> bool:
        return bool(
            second.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"]
            == CONCURRENT_REGISTRATIONS
        )

    eventually(latest_seen_by_second, timeout=10)


def test_wire_responses_match_the_model(shim: ShimServer) -> None:
    http = requests.Session()

    def wire(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return ecs_wire(shim.url, operation, params, http=http)

    family = unique_name("wire")
    definition = {
        "family": family,
        "containerDefinitions": [container(portMappings=[{"containerPort": 80}])],
        "tags": [{"key": "k", "value": "v"}],
    }
    registered = wire("RegisterTaskDefinition", definition)
    assert isinstance(registered["taskDefinition"]["registeredAt"], int | float)
    wire("RegisterTaskDefinition", definition)
    described = wire("DescribeTaskDefinition", {"taskDefinition": family, "include": ["TAGS"]})
    assert described["tags"] == [{"key": "k", "value": "v"}]
    assert wire("ListTaskDefinitions", {"familyPrefix": family, "maxResults": 1})["nextToken"]
    assert wire("ListTaskDefinitionFamilies", {"familyPrefix": family})["families"] == [family]
    wire("DeregisterTaskDefinition", {"taskDefinition": f"{family}:1"})
    deleted = wire("DeleteTaskDefinitions", {"taskDefinitions": [f"{family}:1", f"{family}:2"]})
    assert len(deleted["taskDefinitions"]) == len(deleted["failures"]) == 1


def test_aws_cli_registers_describes_and_lists(shim: ShimServer, tmp_path: Path) -> None:
    family = unique_name("cli")
    definition = tmp_path / "task-definition.json"
    definition.write_text(
        json.dumps(
            {
                "family": family,
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "cpu": "512",
                "memory": "1024",
                "containerDefinitions": [{"name": "web", "image": "nginx", "portMappings": [{"containerPort": 80}]}],
            }
        )
    )

    registered = run_aws(shim.url, "register-task-definition", "--cli-input-json", f"file://{definition}")
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["taskDefinition"]["revision"] == 1

    described = run_aws(shim.url, "describe-task-definition", "--task-definition", f"{family}:1")
    assert described.returncode == 0, described.stderr
    shown = json.loads(described.stdout)["taskDefinition"]
    assert (shown["family"], shown["cpu"], shown["memory"], shown["status"]) == (family, "512", "1024", "ACTIVE")

    listed = run_aws(shim.url, "list-task-definitions", "--family-prefix", family)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["taskDefinitionArns"] == arns(family, 1)
