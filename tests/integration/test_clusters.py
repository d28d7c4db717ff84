"""Clusters through boto3 and the AWS CLI: each one a Namespace in the real API server."""

import json
import uuid
from functools import partial
from typing import Any

import pytest
import requests
from kubernetes import client

from shim.kube.client import KubeClients
from shim.translate import names
from tests.integration.conftest import (
    ShimServer,
    all_at_once,
    ecs_client,
    ecs_error,
    ecs_wire,
    eventually,
    model_checked,
    namespace_exists,
    run_aws,
    unique_name,
)

ACCOUNT_ARN = "arn:aws:ecs:us-east-1:123456789012"
NAMESPACE_ARN_PREFIX = "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-"
COUNTS = ("registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount", "activeServicesCount")

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def describe_one(ecs: Any, name: str, include: list[str] | None = None) -> dict[str, Any]:
    described = ecs.describe_clusters(clusters=[name], include=include or [])
    assert described["failures"] == []
    [cluster] = described["clusters"]
    return dict(cluster)


def serving_nodes(kube: KubeClients, cluster_name: str) -> int:
    """Nodes not pinned to another cluster: ECS calls them the cluster's container instances."""
    pinned = names.label_value(cluster_name)
    nodes = kube.api.sanitize_for_serialization(kube.core.list_node())["items"]
    labels = [node["metadata"].get("labels", {}) for node in nodes]
    return sum(1 for node_labels in labels if node_labels.get(names.LABEL_CLUSTER, pinned) == pinned)


def namespace_of(kube: KubeClients, name: str) -> dict[str, Any]:
    """The Namespace as the API server returns it, as plain JSON."""
    namespace: dict[str, Any] = kube.api.sanitize_for_serialization(kube.core.read_namespace(name))
    return namespace


def task_pod(name: str, node_selector: dict[str, str] | None = None, run_seconds: int | None = None) -> client.V1Pod:
    env = [client.V1EnvVar(name="SIMULATED_RUN_SECONDS", value=str(run_seconds))] if run_seconds else []
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={names.LABEL_MANAGED: "true"}),
        spec=client.V1PodSpec(
            restart_policy="Never",
            node_selector=node_selector,
            containers=[
                client.V1Container(
                    name="main",
                    image="public.ecr.aws/docker/library/busybox:latest",
                    env=env,
                    resources=client.V1ResourceRequirements(requests={"cpu": "10m", "memory": "16Mi"}),
                )
            ],
        ),
    )


def create_pod(kube: KubeClients, namespace: str, pod: client.V1Pod) -> None:
    """Create `pod` once the namespace's default ServiceAccount (which admission needs) exists."""

    def created() -> bool:
        try:
            kube.core.create_namespaced_pod(namespace, pod)
        except client.ApiException as error:
            if error.status == 403 and "serviceaccount" in str(error.body):
                return False
            raise
        return True

    eventually(created, timeout=20)


def test_create_cluster_keeps_tags_and_settings_and_describe_includes_them(ecs: Any, kube: KubeClients) -> None:
    name = unique_name("tagged")
    tags = [{"key": "team", "value": "payments"}, {"key": "env", "value": ""}]
    settings = [{"name": "containerInsights", "value": "enabled"}]

    created = ecs.create_cluster(clusterName=name, tags=tags, settings=settings)["cluster"]

    assert created["clusterArn"] == f"{ACCOUNT_ARN}:cluster/{name}"
    assert created["status"] == "ACTIVE"
    assert created["tags"] == tags
    assert created["settings"] == settings
    plain = describe_one(ecs, name)
    assert plain["clusterName"] == name and plain["status"] == "ACTIVE"
    assert plain.get("tags", []) == [] and plain.get("statistics", []) == []
    full = describe_one(ecs, name, ["SETTINGS", "TAGS", "STATISTICS"])
    assert full["tags"] == tags
    assert full["settings"] == settings
    statistics = {entry["name"]: entry["value"] for entry in full["statistics"]}
    assert statistics["runningEC2TasksCount"] == "0"
    assert statistics["pendingEC2TasksCount"] == "0"
    namespace = namespace_of(kube, names.cluster_namespace(name))
    assert namespace["metadata"]["annotations"][names.ANNOTATION_CLUSTER_NAME] == name


