"""Access keys as Kubernetes identities: two teams' keys, each mapped in the server's credentials
file to a Kubernetes group that `ecs-shim team-access` RBAC confines to the team's ECS cluster.
Each team runs tasks and services in its own cluster, is refused the other's with ECS's
AccessDeniedException, and lists only its own cluster; the calls are made as the team
(impersonation), so RBAC decides every object written, not only the one checked first."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiException

from shim.kube.client import KubeClients
from shim.kube.store import Store
from shim.operations import build_handlers
from shim.translate import names
from shim.translate.access import ACTIONS, team_access_manifests
from tests.integration.conftest import (
    FAST_WAITER,
    ShimServer,
    ecs_client,
    eventually,
    model_checked,
    unique_name,
)

ACCOUNT = "123456789012"
ADMIN_KEY = ("AKIDTENANCYADMIN", "admin-secret")
EXAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "examples" / "team-access.yaml"


@dataclass(frozen=True)
class Team:
    name: str
    cluster: str
    key: tuple[str, str]

    @property
    def namespace(self) -> str:
        return names.cluster_namespace(self.cluster)

    def cluster_arn(self) -> str:
        return names.cluster_arn("us-east-1", ACCOUNT, self.cluster)


@dataclass(frozen=True)
class Tenancy:
    server: ShimServer
    admin: Any
    teams: dict[str, Team]
    clients: dict[str, Any]


def apply_rbac(rbac: client.RbacAuthorizationV1Api, manifest: dict[str, Any]) -> None:
    """Create `manifest`, or replace the one of its name (the shared team ClusterRole)."""
    kind, metadata = manifest["kind"], manifest["metadata"]
    namespace = metadata.get("namespace")
    operations: dict[str, tuple[Any, Any]] = {
        "ClusterRole": (rbac.create_cluster_role, rbac.replace_cluster_role),
        "ClusterRoleBinding": (rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding),
        "RoleBinding": (rbac.create_namespaced_role_binding, rbac.replace_namespaced_role_binding),
    }
    create, replace = operations[kind]
    where = (namespace,) if namespace else ()
    try:
        create(*where, manifest)
    except ApiException as error:
        if error.status != 409:
            raise
        replace(metadata["name"], *where, manifest)


def delete_rbac(rbac: client.RbacAuthorizationV1Api, manifest: dict[str, Any]) -> None:
    kind, metadata = manifest["kind"], manifest["metadata"]
    if kind == "ClusterRoleBinding":
        rbac.delete_cluster_role_binding(metadata["name"])
    elif kind == "ClusterRole" and metadata["name"] != "ecs-shim-team":
        rbac.delete_cluster_role(metadata["name"])


@pytest.fixture(scope="module")
def tenancy(kube: KubeClients, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenancy]:
    suffix = unique_name("t").removeprefix("t-")
    teams = {
        label: Team(f"team-{label}-{suffix}", f"cluster-{label}-{suffix}", (f"AKIDTEAM{label.upper()}{suffix}", label))
        for label in ("a", "b")
    }
    credentials = tmp_path_factory.mktemp("tenancy") / "credentials"
    sections = [f"[admin]\naws_access_key_id = {ADMIN_KEY[0]}\naws_secret_access_key = {ADMIN_KEY[1]}\n"]
    sections += [
        f"[{team.name}]\naws_access_key_id = {team.key[0]}\naws_secret_access_key = {team.key[1]}\n"
        f"kubernetes_user = {team.name}-ci\nkubernetes_groups = {team.name}\n"
        for team in teams.values()
    ]
    credentials.write_text("\n".join(sections))
    server = ShimServer("--credentials", str(credentials)).start()
    admin = model_checked(ecs_client(server.url, access_key=ADMIN_KEY[0], secret_key=ADMIN_KEY[1]))
    rbac = client.RbacAuthorizationV1Api(kube.api)
    manifests = []
    for team in teams.values():
        admin.create_cluster(clusterName=team.cluster)
        manifests += team_access_manifests(team.name, [team.cluster])
    for manifest in manifests:
        apply_rbac(rbac, manifest)
    clients = {
        label: model_checked(ecs_client(server.url, access_key=team.key[0], secret_key=team.key[1]))
        for label, team in teams.items()
    }
    yield Tenancy(server, admin, teams, clients)
    for manifest in manifests:
        delete_rbac(rbac, manifest)
    server.stop()


def busybox(family: str) -> dict[str, Any]:
    return {
        "family": family,
        "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 16, "essential": True}],
    }


def denial(ecs: Any, operation: str, **params: Any) -> str:
    """The message of the AccessDeniedException `operation` must answer."""
    with pytest.raises(ecs.exceptions.ClientError) as caught:
        getattr(ecs, operation)(**params)
    error = caught.value.response["Error"]
    assert error["Code"] == "AccessDeniedException", error
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


def pod_names(kube: KubeClients, namespace: str) -> set[str]:
    pods: list[Any] = kube.core.list_namespaced_pod(namespace).items
    return {pod.metadata.name for pod in pods}


def test_each_team_runs_tasks_in_its_own_cluster(tenancy: Tenancy, kube: KubeClients) -> None:
    for label, team in tenancy.teams.items():
        ecs = tenancy.clients[label]
        family = unique_name(f"tenancy-{label}")
        ecs.register_task_definition(**busybox(family))
        (task,) = ecs.run_task(cluster=team.cluster, taskDefinition=family)["tasks"]
        ecs.get_waiter("tasks_running").wait(cluster=team.cluster, tasks=[task["taskArn"]], WaiterConfig=FAST_WAITER)
        assert ecs.list_tasks(cluster=team.cluster)["taskArns"] == [task["taskArn"]]
        ecs.stop_task(cluster=team.cluster, task=task["taskArn"])
        assert len(pod_names(kube, team.namespace)) == 1


def test_a_team_is_refused_the_other_teams_cluster_with_ecs_wording(tenancy: Tenancy, kube: KubeClients) -> None:
    team_a, team_b = tenancy.teams["a"], tenancy.teams["b"]
    ecs = tenancy.clients["a"]
    family = unique_name("tenancy-denied")
    ecs.register_task_definition(**busybox(family))
    pods_before = pod_names(kube, team_b.namespace)

    message = denial(ecs, "run_task", cluster=team_b.cluster, taskDefinition=family)

    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{team_a.name} is not authorized to perform: "
        f"ecs:RunTask on resource: {team_b.cluster_arn()}"
    )
    assert pod_names(kube, team_b.namespace) == pods_before
    refused: list[tuple[str, dict[str, Any]]] = [
        ("list_tasks", {"cluster": team_b.cluster}),
        ("describe_clusters", {"clusters": [team_b.cluster]}),
        ("list_services", {"cluster": team_b.cluster}),
        ("list_container_instances", {"cluster": team_b.cluster}),
        ("delete_cluster", {"cluster": team_b.cluster}),
        ("list_tags_for_resource", {"resourceArn": team_b.cluster_arn()}),
    ]
    for operation, params in refused:
        assert f"on resource: {team_b.cluster_arn()}" in denial(ecs, operation, **params)
    assert tenancy.admin.describe_clusters(clusters=[team_b.cluster])["clusters"][0]["status"] == "ACTIVE"


def test_list_clusters_shows_each_team_only_its_own(tenancy: Tenancy) -> None:
    for label, team in tenancy.teams.items():
        assert tenancy.clients[label].list_clusters()["clusterArns"] == [team.cluster_arn()]
    everything = tenancy.admin.list_clusters()["clusterArns"]
    assert {team.cluster_arn() for team in tenancy.teams.values()} <= set(everything)


def test_a_team_runs_a_service_in_its_cluster_and_cannot_create_one_in_another(
    tenancy: Tenancy, kube: KubeClients
) -> None:
    team_a, team_b = tenancy.teams["a"], tenancy.teams["b"]
    ecs = tenancy.clients["a"]
    family = unique_name("tenancy-service")
    ecs.register_task_definition(**busybox(family))

    denial(ecs, "create_service", cluster=team_b.cluster, serviceName="web", taskDefinition=family, desiredCount=1)
    assert kube.apps.list_namespaced_deployment(team_b.namespace).items == []

    ecs.create_service(cluster=team_a.cluster, serviceName="web", taskDefinition=family, desiredCount=2)
    ecs.get_waiter("services_stable").wait(cluster=team_a.cluster, services=["web"], WaiterConfig=FAST_WAITER)
    ecs.update_service(cluster=team_a.cluster, service="web", desiredCount=1)
    ecs.delete_service(cluster=team_a.cluster, service="web", force=True)


def test_calls_are_made_as_the_team_so_rbac_decides_every_object_written(tenancy: Tenancy, kube: KubeClients) -> None:
    """Team B may create ECS service records in its cluster, but not Deployments: the server
    would be allowed to write the Deployment itself, so only impersonation refuses it."""
    team_b = tenancy.teams["b"]
    rbac: Any = client.RbacAuthorizationV1Api(kube.api)
    name = f"ecs-shim-team-{team_b.name}"
    binding: Any = rbac.read_namespaced_role_binding(name, team_b.namespace)
    narrow = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "services-only", "namespace": team_b.namespace},
        "rules": [{"apiGroups": ["ecs.shim.io"], "resources": ["services"], "verbs": ["*"]}],
    }
    rbac.create_namespaced_role(team_b.namespace, narrow)
    rbac.delete_namespaced_role_binding(name, team_b.namespace)
    rbac.create_namespaced_role_binding(
        team_b.namespace,
        {
            "metadata": {"name": "services-only", "namespace": team_b.namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "services-only"},
            "subjects": binding.subjects,
        },
    )
    ecs = tenancy.clients["b"]
    family = unique_name("tenancy-narrow")
    ecs.register_task_definition(**busybox(family))
    try:
        message = denial(
            ecs, "create_service", cluster=team_b.cluster, serviceName="api", taskDefinition=family, desiredCount=1
        )
        assert message.startswith(f"User: arn:aws:iam::{ACCOUNT}:user/{team_b.name} is not authorized")
        assert kube.apps.list_namespaced_deployment(team_b.namespace).items == []
        assert tenancy.admin.describe_services(cluster=team_b.cluster, services=["api"])["services"] == []
    finally:
        rbac.delete_namespaced_role_binding("services-only", team_b.namespace)
        rbac.delete_namespaced_role("services-only", team_b.namespace)
        binding.metadata.resource_version = None
        rbac.create_namespaced_role_binding(team_b.namespace, binding)


def test_only_a_team_given_execute_command_opens_sessions_in_its_tasks(tenancy: Tenancy, kube: KubeClients) -> None:
    team_a = tenancy.teams["a"]
    ecs = tenancy.clients["a"]
    family = unique_name("tenancy-exec")
    ecs.register_task_definition(**busybox(family))
    (task,) = ecs.run_task(cluster=team_a.cluster, taskDefinition=family, enableExecuteCommand=True)["tasks"]
    ecs.get_waiter("tasks_running").wait(cluster=team_a.cluster, tasks=[task["taskArn"]], WaiterConfig=FAST_WAITER)
    session = {"cluster": team_a.cluster, "task": task["taskArn"], "interactive": True, "command": "sh"}

    assert denial(ecs, "execute_command", **session) == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{team_a.name} is not authorized to perform: "
        f"ecs:ExecuteCommand on resource: {team_a.cluster_arn()}"
    )

    rbac = client.RbacAuthorizationV1Api(kube.api)
    granted = team_access_manifests(team_a.name, [team_a.cluster], execute_command=True)
    exec_manifests = [m for m in granted if m not in team_access_manifests(team_a.name, [team_a.cluster])]
    for manifest in exec_manifests:
        apply_rbac(rbac, manifest)
    try:
        answer = eventually(lambda: _session_or_none(ecs, session), timeout=15)
        assert answer["session"]["sessionId"].startswith("ecs-execute-command-")
    finally:
        for manifest in exec_manifests:
            if manifest["kind"] == "RoleBinding":
                rbac.delete_namespaced_role_binding(manifest["metadata"]["name"], manifest["metadata"]["namespace"])
        ecs.stop_task(cluster=team_a.cluster, task=task["taskArn"])


def _session_or_none(ecs: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    """ExecuteCommand's answer, or None while RBAC still refuses (decisions are kept 5 s)."""
    try:
        answer: dict[str, Any] = ecs.execute_command(**params)
    except ecs.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "AccessDeniedException":
            raise
        return None
    return answer


