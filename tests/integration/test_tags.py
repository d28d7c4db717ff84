"""Tags on clusters, task definitions, services and tasks: TagResource, UntagResource,
ListTagsForResource."""

from functools import partial
from typing import Any

import pytest
import requests

from shim.kube.client import KubeClients
from tests.integration.conftest import (
    ShimServer,
    all_at_once,
    ecs_client,
    ecs_error,
    ecs_wire,
    eventually,
    model_checked,
    task_definitions_of,
    unique_name,
)

ARN_PREFIX = "arn:aws:ecs:us-east-1:123456789012"

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def tags_of(ecs: Any, arn: str) -> list[dict[str, str]]:
    return list(ecs.list_tags_for_resource(resourceArn=arn)["tags"])


def new_cluster(ecs: Any, **params: Any) -> str:
    arn: str = ecs.create_cluster(clusterName=unique_name("tags"), **params)["cluster"]["clusterArn"]
    return arn


def new_task_definition(ecs: Any, family: str, **params: Any) -> str:
    containers = [{"name": "app", "image": "busybox", "memory": 64}]
    registered = ecs.register_task_definition(family=family, containerDefinitions=containers, **params)
    arn: str = registered["taskDefinition"]["taskDefinitionArn"]
    return arn


def test_cluster_tags_are_added_replaced_and_removed(ecs: Any) -> None:
    arn = new_cluster(ecs, tags=[{"key": "team", "value": "a"}])

    ecs.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "b"}, {"key": "cost-center", "value": "42"}])
    assert tags_of(ecs, arn) == [{"key": "team", "value": "b"}, {"key": "cost-center", "value": "42"}]

    ecs.untag_resource(resourceArn=arn, tagKeys=["team", "never-set"])
    assert tags_of(ecs, arn) == [{"key": "cost-center", "value": "42"}]
    [cluster] = ecs.describe_clusters(clusters=[arn], include=["TAGS"])["clusters"]
    assert cluster["tags"] == [{"key": "cost-center", "value": "42"}]


def test_task_definition_tags_belong_to_one_revision(ecs: Any, kube: KubeClients) -> None:
    family = unique_name("tagged")
    first = new_task_definition(ecs, family, tags=[{"key": "release", "value": "1"}])
    second = new_task_definition(ecs, family)

    ecs.tag_resource(resourceArn=second, tags=[{"key": "release", "value": "2"}])
    ecs.untag_resource(resourceArn=first, tagKeys=["release"])

    assert tags_of(ecs, first) == []
    assert tags_of(ecs, second) == [{"key": "release", "value": "2"}]
    described = ecs.describe_task_definition(taskDefinition=f"{family}:2", include=["TAGS"])
    assert described["tags"] == [{"key": "release", "value": "2"}]
    stored = {
        obj["spec"]["taskDefinition"]["revision"]: obj["spec"]["tags"] for obj in task_definitions_of(kube, family)
    }
    assert stored == {1: [], 2: [{"key": "release", "value": "2"}]}


def test_tags_added_at_once_through_two_servers_are_all_kept(
    shim: ShimServer, second_shim: ShimServer, ecs: Any
) -> None:
    cluster = new_cluster(ecs)
    definition = new_task_definition(ecs, unique_name("tagged"))
    service = ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=0)
    resources = (cluster, definition, service["service"]["serviceArn"])
    clients = [model_checked(ecs_client(server.url)) for server in (shim, second_shim) for _ in range(5)]
    expected = [{"key": f"writer-{index}", "value": str(index)} for index in range(len(clients))]

    all_at_once(
        [
            partial(client.tag_resource, resourceArn=arn, tags=[tag])
            for arn in resources
            for client, tag in zip(clients, expected, strict=True)
        ]
    )

    def all_kept(arn: str) -> bool:
        return sorted(tags_of(ecs, arn), key=lambda tag: int(tag["value"])) == expected

    for arn in resources:
        eventually(partial(all_kept, arn), timeout=10)


def test_tags_of_a_deregistered_revision_can_still_be_read(ecs: Any) -> None:
    family = unique_name("retired")
    arn = new_task_definition(ecs, family, tags=[{"key": "k", "value": "v"}])
    ecs.deregister_task_definition(taskDefinition=arn)
    assert tags_of(ecs, arn) == [{"key": "k", "value": "v"}]


def test_reserved_duplicate_and_too_many_tags_are_refused_and_nothing_changes(ecs: Any) -> None:
    arn = new_cluster(ecs, tags=[{"key": "keep", "value": "me"}])
    for tags in (
        [{"key": "aws:created-by", "value": "me"}],
        [{"key": f"k{index}", "value": ""} for index in range(50)],
    ):
        error = ecs_error(ecs.tag_resource, resourceArn=arn, tags=tags)
        assert error["Code"] == "InvalidParameterException"
    assert tags_of(ecs, arn) == [{"key": "keep", "value": "me"}]
    family = unique_name("dupes")
    error = ecs_error(
        ecs.register_task_definition,
        family=family,
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}],
        tags=[{"key": "same", "value": "1"}, {"key": "same", "value": "2"}],
    )
    assert error["Code"] == "InvalidParameterException"
    assert "unique" in error["Message"]