def test_create_cluster_twice_returns_the_existing_cluster(ecs: Any) -> None:
    name = unique_name("twice")
    first = ecs.create_cluster(clusterName=name, tags=[{"key": "a", "value": "1"}])["cluster"]
    second = ecs.create_cluster(clusterName=name)["cluster"]
    assert second["clusterArn"] == first["clusterArn"]
    assert describe_one(ecs, name, ["TAGS"])["tags"] == [{"key": "a", "value": "1"}]


def test_same_cluster_created_at_once_through_two_servers_is_one_cluster(
    shim: ShimServer, second_shim: ShimServer, kube: KubeClients
) -> None:
    name = unique_name("stampede")
    clients = [model_checked(ecs_client(server.url)) for server in (shim, second_shim) for _ in range(5)]

    created = all_at_once([partial(ecs.create_cluster, clusterName=name) for ecs in clients])

    assert {(response["cluster"]["clusterArn"], response["cluster"]["status"]) for response in created} == {
        (f"{ACCOUNT_ARN}:cluster/{name}", "ACTIVE")
    }
    assert namespace_exists(kube, names.cluster_namespace(name))
    listed = [arn for page in clients[-1].get_paginator("list_clusters").paginate() for arn in page["clusterArns"]]
    assert listed.count(f"{ACCOUNT_ARN}:cluster/{name}") == 1


def test_describe_reports_each_unknown_cluster_as_missing(ecs: Any) -> None:
    name = unique_name("known")
    ecs.create_cluster(clusterName=name)
    missing_name = unique_name("never-created")
    missing_arn = f"{ACCOUNT_ARN}:cluster/{unique_name('never-created')}"

    described = ecs.describe_clusters(clusters=[name, missing_name, f"{ACCOUNT_ARN}:cluster/{name}", missing_arn])

    assert [cluster["clusterName"] for cluster in described["clusters"]] == [name, name]
    assert described["failures"] == [
        {"arn": f"{ACCOUNT_ARN}:cluster/{missing_name}", "reason": "MISSING"},
        {"arn": missing_arn, "reason": "MISSING"},
    ]


def test_list_clusters_walks_every_page_once(ecs: Any) -> None:
    created = {ecs.create_cluster(clusterName=unique_name("paged"))["cluster"]["clusterArn"] for _ in range(5)}

    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = ecs.list_clusters(maxResults=3, **({"nextToken": token} if token else {}))
        assert len(page["clusterArns"]) <= 3
        seen.extend(page["clusterArns"])
        pages += 1
        token = page.get("nextToken")
        if not token:
            break

    assert len(seen) == len(set(seen))
    assert created <= set(seen)
    assert f"{ACCOUNT_ARN}:cluster/default" in seen
    assert pages >= 3
    paginated = [arn for page in ecs.get_paginator("list_clusters").paginate() for arn in page["clusterArns"]]
    assert created <= set(paginated)


def test_list_clusters_rejects_a_token_it_never_gave(ecs: Any) -> None:
    error = ecs_error(ecs.list_clusters, nextToken="not-a-token")
    assert error["Code"] == "InvalidParameterException"


def test_update_cluster_changes_settings(ecs: Any) -> None:
    name = unique_name("settings")
    ecs.create_cluster(clusterName=name)
    enabled = [{"name": "containerInsights", "value": "enabled"}]

    updated = ecs.update_cluster(cluster=name, settings=enabled)["cluster"]

    assert updated["settings"] == enabled
    assert describe_one(ecs, name, ["SETTINGS"])["settings"] == enabled
    disabled = [{"name": "containerInsights", "value": "disabled"}]
    assert ecs.update_cluster_settings(cluster=name, settings=disabled)["cluster"]["settings"] == disabled
    assert describe_one(ecs, name, ["SETTINGS"])["settings"] == disabled