def test_a_team_reads_its_task_logs_account_wide_as_in_aws(tenancy: Tenancy) -> None:
    """Log groups are account-wide, as task definitions are: team-access lets every team use them."""
    key, secret = tenancy.teams["a"].key
    logs = boto3.client(
        "logs",
        endpoint_url=tenancy.server.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )
    group = f"/ecs/{unique_name('tenancy')}"

    logs.create_log_group(logGroupName=group)

    shown = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in shown] == [group]
    logs.delete_log_group(logGroupName=group)


def team_clients(tenancy: Tenancy, service: str) -> dict[str, Any]:
    """A boto3 client of `service` for each team, with its key (DiscoverInstances' host prefix off)."""
    return {
        label: boto3.client(
            service,
            endpoint_url=tenancy.server.url,
            region_name="us-east-1",
            aws_access_key_id=team.key[0],
            aws_secret_access_key=team.key[1],
            config=botocore.config.Config(inject_host_prefix=False),
        )
        for label, team in tenancy.teams.items()
    }


def test_a_team_scales_its_own_services_and_sees_no_other_teams_targets(tenancy: Tenancy) -> None:
    """Application Auto Scaling is made as the team too: its service's record and HPA are the
    team's to write, the other team's are not, and Describe shows each team its own."""
    team_a = tenancy.teams["a"]
    family = unique_name("scaled")
    tenancy.clients["a"].register_task_definition(**busybox(family))
    tenancy.clients["a"].create_service(
        cluster=team_a.cluster, serviceName="web", taskDefinition=family, desiredCount=0
    )
    target = {
        "ServiceNamespace": "ecs",
        "ScalableDimension": "ecs:service:DesiredCount",
        "ResourceId": f"service/{team_a.cluster}/web",
    }
    scaling = team_clients(tenancy, "application-autoscaling")
    with pytest.raises(scaling["b"].exceptions.ClientError) as refused:
        scaling["b"].register_scalable_target(MinCapacity=1, MaxCapacity=3, **target)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    scaling["a"].register_scalable_target(MinCapacity=1, MaxCapacity=3, **target)
    cpu = {
        "TargetValue": 50.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    }
    scaling["a"].put_scaling_policy(
        PolicyName="cpu", PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=cpu, **target
    )
    shown = {
        label: scaling[label].describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] for label in scaling
    }
    assert [t["ResourceId"] for t in shown["a"]] == [target["ResourceId"]]
    assert shown["b"] == []
    tenancy.clients["a"].delete_service(cluster=team_a.cluster, service="web", force=True)