def test_tagging_what_does_not_exist(ecs: Any) -> None:
    missing_cluster = f"{ARN_PREFIX}:cluster/{unique_name('absent')}"
    assert ecs_error(ecs.list_tags_for_resource, resourceArn=missing_cluster)["Code"] == "ClusterNotFoundException"
    assert ecs_error(ecs.tag_resource, resourceArn=missing_cluster, tags=[{"key": "k", "value": "v"}])["Code"] == (
        "ClusterNotFoundException"
    )
    missing_definition = f"{ARN_PREFIX}:task-definition/{unique_name('absent')}:1"
    assert ecs_error(ecs.list_tags_for_resource, resourceArn=missing_definition)["Code"] == "ClientException"
    for not_an_arn in ("just-a-name", "arn:aws:s3:::bucket"):
        error = ecs_error(ecs.list_tags_for_resource, resourceArn=not_an_arn)
        assert error["Code"] == "InvalidParameterException"


def test_deleted_cluster_cannot_be_tagged(ecs: Any) -> None:
    arn = new_cluster(ecs)
    ecs.delete_cluster(cluster=arn)
    error = ecs_error(ecs.tag_resource, resourceArn=arn, tags=[{"key": "k", "value": "v"}])
    assert error["Code"] == "ClusterNotFoundException"


def test_wire_responses_match_the_model(shim: ShimServer, ecs: Any) -> None:
    http = requests.Session()

    def wire(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return ecs_wire(shim.url, operation, params, http=http)

    arn = new_cluster(ecs)
    assert wire("TagResource", {"resourceArn": arn, "tags": [{"key": "k", "value": "v"}]}) == {}
    assert wire("ListTagsForResource", {"resourceArn": arn}) == {"tags": [{"key": "k", "value": "v"}]}
    assert wire("UntagResource", {"resourceArn": arn, "tagKeys": ["k"]}) == {}
    assert wire("ListTagsForResource", {"resourceArn": arn}) == {"tags": []}


def test_services_and_running_tasks_are_tagged_and_keep_their_tags(ecs: Any, ecs_cluster: str) -> None:
    new_task_definition(ecs, family := unique_name("tagged"))
    service = ecs.create_service(
        cluster=ecs_cluster,
        serviceName="web",
        taskDefinition=family,
        desiredCount=0,
        tags=[{"key": "team", "value": "a"}],
    )["service"]
    ecs.tag_resource(resourceArn=service["serviceArn"], tags=[{"key": "tier", "value": "front"}])
    ecs.untag_resource(resourceArn=service["serviceArn"], tagKeys=["team"])
    assert tags_of(ecs, service["serviceArn"]) == [{"key": "tier", "value": "front"}]
    shown = ecs.describe_services(cluster=ecs_cluster, services=["web"], include=["TAGS"])["services"][0]
    assert shown["tags"] == [{"key": "tier", "value": "front"}]

    task_arn = ecs.run_task(cluster=ecs_cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    ecs.tag_resource(resourceArn=task_arn, tags=[{"key": "job", "value": "nightly"}])
    assert tags_of(ecs, task_arn) == [{"key": "job", "value": "nightly"}]
    described = ecs.describe_tasks(cluster=ecs_cluster, tasks=[task_arn], include=["TAGS"])["tasks"][0]
    assert described["tags"] == [{"key": "job", "value": "nightly"}]

    ecs.stop_task(cluster=ecs_cluster, task=task_arn)
    assert eventually(lambda: tags_of(ecs, task_arn) == [{"key": "job", "value": "nightly"}])
    ecs.delete_service(cluster=ecs_cluster, service="web", force=True)


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        ("eu-west-1:123456789012", "Invalid Region in ARN"),
        (
            "us-east-1:999999999999",
            "Invalid identifier: Identifier is for account 999999999999 in region us-east-1. "
            "Your account is 123456789012 in region us-east-1",
        ),
    ],
)
def test_an_arn_of_another_region_or_account_is_refused_not_read_as_a_local_one(
    ecs: Any, ecs_cluster: str, owner: str, message: str
) -> None:
    ecs.tag_resource(
        resourceArn=f"arn:aws:ecs:us-east-1:123456789012:cluster/{ecs_cluster}", tags=[{"key": "team", "value": "a"}]
    )
    arn = f"arn:aws:ecs:{owner}:cluster/{ecs_cluster}"
    refused = {"Code": "InvalidParameterException", "Message": message}
    assert ecs_error(ecs.tag_resource, resourceArn=arn, tags=[{"key": "team", "value": "b"}]) == refused
    assert ecs_error(ecs.untag_resource, resourceArn=arn, tagKeys=["team"]) == refused
    assert ecs_error(ecs.list_tags_for_resource, resourceArn=arn) == refused
    assert ecs.list_tags_for_resource(resourceArn=f"arn:aws:ecs:us-east-1:123456789012:cluster/{ecs_cluster}")[
        "tags"
    ] == [{"key": "team", "value": "a"}]
