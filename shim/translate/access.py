"""ECS actions as Kubernetes permissions: which request RBAC must allow a caller before the server
acts on an ECS call for it.

An ECS cluster is a Namespace, so a Role in that Namespace says what a key may do in that
cluster. Each ECS action stands for the Kubernetes request it mostly is:

| ECS resource           | Kubernetes resource                    | scope                      |
| ---------------------- | -------------------------------------- | -------------------------- |
| cluster                | `clusters.ecs.shim.io`, by name        | cluster-wide, one object   |
| container instance     | the cluster's `clusters.ecs.shim.io`   | (reads get, writes update) |
| task definition        | `taskdefinitions.ecs.shim.io`          | cluster-wide               |
| task                   | `pods`                                 | the cluster's Namespace    |
| ECS Exec (ExecuteCommand) | `pods/exec` (create)                | the cluster's Namespace    |
| service, its deployments and revisions | `services.ecs.shim.io` | the cluster's Namespace    |

The calls themselves are then made as the caller (impersonation), so RBAC also decides every
other object an action writes (a service's Deployment, a task's record)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shim.translate import names
from shim.translate.clusters import DEFAULT_CLUSTER

ECS_GROUP = names.PREFIX
CLUSTER, TASK_DEFINITION, TASK, SERVICE, CONTAINER_INSTANCE, EXEC = (
    "cluster",
    "task-definition",
    "task",
    "service",
    "container-instance",
    "exec",
)


@dataclass(frozen=True)
class Permission:
    """A Kubernetes request as a SubjectAccessReview asks about it, and the ECS resource (ARN, or
    `*`) it stands for, which a denial names."""

    verb: str
    group: str
    resource: str
    """The resource, with its subresource after a slash (`pods/exec`), as RBAC rules name it."""
    namespace: str | None
    name: str | None
    ecs_resource: str


ACTIONS: dict[str, tuple[str, str]] = {
    "CreateCluster": ("create", CLUSTER),
    "DescribeClusters": ("get", CLUSTER),
    "UpdateCluster": ("update", CLUSTER),
    "UpdateClusterSettings": ("update", CLUSTER),
    "DeleteCluster": ("delete", CLUSTER),
    "RegisterTaskDefinition": ("create", TASK_DEFINITION),
    "DescribeTaskDefinition": ("get", TASK_DEFINITION),
    "ListTaskDefinitions": ("list", TASK_DEFINITION),
    "ListTaskDefinitionFamilies": ("list", TASK_DEFINITION),
    "DeregisterTaskDefinition": ("update", TASK_DEFINITION),
    "DeleteTaskDefinitions": ("delete", TASK_DEFINITION),
    "RunTask": ("create", TASK),
    "StartTask": ("create", TASK),
    "StopTask": ("delete", TASK),
    "ExecuteCommand": ("create", EXEC),
    "UpdateTaskProtection": ("patch", TASK),
    "GetTaskProtection": ("get", TASK),
    "DescribeTasks": ("get", TASK),
    "ListTasks": ("list", TASK),
    "CreateService": ("create", SERVICE),
    "UpdateService": ("update", SERVICE),
    "DeleteService": ("delete", SERVICE),
    "DescribeServices": ("get", SERVICE),
    "ListServices": ("list", SERVICE),
    "ListServiceDeployments": ("get", SERVICE),
    "DescribeServiceDeployments": ("get", SERVICE),
    "DescribeServiceRevisions": ("get", SERVICE),
    "StopServiceDeployment": ("update", SERVICE),
    "ContinueServiceDeployment": ("update", SERVICE),
    "CreateTaskSet": ("update", SERVICE),
    "UpdateTaskSet": ("update", SERVICE),
    "DeleteTaskSet": ("update", SERVICE),
    "DescribeTaskSets": ("get", SERVICE),
    "UpdateServicePrimaryTaskSet": ("update", SERVICE),
    "ListContainerInstances": ("get", CONTAINER_INSTANCE),
    "DescribeContainerInstances": ("get", CONTAINER_INSTANCE),
    "ListAttributes": ("get", CONTAINER_INSTANCE),
    "PutAttributes": ("update", CONTAINER_INSTANCE),
    "DeleteAttributes": ("update", CONTAINER_INSTANCE),
    "UpdateContainerInstancesState": ("update", CONTAINER_INSTANCE),
    "ListTagsForResource": ("get", ""),
    "TagResource": ("update", ""),
    "UntagResource": ("update", ""),
}
"""The verb and ECS resource of each action checked before it runs; ListClusters is not here: it
lists only the clusters the caller may get (`cluster_permission`)."""

KUBERNETES_RESOURCES = {
    CLUSTER: (ECS_GROUP, "clusters"),
    CONTAINER_INSTANCE: (ECS_GROUP, "clusters"),
    TASK_DEFINITION: (ECS_GROUP, "taskdefinitions"),
    TASK: ("", "pods"),
    EXEC: ("", "pods/exec"),
    SERVICE: (ECS_GROUP, "services"),
}
ARN_CLUSTER_RESOURCES = ("service-deployment", "service-revision", "service", "task", "container-instance")
"""ARN resource types whose first path part is the cluster (`service/<cluster>/<name>`)."""


def permissions_for(operation: str, params: Mapping[str, Any], region: str, account: str) -> list[Permission]:
    """What RBAC must allow before `operation` runs with `params` (empty: nothing to check, or an
    operation not in `ACTIONS`)."""
    action = ACTIONS.get(operation)
    if action is None:
        return []
    verb, kind = action
    if not kind:
        kind, cluster_name = tagged_resource(params["resourceArn"])
        return [permission(verb, kind, cluster_name, params["resourceArn"], region, account)]
    if kind == TASK_DEFINITION:
        return [permission(verb, kind, None, "*", region, account)]
    return [
        permission(verb, kind, name, names.cluster_arn(region, account, name), region, account)
        for name in dict.fromkeys(cluster_names(operation, params, region, account))
    ]


def cluster_permission(cluster_name: str, region: str, account: str) -> Permission:
    """What lets a caller see a cluster (ListClusters lists only those)."""
    return permission("get", CLUSTER, cluster_name, names.cluster_arn(region, account, cluster_name), region, account)


def permission(
    verb: str, kind: str, cluster_name: str | None, ecs_resource: str, region: str, account: str
) -> Permission:
    group, resource = KUBERNETES_RESOURCES[kind]
    if kind in (CLUSTER, CONTAINER_INSTANCE):
        return Permission(verb, group, resource, None, cluster_name, ecs_resource)
    namespace = names.cluster_namespace(cluster_name) if cluster_name is not None else None
    return Permission(verb, group, resource, namespace, None, ecs_resource)


def cluster_names(operation: str, params: Mapping[str, Any], region: str, account: str) -> Iterable[str]:
    """The ECS clusters a call acts on, by name."""
    if operation == "CreateCluster":
        return [params.get("clusterName") or DEFAULT_CLUSTER]
    if operation == "DescribeClusters":
        return [cluster_name(value, region, account) for value in params.get("clusters") or [DEFAULT_CLUSTER]]
    arns = params.get("serviceDeploymentArns") or params.get("serviceRevisionArns")
    if operation in ("StopServiceDeployment", "ContinueServiceDeployment"):
        arns = [params["serviceDeploymentArn"]]
    if arns:
        return [cluster_in_arn(arn) or DEFAULT_CLUSTER for arn in arns]
    return [cluster_name(params.get("cluster") or DEFAULT_CLUSTER, region, account)]


def cluster_name(value: str, region: str, account: str) -> str:
    return names.cluster_name_from(value, region, account)


def tagged_resource(arn: str) -> tuple[str, str | None]:
    """The ECS resource kind (a key of `KUBERNETES_RESOURCES`) and cluster of a taggable ARN."""
    resource = arn.split(":", 5)[-1]
    kind, _, path = resource.partition("/")
    if kind == CLUSTER:
        return CLUSTER, path
    if kind in (TASK, SERVICE, CONTAINER_INSTANCE):
        return kind, cluster_in_arn(arn)
    return TASK_DEFINITION, None


def cluster_in_arn(arn: str) -> str | None:
    """The cluster an ARN of a cluster's resource names (`.../service/<cluster>/<name>`)."""
    kind, _, path = arn.split(":", 5)[-1].partition("/")
    parts = path.split("/")
    if kind in ARN_CLUSTER_RESOURCES and len(parts) >= 2:
        return parts[0]
    return None