def test_cloud_map_is_account_wide_so_every_team_uses_the_same_namespaces(tenancy: Tenancy) -> None:
    """team-access grants Cloud Map to every team, as it does log groups: what one team makes the
    other finds, as the caller (RBAC on the cloudmap* resources)."""
    clients = team_clients(tenancy, "servicediscovery")
    name = unique_name("tenancy")
    created = clients["a"].create_http_namespace(Name=name)["OperationId"]
    namespace_id = clients["b"].get_operation(OperationId=created)["Operation"]["Targets"]["NAMESPACE"]
    service_id = clients["b"].create_service(Name="api", NamespaceId=namespace_id)["Service"]["Id"]
    clients["a"].register_instance(ServiceId=service_id, InstanceId="one", Attributes={"port": "80"})
    found = clients["b"].discover_instances(NamespaceName=name, ServiceName="api")["Instances"]
    assert [i["InstanceId"] for i in found] == ["one"]
    clients["b"].deregister_instance(ServiceId=service_id, InstanceId="one")
    clients["a"].delete_service(Id=service_id)
    clients["b"].delete_namespace(Id=namespace_id)


def test_keys_mapped_to_no_kubernetes_user_act_as_the_server(tenancy: Tenancy) -> None:
    arns = tenancy.admin.list_clusters()["clusterArns"]
    assert f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/default" in arns


def test_the_example_rbac_is_what_team_access_prints() -> None:
    assert list(yaml.safe_load_all(EXAMPLE.read_text())) == team_access_manifests("team-a", ["team-a"])


def test_every_served_operation_is_checked_before_it_runs(kube: KubeClients) -> None:
    assert sorted(build_handlers(Store(kube))) == sorted([*ACTIONS, "ListClusters"])


def test_listening_beyond_loopback_without_credentials_warns_loudly() -> None:
    server = ShimServer("--host", "0.0.0.0").start()
    try:
        assert "WARNING: ecs-shim listens on 0.0.0.0 without a credentials file" in server.output()
    finally:
        server.stop()
    quiet = ShimServer().start()
    try:
        assert "WARNING" not in quiet.output()
    finally:
        quiet.stop()
