"""Migration rehearsal: the Kubernetes manifests ECS definitions become, without a server or a
cluster. The same functions the server uses, composed for `ecs-shim translate`."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shim.translate import names
from shim.translate.placement import PlacementFailure, cluster_scheduling
from shim.translate.service_to_kube import (
    DAEMON,
    kube_services,
    new_deployment_id,
    service_pod_scheduling,
    service_record,
    workload_manifest,
)
from shim.translate.task_definitions import task_definition_view, validate_registration
from shim.translate.task_to_pod import RunParameters, task_to_pod

Json = dict[str, Any]
EXAMPLE_TASK_ID = "0" * 32


def registered_view(register_input: Mapping[str, Any], *, region: str, account: str) -> Json:
    """The TaskDefinition ECS would return for a RegisterTaskDefinition input (revision 1)."""
    params = dict(register_input)
    validate_registration(params)
    return task_definition_view(
        params,
        family_revision=1,
        region=region,
        account=account,
        registered_at=datetime.now(UTC),
        registered_by=f"arn:aws:iam::{account}:root",
    )


def namespace_manifest(cluster_name: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": names.cluster_namespace(cluster_name),
            "labels": {names.LABEL_MANAGED: "true", names.LABEL_CLUSTER: names.label_value(cluster_name)},
            "annotations": {names.ANNOTATION_CLUSTER_NAME: cluster_name},
        },
    }


def task_manifests(register_input: Mapping[str, Any], *, cluster_name: str, region: str, account: str) -> list[Json]:
    """The Namespace and the Pod one RunTask of this task definition creates."""
    definition = registered_view(register_input, region=region, account=account)
    run = RunParameters(cluster_name=cluster_name, task_id=EXAMPLE_TASK_ID)
    pod = task_to_pod(definition, run, names.cluster_namespace(cluster_name))
    pod["spec"] = cluster_scheduling(cluster_name, dedicated=False, daemon=False).merged_into(pod["spec"])
    return [namespace_manifest(cluster_name), pod]


def service_manifests(
    register_input: Mapping[str, Any],
    create_service_input: Mapping[str, Any],
    *,
    cluster_name: str,
    region: str,
    account: str,
) -> list[Json]:
    """The Namespace, Deployment or DaemonSet, and Services a CreateService of this task
    definition creates. Placement that needs the cluster's nodes to decide is left to them."""
    definition = registered_view(register_input, region=region, account=account)
    params = {**create_service_input, "taskDefinition": definition["taskDefinitionArn"]}
    record = service_record(
        params,
        cluster_name=cluster_name,
        created_at=0.0,
        created_by=f"arn:aws:iam::{account}:root",
        deployment_id=new_deployment_id(),
        task_definition=definition,
    )
    placement = service_pod_scheduling(record, definition, nodes=[])
    on_cluster = cluster_scheduling(cluster_name, dedicated=False, daemon=record["schedulingStrategy"] == DAEMON)
    scheduling = on_cluster if isinstance(placement, PlacementFailure) else placement.and_then(on_cluster)
    namespace = names.cluster_namespace(cluster_name)
    workload = workload_manifest(record, definition, namespace=namespace, scheduling=scheduling)
    return [namespace_manifest(cluster_name), workload, *kube_services(record, definition, namespace=namespace)]