def denial_message(account: str, iam_user: str, operation: str, ecs_resource: str) -> str:
    """ECS's words for an action IAM does not allow."""
    return (
        f"User: arn:aws:iam::{account}:user/{iam_user} is not authorized to perform: "
        f"ecs:{operation} on resource: {ecs_resource}"
    )


NAMESPACED_GRANTS: list[tuple[list[str], list[str], list[str]]] = [
    ([""], ["pods"], ["get", "list", "watch", "create", "delete", "patch"]),
    ([""], ["services"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    (["", "events.k8s.io"], ["events"], ["create", "patch", "list", "watch"]),
    (["apps"], ["deployments", "daemonsets"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    (["apps"], ["replicasets"], ["get", "list", "watch", "patch"]),
    ([ECS_GROUP], ["tasks", "services"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    (["autoscaling"], ["horizontalpodautoscalers"], ["get", "create", "update", "patch", "delete"]),
]
"""What a team needs in its clusters' Namespaces to run tasks and services there: the objects the
server writes for it, as it (see the server's own ClusterRole in manifests/deploy/)."""

ACCOUNT_WIDE_RESOURCES = [
    "loggroups",
    "logstreams",
    "repositories",
    "cloudmapnamespaces",
    "cloudmapservices",
    "cloudmapoperations",
    "metricsamples",
]
"""CloudWatch Logs' log groups and streams, ECR's repositories, Cloud Map's namespaces, services
and operations, and CloudWatch's metrics: account-wide in AWS, as task definitions are, so shared
by every team (the logs of
a team's tasks are in the groups its task definitions name; a deleted log group's streams go by
collection)."""

TEAM_ROLE = "ecs-shim-team"
"""The ClusterRole of `NAMESPACED_GRANTS`, bound per Namespace by each team's RoleBindings."""

EXEC_ROLE = "ecs-shim-team-exec"
"""The ClusterRole that lets a team open ECS Exec sessions (`pods/exec`), bound per Namespace only
for teams given it: a shell in a task is more than running the task."""


def team_access_manifests(team: str, cluster_names: list[str], execute_command: bool = False) -> list[dict[str, Any]]:
    """RBAC that confines the Kubernetes group `team` to the ECS clusters `cluster_names`: run and
    see tasks and services there, see and update those clusters, register task definitions and
    use log groups, ECR repositories, Cloud Map and CloudWatch metrics (account-wide in AWS, so
    shared by every team), and with `execute_command` open ECS Exec sessions there. Keys map to
    the group in the server's credentials file (`kubernetes_groups`)."""
    subject = {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": team}
    team_role = f"ecs-shim-team-{team}"
    cluster_role: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": team_role},
        "rules": [
            {
                "apiGroups": [ECS_GROUP],
                "resources": ["clusters"],
                "resourceNames": cluster_names,
                "verbs": ["get", "update", "patch"],
            },
            {
                "apiGroups": [ECS_GROUP],
                "resources": ["taskdefinitions"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            },
            {
                "apiGroups": [ECS_GROUP],
                "resources": ACCOUNT_WIDE_RESOURCES,
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
            },
        ],
    }
    namespaced_roles = {team_role: TEAM_ROLE, **({f"{team_role}-exec": EXEC_ROLE} if execute_command else {})}
    return [
        role(TEAM_ROLE, NAMESPACED_GRANTS),
        *([role(EXEC_ROLE, [([""], ["pods/exec"], ["create"])])] if execute_command else []),
        cluster_role,
        binding("ClusterRoleBinding", team_role, None, team_role, subject),
        *(
            binding("RoleBinding", name, names.cluster_namespace(cluster), granted, subject)
            for cluster in cluster_names
            for name, granted in namespaced_roles.items()
        ),
    ]


def role(name: str, grants: list[tuple[list[str], list[str], list[str]]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": groups, "resources": resources, "verbs": verbs} for groups, resources, verbs in grants],
    }


def binding(kind: str, name: str, namespace: str | None, role: str, subject: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, str] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }
