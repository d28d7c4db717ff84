"""ECS actions as the Kubernetes permissions RBAC is asked about (shim/translate/access.py)."""

from typing import Any

import pytest

from shim.errors import InvalidParameterException
from shim.translate import names
from shim.translate.access import (
    EXEC_ROLE,
    Permission,
    cluster_permission,
    denial_message,
    permissions_for,
    team_access_manifests,
)

REGION, ACCOUNT = "us-east-1", "123456789012"
PROD_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"
PROD_NAMESPACE = names.cluster_namespace("prod")


def permissions(operation: str, **params: object) -> list[Permission]:
    return permissions_for(operation, params, REGION, ACCOUNT)


def test_a_task_action_is_a_pod_request_in_the_clusters_namespace() -> None:
    assert permissions("RunTask", cluster="prod", taskDefinition="web") == [
        Permission("create", "", "pods", PROD_NAMESPACE, None, PROD_ARN)
    ]
    assert permissions("StopTask", cluster=PROD_ARN, task="abc")[0].verb == "delete"
    assert permissions("ListTasks")[0].namespace == names.cluster_namespace("default")


def test_execute_command_is_a_pod_exec_request_in_the_clusters_namespace() -> None:
    assert permissions("ExecuteCommand", cluster="prod", task="abc", interactive=True, command="sh") == [
        Permission("create", "", "pods/exec", PROD_NAMESPACE, None, PROD_ARN)
    ]


def test_only_teams_given_execute_command_may_open_sessions() -> None:
    plain = team_access_manifests("team-a", ["prod", "dev"])
    with_exec = team_access_manifests("team-a", ["prod", "dev"], execute_command=True)

    def exec_bindings(manifests: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [
            (m["metadata"]["namespace"], m["roleRef"]["name"])
            for m in manifests
            if m["kind"] == "RoleBinding" and m["roleRef"]["name"] == EXEC_ROLE
        ]

    assert exec_bindings(plain) == []
    assert all("pods/exec" not in str(m) for m in plain)
    assert exec_bindings(with_exec) == [(PROD_NAMESPACE, EXEC_ROLE), (names.cluster_namespace("dev"), EXEC_ROLE)]
    [exec_role] = [m for m in with_exec if m["metadata"]["name"] == EXEC_ROLE]
    assert exec_role["rules"] == [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]
    assert [m for m in with_exec if m not in plain and m["kind"] != "RoleBinding"] == [exec_role]


def test_a_service_action_is_a_service_record_request_in_the_clusters_namespace() -> None:
    (permission,) = permissions("UpdateService", cluster="prod", service="web")
    assert (permission.verb, permission.group, permission.resource) == ("update", "ecs.shim.io", "services")
    assert permission.namespace == PROD_NAMESPACE


def test_cluster_actions_name_the_cluster_object() -> None:
    assert permissions("DescribeClusters", clusters=["prod", PROD_ARN, "dev"]) == [
        Permission("get", "ecs.shim.io", "clusters", None, "prod", PROD_ARN),
        Permission("get", "ecs.shim.io", "clusters", None, "dev", f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/dev"),
    ]
    assert permissions("CreateCluster", clusterName="prod")[0].name == "prod"
    assert cluster_permission("prod", REGION, ACCOUNT) == permissions("DescribeClusters", clusters=["prod"])[0]


def test_container_instance_actions_are_read_and_update_of_their_cluster() -> None:
    assert [(p.verb, p.resource, p.name) for p in permissions("ListContainerInstances", cluster="prod")] == [
        ("get", "clusters", "prod")
    ]
    assert permissions("PutAttributes", cluster="prod", attributes=[])[0].verb == "update"


def test_task_definitions_are_account_wide() -> None:
    assert permissions("RegisterTaskDefinition", family="web") == [
        Permission("create", "ecs.shim.io", "taskdefinitions", None, None, "*")
    ]


@pytest.mark.parametrize(
    ("arn", "resource", "namespace", "name"),
    [
        (PROD_ARN, "clusters", None, "prod"),
        (f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/web", "services", PROD_NAMESPACE, None),
        (f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/0123abcd", "pods", PROD_NAMESPACE, None),
        (f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:3", "taskdefinitions", None, None),
    ],
)
def test_tag_actions_are_on_the_tagged_resource(arn: str, resource: str, namespace: str | None, name: str) -> None:
    (permission,) = permissions("TagResource", resourceArn=arn, tags=[])
    assert (permission.verb, permission.resource, permission.namespace, permission.name) == (
        "update",
        resource,
        namespace,
        name,
    )
    assert permission.ecs_resource == arn


def test_service_deployment_arns_name_their_clusters() -> None:
    arns = [
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/prod/web/abc",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/dev/web/def",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/prod/api/ghi",
    ]
    namespaces = [p.namespace for p in permissions("DescribeServiceDeployments", serviceDeploymentArns=arns)]
    assert namespaces == [PROD_NAMESPACE, names.cluster_namespace("dev")]
    stop = permissions("StopServiceDeployment", serviceDeploymentArn=arns[0])
    assert [(p.verb, p.namespace) for p in stop] == [("update", PROD_NAMESPACE)]


def test_a_cluster_arn_of_another_account_is_refused_before_any_check() -> None:
    with pytest.raises(InvalidParameterException):
        permissions("RunTask", cluster="arn:aws:ecs:us-east-1:999999999999:cluster/prod", taskDefinition="web")


def test_list_clusters_and_unknown_actions_need_no_check_before_they_run() -> None:
    assert permissions("ListClusters") == []
    assert permissions("CreateCapacityProvider", name="x") == []


def test_the_denial_reads_as_ecs_writes_it() -> None:
    assert denial_message(ACCOUNT, "team-a", "RunTask", PROD_ARN) == (
        f"User: arn:aws:iam::{ACCOUNT}:user/team-a is not authorized to perform: ecs:RunTask on resource: {PROD_ARN}"
    )