def test_update_of_an_unknown_cluster_is_cluster_not_found(ecs: Any) -> None:
    error = ecs_error(
        ecs.update_cluster,
        cluster=unique_name("absent"),
        settings=[{"name": "containerInsights", "value": "enabled"}],
    )
    assert error["Code"] == "ClusterNotFoundException"


def test_deleted_cluster_is_inactive_and_its_namespace_goes(ecs: Any, kube: KubeClients) -> None:
    name = unique_name("doomed")
    arn = ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"]
    namespace = names.cluster_namespace(name)
    assert namespace_exists(kube, namespace)

    deleted = ecs.delete_cluster(cluster=arn)["cluster"]

    assert deleted["status"] == "INACTIVE"
    assert describe_one(ecs, name)["status"] == "INACTIVE"
    assert not any(arn in page["clusterArns"] for page in ecs.get_paginator("list_clusters").paginate())
    assert ecs_error(ecs.delete_cluster, cluster=name)["Code"] == "ClusterNotFoundException"
    assert not namespace_exists(kube, namespace) or "deletionTimestamp" in namespace_of(kube, namespace)["metadata"]


def test_cluster_created_again_after_deletion_is_active_with_a_live_namespace(ecs: Any, kube: KubeClients) -> None:
    name = unique_name("phoenix")
    ecs.create_cluster(clusterName=name, tags=[{"key": "generation", "value": "1"}])
    first_namespace = namespace_of(kube, names.cluster_namespace(name))
    ecs.delete_cluster(cluster=name)

    again = ecs.create_cluster(clusterName=name, tags=[{"key": "generation", "value": "2"}])["cluster"]

    assert again["status"] == "ACTIVE"
    described = describe_one(ecs, name, ["TAGS"])
    assert described["status"] == "ACTIVE"
    assert described["tags"] == [{"key": "generation", "value": "2"}]
    namespace = namespace_of(kube, names.cluster_namespace(name))
    assert namespace["metadata"]["uid"] != first_namespace["metadata"]["uid"]
    assert "deletionTimestamp" not in namespace["metadata"]
    assert namespace["status"]["phase"] == "Active"


def test_counts_follow_the_clusters_nodes_and_task_pods(ecs: Any, kube: KubeClients) -> None:
    name = unique_name("busy")
    ecs.create_cluster(clusterName=name)
    namespace = names.cluster_namespace(name)
    assert describe_one(ecs, name)["registeredContainerInstancesCount"] == serving_nodes(kube, name)

    create_pod(kube, namespace, task_pod("finishes", run_seconds=5))
    create_pod(kube, namespace, task_pod("unschedulable", node_selector={"no-such-label": "anywhere"}))

    def counted(running: int, pending: int) -> dict[str, Any] | None:
        cluster = describe_one(ecs, name, ["STATISTICS"])
        return cluster if (cluster["runningTasksCount"], cluster["pendingTasksCount"]) == (running, pending) else None

    busy = eventually(lambda: counted(1, 1), timeout=20)
    statistics = {entry["name"]: entry["value"] for entry in busy["statistics"]}
    assert (statistics["runningEC2TasksCount"], statistics["pendingEC2TasksCount"]) == ("1", "1")
    assert ecs_error(ecs.delete_cluster, cluster=name)["Code"] == "ClusterContainsTasksException"

    kube.core.delete_namespaced_pod("unschedulable", namespace, grace_period_seconds=0)
    eventually(lambda: counted(0, 0), timeout=30)
    assert ecs.delete_cluster(cluster=name)["cluster"]["status"] == "INACTIVE"


