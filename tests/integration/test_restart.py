"""The server keeps nothing of its own: everything written before a restart reads back the same."""

from typing import Any

from tests.integration.conftest import ShimServer, ecs_client, model_checked, unique_name


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def everything_about(ecs: Any, cluster: str, family: str) -> dict[str, Any]:
    cluster_arn = f"arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"
    revisions = [f"{family}:{revision}" for revision in (1, 2, 3)]
    return {
        "clusters": without_metadata(
            ecs.describe_clusters(clusters=[cluster], include=["SETTINGS", "TAGS", "STATISTICS"])
        ),
        "cluster_listed": any(
            cluster_arn in page["clusterArns"] for page in ecs.get_paginator("list_clusters").paginate()
        ),
        "cluster_tags": ecs.list_tags_for_resource(resourceArn=cluster_arn)["tags"],
        "revisions": [
            without_metadata(ecs.describe_task_definition(taskDefinition=revision, include=["TAGS"]))
            for revision in revisions
        ],
        "latest": ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"],
        "by_status": {
            status: ecs.list_task_definitions(familyPrefix=family, status=status)["taskDefinitionArns"]
            for status in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS")
        },
        "families": ecs.list_task_definition_families(familyPrefix=family, status="ALL")["families"],
    }


def test_everything_written_reads_back_identically_after_a_restart(shim: ShimServer, second_shim: ShimServer) -> None:
    ecs = model_checked(ecs_client(second_shim.url))
    cluster, family = unique_name("survivor"), unique_name("survivor")
    ecs.create_cluster(
        clusterName=cluster,
        tags=[{"key": "team", "value": "ops"}],
        settings=[{"name": "containerInsights", "value": "enabled"}],
    )
    ecs.tag_resource(
        resourceArn=f"arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}", tags=[{"key": "added", "value": "later"}]
    )
    for revision in (1, 2, 3):
        ecs.register_task_definition(
            family=family,
            containerDefinitions=[{"name": "app", "image": f"busybox:{revision}", "memory": 64 * revision}],
            tags=[{"key": "revision", "value": str(revision)}],
        )
    ecs.deregister_task_definition(taskDefinition=f"{family}:1")
    ecs.deregister_task_definition(taskDefinition=f"{family}:3")
    ecs.delete_task_definitions(taskDefinitions=[f"{family}:1"])
    before = everything_about(ecs, cluster, family)

    second_shim.restart()

    assert everything_about(ecs, cluster, family) == before
    assert everything_about(model_checked(ecs_client(shim.url)), cluster, family) == before
    assert before["latest"] == 2 and before["cluster_listed"]
    assert before["cluster_tags"] == [{"key": "team", "value": "ops"}, {"key": "added", "value": "later"}]
    assert [len(arns) for arns in before["by_status"].values()] == [1, 1, 1]
    assert [(shown["taskDefinition"]["status"], shown["tags"]) for shown in before["revisions"]] == [
        ("DELETE_IN_PROGRESS", [{"key": "revision", "value": "1"}]),
        ("ACTIVE", [{"key": "revision", "value": "2"}]),
        ("INACTIVE", [{"key": "revision", "value": "3"}]),
    ]
    assert (
        ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}]
        )["taskDefinition"]["revision"]
        == 4
    )
