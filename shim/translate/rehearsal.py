"""Migration rehearsal: the Kubernetes manifests ECS definitions become, without a server or a
cluster. The same functions the server uses, composed for `ecs-shim translate`."""

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random
from typing import Any

from shim.translate import names
from shim.translate.autoscaling import autoscaler_manifest, check_dimension, policy_put, registered
from shim.translate.blue_green import blue_green_advanced
from shim.translate.placement import PlacementFailure, PodScheduling, cluster_scheduling
from shim.translate.service_to_kube import (
    COMPLETED,
    DAEMON,
    is_external,
    kube_services,
    new_deployment_id,
    primary_deployment,
    service_pod_scheduling,
    service_record,
    service_record_updated,
    shifts_traffic,
    workload_manifest,
)
from shim.translate.task_definitions import task_definition_view, validate_registration
from shim.translate.task_sets import (
    TASK_SET_FIELDS,
    check_task_set_load_balancers,
    target_group_services,
    task_set_entry,
    task_set_manifest,
    with_primary,
    with_task_set,
)
from shim.translate.task_to_pod import RunParameters, task_to_pod

Json = dict[str, Any]
EXAMPLE_TASK_ID = "0" * 32
FIRST_DEPLOYMENT_SEED, NEW_DEPLOYMENT_SEED = 1, 2
"""Fixed deployment ids, so that every printing of a service names the same deployments."""
LONGEST_WAIT_SECONDS = 2 * 24 * 3600
"""Longer than any bake time or hook timeout: a rehearsed deployment waits for nothing."""


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
    definition creates (for an EXTERNAL service, those of its first task set, made primary with
    the service's task definition and load balancers). Placement that needs the cluster's nodes
    to decide is left to them."""
    service = _Service.created(register_input, create_service_input, cluster_name, region, account)
    return [namespace_manifest(cluster_name), *service.manifests(service.record)]


def autoscaler_manifests(
    register_input: Mapping[str, Any],
    create_service_input: Mapping[str, Any],
    scalable_target_input: Mapping[str, Any],
    scaling_policy_inputs: Sequence[Mapping[str, Any]],
    *,
    cluster_name: str,
    region: str,
    account: str,
) -> list[Json]:
    """The HorizontalPodAutoscaler of the service once its RegisterScalableTarget and
    PutScalingPolicy inputs are applied (none when no policy is one an HPA runs)."""
    service = _Service.created(register_input, create_service_input, cluster_name, region, account)
    check_dimension(scalable_target_input)
    record = registered(service.record, scalable_target_input, account=account, region=region, now=0.0)
    for policy_input in scaling_policy_inputs:
        check_dimension(policy_input)
        record = policy_put(record, policy_input, account=account, region=region, now=0.0)
    manifest = autoscaler_manifest(record, service.namespace)
    return [] if manifest is None else [manifest]


def rollout_manifests(
    register_input: Mapping[str, Any],
    create_service_input: Mapping[str, Any],
    *,
    cluster_name: str,
    region: str,
    account: str,
) -> list[tuple[str, list[Json]]]:
    """For a service whose deployments shift traffic (BLUE_GREEN, LINEAR, CANARY): the Deployment
    and Services as a new deployment (forceNewDeployment) passes each stage, with the stage's
    name and what happens in it. Empty for other services."""
    service = _Service.created(register_input, create_service_input, cluster_name, region, account)
    if not shifts_traffic(service.record):
        return []
    steady = copy.deepcopy(service.record)
    primary_deployment(steady)["rolloutState"] = COMPLETED
    steady["deploymentConfiguration"].pop("lifecycleHooks", None)  # as if each were continued
    new_id = new_deployment_id(Random(NEW_DEPLOYMENT_SEED))
    started = service_record_updated(steady, {"forceNewDeployment": True}, now=1.0, new_deployment_id=new_id)
    stages = [(started, "the new deployment waits to start (Deployment paused)")]
    scaling = blue_green_advanced(started, None, now=2.0) or started
    stages.append((scaling, "the new tasks start beside the old ones, which keep the traffic (Deployment held)"))
    desired = scaling.get("desiredCount", 0)
    running = {"deployments": [{"id": primary_deployment(scaling)["id"], "status": "PRIMARY"}]}
    running["deployments"][0].update(desiredCount=desired, runningCount=desired)
    shifted = blue_green_advanced(scaling, running, now=3.0) or scaling
    moved = "a step's share of the traffic" if shifted.get("trafficSplit") else "the traffic"
    stages.append((shifted, f"{moved} moves to the new tasks; the old ones stay"))
    cleaned, moment = shifted, 3.0 + LONGEST_WAIT_SECONDS
    while (later := blue_green_advanced(cleaned, running, now=moment)) is not None:
        cleaned, moment = later, moment + LONGEST_WAIT_SECONDS
    stages.append((cleaned, "all traffic on the new tasks; Kubernetes removes the old ones (hold lifted)"))
    return [
        (f"{primary_deployment(record).get('lifecycleStage')}: {what}", service.manifests(record))
        for record, what in stages
    ]


@dataclass(frozen=True)
class _Service:
    """A service as CreateService would make it, and where its objects go."""

    record: Json
    definition: Json
    namespace: str
    scheduling: PodScheduling

    @classmethod
    def created(
        cls,
        register_input: Mapping[str, Any],
        create_service_input: Mapping[str, Any],
        cluster_name: str,
        region: str,
        account: str,
    ) -> "_Service":
        definition = registered_view(register_input, region=region, account=account)
        params = {**create_service_input, "taskDefinition": definition["taskDefinitionArn"]}
        record = service_record(
            params,
            cluster_name=cluster_name,
            created_at=0.0,
            created_by=f"arn:aws:iam::{account}:root",
            deployment_id=new_deployment_id(Random(FIRST_DEPLOYMENT_SEED)),
            task_definition=definition,
        )
        if is_external(record):
            record = _with_first_task_set(record, params, definition)
        placement = service_pod_scheduling(record, definition, nodes=[])
        on_cluster = cluster_scheduling(cluster_name, dedicated=False, daemon=record["schedulingStrategy"] == DAEMON)
        scheduling = on_cluster if isinstance(placement, PlacementFailure) else placement.and_then(on_cluster)
        return cls(record, definition, names.cluster_namespace(cluster_name), scheduling)

    def manifests(self, record: Mapping[str, Any]) -> list[Json]:
        """The workload and Services of `record`, a state of this service."""
        if is_external(record):
            return [
                *(
                    task_set_manifest(
                        record, entry, self.definition, namespace=self.namespace, scheduling=self.scheduling
                    )
                    for entry in record["taskSets"]
                ),
                *target_group_services(
                    record, {self.definition["taskDefinitionArn"]: self.definition}, namespace=self.namespace
                ),
            ]
        workload = workload_manifest(record, self.definition, namespace=self.namespace, scheduling=self.scheduling)
        return [workload, *kube_services(record, self.definition, namespace=self.namespace)]


def _with_first_task_set(record: Json, params: Mapping[str, Any], definition: Mapping[str, Any]) -> Json:
    """An EXTERNAL service with the task set an outside tool would make first: the service's task
    definition and load balancers at full scale, primary."""
    check_task_set_load_balancers(params, definition)
    task_set_params = {key: params[key] for key in TASK_SET_FIELDS if params.get(key)}
    task_set_id = new_deployment_id(Random(FIRST_DEPLOYMENT_SEED))
    entry = task_set_entry(task_set_params, record, task_set_id=task_set_id, now=0.0)
    return with_primary(with_task_set(record, entry), entry["id"], 0.0)