def test_service_connect_namespace_is_shown_as_a_cloud_map_arn_in_every_cluster_view(
    ecs: Any, second_shim: ShimServer
) -> None:
    name = unique_name("connected")
    namespace = unique_name("internal")

    created = ecs.create_cluster(clusterName=name, serviceConnectDefaults={"namespace": namespace})["cluster"]

    arn = created["serviceConnectDefaults"]["namespace"]
    assert arn.startswith(NAMESPACE_ARN_PREFIX)
    assert describe_one(ecs, name)["serviceConnectDefaults"] == {"namespace": arn}
    elsewhere = model_checked(ecs_client(second_shim.url)).describe_clusters(clusters=[name])["clusters"][0]
    assert elsewhere["serviceConnectDefaults"] == {"namespace": arn}
    other = f"{NAMESPACE_ARN_PREFIX}{uuid.uuid4().hex[:16]}"
    updated = ecs.update_cluster(cluster=name, serviceConnectDefaults={"namespace": other})["cluster"]
    assert updated["serviceConnectDefaults"] == {"namespace": other}
    assert describe_one(ecs, name)["serviceConnectDefaults"] == {"namespace": other}
    ecs.update_cluster(cluster=name, serviceConnectDefaults={"namespace": namespace})
    assert ecs.delete_cluster(cluster=name)["cluster"]["serviceConnectDefaults"] == {"namespace": arn}


def test_an_empty_service_connect_namespace_removes_the_defaults(ecs: Any) -> None:
    name = unique_name("disconnected")
    created = ecs.create_cluster(clusterName=name, serviceConnectDefaults={"namespace": unique_name("internal")})
    assert created["cluster"]["serviceConnectDefaults"]["namespace"].startswith(NAMESPACE_ARN_PREFIX)

    updated = ecs.update_cluster(cluster=name, serviceConnectDefaults={"namespace": ""})["cluster"]

    assert "serviceConnectDefaults" not in updated
    assert "serviceConnectDefaults" not in describe_one(ecs, name, ["CONFIGURATIONS"])


@pytest.mark.parametrize("bad_namespace", ["team/internal", "x" * 1025])
def test_a_service_connect_namespace_name_ecs_refuses_changes_nothing(
    ecs: Any, kube: KubeClients, bad_namespace: str
) -> None:
    name = unique_name("refused")
    error = ecs_error(ecs.create_cluster, clusterName=name, serviceConnectDefaults={"namespace": bad_namespace})
    assert error["Code"] == "InvalidParameterException"
    assert not namespace_exists(kube, names.cluster_namespace(name))

    kept = ecs.create_cluster(clusterName=name, serviceConnectDefaults={"namespace": "kept"})["cluster"]
    error = ecs_error(ecs.update_cluster, cluster=name, serviceConnectDefaults={"namespace": bad_namespace})
    assert error["Code"] == "InvalidParameterException"
    assert describe_one(ecs, name)["serviceConnectDefaults"] == kept["serviceConnectDefaults"]


def test_an_inactive_cluster_counts_nothing_in_any_view(ecs: Any, kube: KubeClients) -> None:
    name = unique_name("emptied")
    ecs.create_cluster(clusterName=name)
    assert describe_one(ecs, name)["registeredContainerInstancesCount"] == serving_nodes(kube, name) > 0

    deleted = ecs.delete_cluster(cluster=name)["cluster"]

    described = describe_one(ecs, name, ["STATISTICS"])
    assert described["status"] == "INACTIVE"
    assert [deleted[count] for count in COUNTS] == [described[count] for count in COUNTS] == [0, 0, 0, 0]
    assert {entry["value"] for entry in described["statistics"]} == {"0"}


def test_active_services_are_counted_and_keep_their_cluster(ecs: Any) -> None:
    name = unique_name("served")
    ecs.create_cluster(clusterName=name)
    family = unique_name("counted")
    container = {"name": "web", "image": "public.ecr.aws/nginx/nginx:latest", "memory": 128}
    definition = ecs.register_task_definition(family=family, containerDefinitions=[container])["taskDefinition"]
    ecs.create_service(cluster=name, serviceName="web", taskDefinition=definition["taskDefinitionArn"], desiredCount=0)

    busy = describe_one(ecs, name, ["STATISTICS"])

    assert busy["activeServicesCount"] == 1
    assert {entry["name"]: entry["value"] for entry in busy["statistics"]}["activeEC2ServiceCount"] == "1"
    assert ecs_error(ecs.delete_cluster, cluster=name)["Code"] == "ClusterContainsServicesException"
    ecs.delete_service(cluster=name, service="web")
    assert describe_one(ecs, name)["activeServicesCount"] == 0
    assert ecs.delete_cluster(cluster=name)["cluster"]["status"] == "INACTIVE"


@pytest.mark.parametrize("spelling", [["Team_A", "team_a", "TEAM-A", "team-a"], ["x" * 255, "X" * 255]])
def test_names_differing_only_in_case_or_underscores_are_distinct_clusters(
    ecs: Any, kube: KubeClients, spelling: list[str]
) -> None:
    suffix = uuid.uuid4().hex[:10]
    cluster_names = [f"{name[: 255 - len(suffix)]}{suffix}" for name in spelling]

    arns = [ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"] for name in cluster_names]

    assert arns == [f"{ACCOUNT_ARN}:cluster/{name}" for name in cluster_names]
    described = ecs.describe_clusters(clusters=cluster_names)["clusters"]
    assert [cluster["clusterName"] for cluster in described] == cluster_names
    namespaces = [namespace_of(kube, names.cluster_namespace(name))["metadata"] for name in cluster_names]
    assert len({namespace["name"] for namespace in namespaces}) == len(cluster_names)
    assert [namespace["annotations"][names.ANNOTATION_CLUSTER_NAME] for namespace in namespaces] == cluster_names


@pytest.mark.parametrize("bad_name", ["has space", "dot.ted", "x" * 256, "ümlaut"])
def test_invalid_cluster_name_is_rejected_and_nothing_is_created(ecs: Any, kube: KubeClients, bad_name: str) -> None:
    error = ecs_error(ecs.create_cluster, clusterName=bad_name)
    assert error["Code"] == "InvalidParameterException"
    assert "letters" in error["Message"]
    assert not namespace_exists(kube, names.cluster_namespace(bad_name))


def test_reserved_tag_keys_are_rejected_and_nothing_is_created(ecs: Any, kube: KubeClients) -> None:
    name = unique_name("reserved")
    error = ecs_error(ecs.create_cluster, clusterName=name, tags=[{"key": "aws:owner", "value": "me"}])
    assert error["Code"] == "InvalidParameterException"
    assert "aws:" in error["Message"]
    assert not namespace_exists(kube, names.cluster_namespace(name))
    assert ecs.describe_clusters(clusters=[name])["failures"][0]["reason"] == "MISSING"


def test_wire_responses_match_the_model(shim: ShimServer) -> None:
    http = requests.Session()

    def wire(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return ecs_wire(shim.url, operation, params, http=http)

    name = unique_name("wire")
    tags = [{"key": "k", "value": "v"}]
    created = wire("CreateCluster", {"clusterName": name, "tags": tags})
    assert created["cluster"]["clusterName"] == name
    described = wire(
        "DescribeClusters",
        {"clusters": [name, unique_name("missing")], "include": ["SETTINGS", "TAGS", "STATISTICS"]},
    )
    assert len(described["clusters"]) == 1 and len(described["failures"]) == 1
    assert wire("ListClusters", {"maxResults": 1})["nextToken"]
    wire("UpdateCluster", {"cluster": name, "settings": [{"name": "containerInsights", "value": "enabled"}]})
    assert wire("DeleteCluster", {"cluster": name})["cluster"]["status"] == "INACTIVE"


def test_aws_cli_creates_describes_and_deletes_a_cluster(shim: ShimServer) -> None:
    name = unique_name("cli")

    created = run_aws(shim.url, "create-cluster", "--cluster-name", name, "--tags", "key=owner,value=cli")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["cluster"]["clusterArn"] == f"{ACCOUNT_ARN}:cluster/{name}"

    described = run_aws(shim.url, "describe-clusters", "--clusters", name, "--include", "TAGS")
    assert described.returncode == 0, described.stderr
    [cluster] = json.loads(described.stdout)["clusters"]
    assert (cluster["status"], cluster["tags"]) == ("ACTIVE", [{"key": "owner", "value": "cli"}])

    deleted = run_aws(shim.url, "delete-cluster", "--cluster", name)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["cluster"]["status"] == "INACTIVE"
