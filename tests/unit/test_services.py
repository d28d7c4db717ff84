"""ECS services -> Deployments, DaemonSets and Services, and DescribeServices read back from the
Kubernetes objects (as the API server sends them)."""

import copy
import json
import math
import re
import uuid
from datetime import UTC, datetime
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client import ApiClient

from shim.errors import InvalidParameterException, ServiceNotActiveException, UnsupportedFeatureException
from shim.schemas.responses import output_problems
from shim.translate import names
from shim.translate.placement import PodScheduling
from shim.translate.service_from_kube import (
    STEADY_SECONDS,
    UNHEALTHY_STOP_REASON,
    circuit_breaker_threshold,
    is_stable,
    rollback_target,
    scaling_stop_reason,
    service_view,
    unhealthy_tasks,
)
from shim.translate.service_to_kube import (
    CIRCUIT_BREAKER_REASON,
    MAX_DEPLOYMENT_HISTORY,
    iam_role,
    kube_services,
    new_deployment_id,
    primary_deployment,
    registry_service_name,
    rolling_update,
    scaling_marks_to_clear,
    service_record,
    service_record_observed,
    service_record_rolled_back,
    service_record_updated,
    service_selector,
    validate_service_params,
    workload_manifest,
)

API = ApiClient()
REGION, ACCOUNT, CLUSTER, NAMESPACE = "us-east-1", "123456789012", "default", "ecs-default"
CREATOR = "arn:aws:iam::123456789012:role/deployer"
T0 = 1_700_000_000.0
D1, D2, D3 = "ecs-svc/1111111111111111111", "ecs-svc/2222222222222222222", "ecs-svc/3333333333333333333"
D4 = "ecs-svc/4444444444444444444"
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def arn(revision: int) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:{revision}"


def definition(revision: int = 1, **container_fields: Any) -> dict[str, Any]:
    app = {
        "name": "app",
        "image": f"registry.example/web:{revision}",
        "memory": 256,
        "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "appProtocol": "http"}],
        "healthCheck": {"command": ["CMD-SHELL", "curl -f localhost:8080/health"], "interval": 10},
        **container_fields,
    }
    return {"taskDefinitionArn": arn(revision), "family": "web", "revision": revision, "containerDefinitions": [app]}


def params(**fields: Any) -> dict[str, Any]:
    return {"serviceName": "web", "taskDefinition": arn(1), "desiredCount": 3, **fields}


def create(deployment_id: str = D1, **fields: Any) -> dict[str, Any]:
    return service_record(
        params(**fields), cluster_name=CLUSTER, created_at=T0, created_by=CREATOR, deployment_id=deployment_id
    )


def daemon(**fields: Any) -> dict[str, Any]:
    return create(**{"schedulingStrategy": "DAEMON", "desiredCount": None, **fields})


def update(record: dict[str, Any], deployment_id: str | None = D2, now: float = T0 + 600, **fields: Any) -> Any:
    return service_record_updated(record, fields, now=now, new_deployment_id=deployment_id)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def round_trips(manifest: dict[str, Any], model: str) -> None:
    """The official client models keep every field: nothing is misspelt or misplaced."""
    assert API.sanitize_for_serialization(API._ApiClient__deserialize(manifest, model)) == manifest  # type: ignore[attr-defined]


# Kubernetes objects as the API server returns them


def workload(
    record: dict[str, Any],
    task_definition: dict[str, Any] | None = None,
    *,
    generation: int = 1,
    observed: int | None = None,
    progressing: tuple[str, str, str] = ("True", "NewReplicaSetAvailable", "has successfully progressed."),
    at: float = T0 + 60,
    scheduled: int = 0,
) -> dict[str, Any]:
    """The workload of `record` after Kubernetes stored it, with a status."""
    primary = primary_deployment(record)
    manifest = workload_manifest(
        record,
        task_definition or definition(int(primary["taskDefinition"].rsplit(":", 1)[1])),
        namespace=NAMESPACE,
        scheduling=None,
    )
    manifest["metadata"].update(
        uid=str(uuid.uuid5(uuid.NAMESPACE_DNS, manifest["metadata"]["name"])),
        generation=generation,
        creationTimestamp=iso(T0),
        resourceVersion="4711",
    )
    if manifest["kind"] == "DaemonSet":
        manifest["status"] = {
            "observedGeneration": generation if observed is None else observed,
            "desiredNumberScheduled": scheduled,
            "currentNumberScheduled": scheduled,
            "numberReady": scheduled,
            "numberMisscheduled": 0,
            "updatedNumberScheduled": scheduled,
        }
        return manifest
    status, reason, message = progressing
    manifest["status"] = {
        "observedGeneration": generation if observed is None else observed,
        "replicas": manifest["spec"]["replicas"],
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": iso(T0 + 5),
                "lastTransitionTime": iso(T0 + 5),
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": status,
                "lastUpdateTime": iso(at),
                "lastTransitionTime": iso(at),
                "reason": reason,
                "message": f'ReplicaSet "{replica_set_name(manifest, primary["id"])}" {message}',
            },
        ],
    }
    return manifest


def replica_set_name(owner: dict[str, Any], deployment_id: str) -> str:
    return f"{owner['metadata']['name']}-{names.short_hash(deployment_id, 10)}"


def replica_set(owner: dict[str, Any], replicas: int, *, created: float = T0) -> dict[str, Any]:
    """The ReplicaSet the Deployment controller made for `owner`'s current template."""
    template = copy.deepcopy(owner["spec"]["template"])
    deployment_id = template["metadata"]["annotations"]["ecs.shim.io/deployment-id"]
    name = replica_set_name(owner, deployment_id)
    template["metadata"]["labels"]["pod-template-hash"] = name.rsplit("-", 1)[1]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
            "creationTimestamp": iso(created),
            "labels": template["metadata"]["labels"],
            "annotations": {"deployment.kubernetes.io/revision": "1", "deployment.kubernetes.io/desired-replicas": "3"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"].get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": replicas, "selector": owner["spec"]["selector"], "template": template},
        "status": {"replicas": replicas, "observedGeneration": 1},
    }


def pod(
    owner: dict[str, Any],
    index: int,
    *,
    created: float = T0 + 1,
    ready: bool = True,
    phase: str = "Running",
    restarts: int = 0,
    deleted: float | None = None,
) -> dict[str, Any]:
    """A pod of `owner` (a ReplicaSet or DaemonSet): Running and Ready unless told otherwise."""
    template = owner["spec"]["template"]
    name = f"{owner['metadata']['name']}-{index:05d}"
    metadata: dict[str, Any] = {
        "name": name,
        "generateName": f"{owner['metadata']['name']}-",
        "namespace": NAMESPACE,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
        "creationTimestamp": iso(created),
        "labels": dict(template["metadata"]["labels"]),
        "annotations": dict(template["metadata"]["annotations"]),
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"], "controller": True}
        ],
    }
    if deleted is not None:
        metadata.update(deletionTimestamp=iso(deleted + 30), deletionGracePeriodSeconds=30)
    waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}}
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": iso(created)},
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastProbeTime": None,
                "lastTransitionTime": iso(created + 2),
            },
        ],
        "containerStatuses": [
            {
                "name": "app",
                "image": template["spec"]["containers"][0]["image"],
                "ready": ready,
                "started": ready,
                "restartCount": restarts,
                "state": {"running": {"startedAt": iso(created + 1)}} if ready else waiting,
            }
        ],
        "hostIP": "10.0.0.1",
        "podIP": f"10.244.0.{index}",
        "startTime": iso(created),
    }
    if phase == "Pending":
        status.pop("containerStatuses")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"], "status": status}


def view(
    record: dict[str, Any],
    owner: dict[str, Any] | None,
    replica_sets: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    *,
    now: float = T0 + 3600,
    include_tags: bool = False,
    stopped_tasks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """service_view, checked against the DescribeServices output shape every time."""
    shown = service_view(
        record,
        owner,
        replica_sets,
        pods,
        region=REGION,
        account=ACCOUNT,
        now=now,
        include_tags=include_tags,
        stopped_tasks=stopped_tasks or [],
    )
    assert output_problems("DescribeServices", {"services": [shown], "failures": []}) == []
    return shown


def steady(record: dict[str, Any], count: int = 3) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """A service whose PRIMARY runs `count` ready tasks: (workload, its ReplicaSet, pods)."""
    owner = workload(record)
    current = replica_set(owner, count)
    return owner, current, [pod(current, i) for i in range(count)]


def messages(shown: dict[str, Any]) -> list[str]:
    return [event["message"] for event in shown["events"]]


# Validation


@pytest.mark.parametrize("name", ["web", "Web_App-2", "a" * 255])
def test_service_names_of_letters_digits_hyphens_underscores_up_to_255_are_accepted(name: str) -> None:
    validate_service_params(params(serviceName=name))


@pytest.mark.parametrize("name", ["", "a" * 256, "web app", "web.app", "web/1"])
def test_other_service_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidParameterException, match="Service name"):
        validate_service_params(params(serviceName=name))


def test_replica_service_needs_a_desired_count_of_zero_or_more() -> None:
    validate_service_params(params(desiredCount=0))
    with pytest.raises(InvalidParameterException, match="desiredCount must be specified"):
        validate_service_params(params(desiredCount=None))
    with pytest.raises(InvalidParameterException, match="greater than or equal to 0"):
        validate_service_params(params(desiredCount=-1))


def test_daemon_service_refuses_a_desired_count_and_placement_strategies_as_ecs_does() -> None:
    with pytest.raises(InvalidParameterException) as caught:
        validate_service_params(params(schedulingStrategy="DAEMON"))
    assert caught.value.message == (
        "The daemon scheduling strategy does not support a desired count for services. "
        "Remove the desired count value and try again"
    )
    with pytest.raises(InvalidParameterException) as caught:
        validate_service_params(
            params(schedulingStrategy="DAEMON", desiredCount=None, placementStrategy=[{"type": "random"}])
        )
    assert caught.value.message == (
        "The daemon scheduling strategy does not support placement strategies. "
        "Remove the placement strategy and try again"
    )


def test_daemon_service_refuses_a_maximum_percent_above_100() -> None:
    with pytest.raises(InvalidParameterException, match="does not support values above 100 for maximumPercent"):
        validate_service_params(
            params(schedulingStrategy="DAEMON", desiredCount=None, deploymentConfiguration={"maximumPercent": 200})
        )


@pytest.mark.parametrize(
    ("maximum", "minimum", "message"),
    [
        (200, 101, "minimumHealthyPercent must be between 0 and 100"),
        (200, -1, "minimumHealthyPercent must be between 0 and 100"),
        (50, 60, "maximumPercent must be greater than or equal to minimumHealthyPercent"),
        (100, 100, "Both maximumPercent and minimumHealthyPercent cannot be 100 as this will block deployments"),
    ],
)
def test_deployment_percents_that_cannot_roll_are_refused(maximum: int, minimum: int, message: str) -> None:
    configuration = {"maximumPercent": maximum, "minimumHealthyPercent": minimum}
    with pytest.raises(InvalidParameterException, match=message):
        validate_service_params(params(deploymentConfiguration=configuration))


def test_only_the_ecs_deployment_controller_is_supported_with_every_deployment_strategy() -> None:
    with pytest.raises(UnsupportedFeatureException):
        validate_service_params(params(deploymentController={"type": "CODE_DEPLOY"}))
    for strategy in ("ROLLING", "LINEAR", "CANARY"):
        validate_service_params(params(deploymentConfiguration={"strategy": strategy}))
    validate_service_params(params(deploymentConfiguration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5}))


def test_load_balancers_need_a_container_and_port_that_the_task_definition_maps() -> None:
    target = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
    good = {"targetGroupArn": target, "containerName": "app", "containerPort": 8080}
    validate_service_params(params(loadBalancers=[good]), task_definition=definition())
    with pytest.raises(InvalidParameterException, match="containerName and a containerPort"):
        validate_service_params(params(loadBalancers=[{"targetGroupArn": target, "containerPort": 8080}]))
    with pytest.raises(InvalidParameterException) as caught:
        validate_service_params(params(loadBalancers=[{**good, "containerPort": 9090}]), task_definition=definition())
    assert caught.value.message == "The container app did not have a container port 9090 defined."
    with pytest.raises(InvalidParameterException, match="The container db does not exist"):
        validate_service_params(params(loadBalancers=[{**good, "containerName": "db"}]), task_definition=definition())


def test_at_most_five_load_balancers_and_one_registry() -> None:
    balancer = {"loadBalancerName": "classic", "containerName": "app", "containerPort": 8080}
    validate_service_params(params(loadBalancers=[balancer] * 5))
    with pytest.raises(InvalidParameterException, match="Too many load balancers: 6"):
        validate_service_params(params(loadBalancers=[balancer] * 6))
    registry = {"registryArn": "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1"}
    with pytest.raises(InvalidParameterException, match="one service registry"):
        validate_service_params(params(serviceRegistries=[registry, registry]))


def test_placement_is_validated_counting_the_task_definitions_constraints() -> None:
    with pytest.raises(InvalidParameterException, match="Invalid placement strategy type"):
        validate_service_params(params(placementStrategy=[{"type": "closest"}]))
    member_of = {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}
    task_definition = {**definition(), "placementConstraints": [member_of] * 4}
    validate_service_params(params(placementConstraints=[member_of] * 6), task_definition=task_definition)
    with pytest.raises(InvalidParameterException, match="Too many placement constraints: 11"):
        validate_service_params(params(placementConstraints=[member_of] * 7), task_definition=task_definition)


def test_negative_grace_period_and_reserved_tags_are_refused() -> None:
    with pytest.raises(InvalidParameterException, match="healthCheckGracePeriodSeconds"):
        validate_service_params(params(healthCheckGracePeriodSeconds=-5))
    with pytest.raises(InvalidParameterException, match="reserved"):
        validate_service_params(params(tags=[{"key": "aws:owner", "value": "x"}]))


# The record


def test_new_deployment_ids_are_ecs_svc_and_19_digits() -> None:
    ids = {new_deployment_id(Random(seed)) for seed in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"ecs-svc/[1-9][0-9]{18}", i) for i in ids)
    assert new_deployment_id(Random(7)) == new_deployment_id(Random(7))
    assert re.fullmatch(r"ecs-svc/[0-9]{19}", new_deployment_id())


def test_replica_record_fills_in_ecs_defaults_and_starts_one_primary_deployment() -> None:
    record = create()
    assert record["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    assert (record["schedulingStrategy"], record["launchType"], record["status"]) == ("REPLICA", "EC2", "ACTIVE")
    assert (record["desiredCount"], record["createdAt"], record["createdBy"]) == (3, T0, CREATOR)
    assert (record["propagateTags"], record["enableECSManagedTags"]) == ("NONE", False)
    [deployment] = record["deployments"]
    assert {key: deployment[key] for key in ("id", "status", "taskDefinition", "rolloutState", "createdAt")} == {
        "id": D1,
        "status": "PRIMARY",
        "taskDefinition": arn(1),
        "rolloutState": "IN_PROGRESS",
        "createdAt": T0,
    }
    assert deployment["rolloutStateReason"] == f"ECS deployment {D1} in progress."


def test_daemon_record_has_daemon_defaults_and_no_desired_count() -> None:
    record = daemon()
    assert "desiredCount" not in record
    assert record["deploymentConfiguration"]["maximumPercent"] == 100
    assert record["deploymentConfiguration"]["minimumHealthyPercent"] == 0


def test_given_deployment_settings_keep_the_defaults_of_the_others() -> None:
    configuration = {"minimumHealthyPercent": 50, "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    record = create(deploymentConfiguration=configuration)
    assert record["deploymentConfiguration"] == {**configuration, "maximumPercent": 200}


def test_scaling_alone_keeps_the_deployment() -> None:
    record = update(create(), desiredCount=5)
    assert record["desiredCount"] == 5
    assert [(d["id"], d["status"]) for d in record["deployments"]] == [(D1, "PRIMARY")]


def test_deployment_settings_alone_keep_the_deployment_and_merge() -> None:
    record = update(create(), deploymentConfiguration={"maximumPercent": 150})
    assert [d["id"] for d in record["deployments"]] == [D1]
    assert record["deploymentConfiguration"]["maximumPercent"] == 150
    assert record["deploymentConfiguration"]["minimumHealthyPercent"] == 100


def test_new_revision_starts_a_new_primary_and_the_old_one_becomes_active() -> None:
    record = update(create(), taskDefinition=arn(2))
    assert record["taskDefinition"] == arn(2)
    assert [(d["id"], d["status"], d["taskDefinition"]) for d in record["deployments"]] == [
        (D1, "ACTIVE", arn(1)),
        (D2, "PRIMARY", arn(2)),
    ]
    assert primary_deployment(record)["createdAt"] == T0 + 600


@pytest.mark.parametrize(
    "change",
    [
        {"forceNewDeployment": True},
        {"placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}]},
        {"placementConstraints": [{"type": "distinctInstance"}]},
        {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}},
        {"healthCheckGracePeriodSeconds": 60},
    ],
)
def test_forced_or_task_shaping_updates_start_a_new_deployment(change: dict[str, Any]) -> None:
    record = update(create(), **change)
    assert [(d["id"], d["status"]) for d in record["deployments"]] == [(D1, "ACTIVE"), (D2, "PRIMARY")]
    assert primary_deployment(record)["taskDefinition"] == arn(1)


def test_a_new_deployment_without_a_given_id_gets_a_fresh_one() -> None:
    record = update(create(), deployment_id=None, forceNewDeployment=True)
    assert re.fullmatch(r"ecs-svc/[0-9]{19}", primary_deployment(record)["id"])
    assert primary_deployment(record)["id"] != D1


def test_updates_of_a_draining_service_fail_as_on_ecs() -> None:
    with pytest.raises(ServiceNotActiveException, match=r"Service was not ACTIVE\."):
        update({**create(), "status": "DRAINING"}, desiredCount=1)


def test_updates_are_validated_like_creations() -> None:
    with pytest.raises(InvalidParameterException, match="desired count"):
        update(daemon(), desiredCount=2)
    with pytest.raises(InvalidParameterException, match="placement strategies"):
        update(daemon(), placementStrategy=[{"type": "random"}])
    with pytest.raises(InvalidParameterException, match="Both maximumPercent"):
        update(create(), deploymentConfiguration={"maximumPercent": 100})


def test_deployment_history_is_bounded() -> None:
    record = create()
    for n in range(MAX_DEPLOYMENT_HISTORY + 5):
        record = update(record, deployment_id=f"ecs-svc/{n:019d}", forceNewDeployment=True)
    assert len(record["deployments"]) == MAX_DEPLOYMENT_HISTORY
    assert [d["status"] for d in record["deployments"]].count("PRIMARY") == 1


# Manifests


def test_replica_service_is_a_deployment_selecting_its_tasks() -> None:
    manifest = workload_manifest(create(), definition(), namespace=NAMESPACE, scheduling=None)
    round_trips(manifest, "V1Deployment")
    assert (manifest["apiVersion"], manifest["kind"]) == ("apps/v1", "Deployment")
    metadata, spec = manifest["metadata"], manifest["spec"]
    assert metadata["name"] == f"svc-{names.dns_label('web', 59)}"
    assert metadata["namespace"] == NAMESPACE
    assert spec["replicas"] == 3
    assert spec["revisionHistoryLimit"] >= 10
    template = spec["template"]
    assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert template["spec"]["restartPolicy"] == "Always"
    assert "readinessProbe" in template["spec"]["containers"][0]
    assert "livenessProbe" not in template["spec"]["containers"][0], "the reconciler replaces unhealthy tasks"


def test_task_template_carries_the_service_group_and_deployment() -> None:
    template = workload_manifest(create(), definition(), namespace=NAMESPACE, scheduling=None)["spec"]["template"]
    labels, annotations = template["metadata"]["labels"], template["metadata"]["annotations"]
    assert labels[names.LABEL_GROUP] == names.label_value("service:web")
    assert labels[names.LABEL_STARTED_BY] == names.label_value(D1)
    assert labels[names.LABEL_SERVICE] == "web"
    assert labels[names.LABEL_CLUSTER] == CLUSTER
    assert all(len(value) <= 63 and LABEL_VALUE.fullmatch(value) for value in labels.values())
    assert annotations[names.ANNOTATION_GROUP] == "service:web"
    assert annotations[names.ANNOTATION_STARTED_BY] == D1
    assert annotations["ecs.shim.io/deployment-id"] == D1
    assert annotations[names.ANNOTATION_TASK_DEFINITION_ARN] == arn(1)
    assert annotations[names.ANNOTATION_CLUSTER_NAME] == CLUSTER
    assert annotations[names.ANNOTATION_LAUNCH_TYPE] == "EC2"


def test_a_new_deployment_changes_only_the_templates_deployment_identity() -> None:
    before = workload_manifest(create(), definition(), namespace=NAMESPACE, scheduling=None)
    after = workload_manifest(
        update(create(), forceNewDeployment=True), definition(), namespace=NAMESPACE, scheduling=None
    )
    assert after["spec"]["template"] != before["spec"]["template"]
    for manifest in (before, after):
        template = manifest["spec"]["template"]
        del template["metadata"]["labels"][names.LABEL_STARTED_BY]
        for key in (names.ANNOTATION_STARTED_BY, "ecs.shim.io/deployment-id"):
            del template["metadata"]["annotations"][key]
    assert after == before


@pytest.mark.parametrize(
    ("desired", "maximum", "minimum", "max_surge", "max_unavailable"),
    [
        (0, 200, 100, 0, 1),
        (1, 200, 100, 1, 0),
        (3, 200, 100, 3, 0),
        (4, 200, 100, 4, 0),
        (10, 200, 100, 10, 0),
        (0, 150, 50, 0, 1),
        (1, 150, 50, 0, 1),
        (3, 150, 50, 1, 1),
        (4, 150, 50, 2, 2),
        (10, 150, 50, 5, 5),
        (1, 100, 0, 0, 1),
        (3, 100, 0, 0, 3),
        (4, 125, 75, 1, 1),
        (10, 110, 90, 1, 1),
        (3, 100, 67, 0, 1),
        (10, 100, 66, 0, 3),
        (3, 133, 100, 0, 1),
        (4, 300, 25, 8, 3),
    ],
)
def test_rolling_update_arithmetic_is_exact(
    desired: int, maximum: int, minimum: int, max_surge: int, max_unavailable: int
) -> None:
    assert rolling_update(desired, maximum, minimum) == (max_surge, max_unavailable)
    record = create(
        desiredCount=desired, deploymentConfiguration={"maximumPercent": maximum, "minimumHealthyPercent": minimum}
    )
    strategy = workload_manifest(record, definition(), namespace=NAMESPACE, scheduling=None)["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
    }


@settings(max_examples=200)
@given(st.integers(0, 500), st.integers(0, 100), st.integers(0, 300))
def test_rolling_update_never_leaves_ecs_bounds_unless_ecs_would_be_stuck(
    desired: int, minimum: int, extra: int
) -> None:
    maximum = minimum + extra
    max_surge, max_unavailable = rolling_update(desired, maximum, minimum)
    assert max_surge >= 0 and max_unavailable >= 0 and max_surge + max_unavailable > 0
    assert max_surge == 0 or desired + max_surge <= desired * maximum // 100
    stuck = desired * maximum // 100 <= desired and desired - math.ceil(desired * minimum / 100) <= 0
    assert desired - max_unavailable >= math.ceil(desired * minimum / 100) or (stuck and max_unavailable == 1)


def test_draining_replica_service_scales_to_zero() -> None:
    manifest = workload_manifest({**create(), "status": "DRAINING"}, definition(), namespace=NAMESPACE, scheduling=None)
    assert manifest["spec"]["replicas"] == 0


def marked(replica_set_object: dict[str, Any], desired: int | None) -> dict[str, Any]:
    """`replica_set_object` with the Deployment controller's desired-replicas mark (None: none)."""
    annotations = replica_set_object["metadata"]["annotations"]
    annotations.pop("deployment.kubernetes.io/desired-replicas")
    if desired is not None:
        annotations["deployment.kubernetes.io/desired-replicas"] = str(desired)
    return replica_set_object


def manifest_of(record: dict[str, Any]) -> dict[str, Any]:
    revision = int(primary_deployment(record)["taskDefinition"].rsplit(":", 1)[1])
    return workload_manifest(record, definition(revision), namespace=NAMESPACE, scheduling=None)


def test_a_new_revision_with_a_new_count_unmarks_the_old_replica_set_so_it_is_not_scaled() -> None:
    old = create(desiredCount=1)
    old_replica_set = marked(replica_set(workload(old), 1), 1)
    new = update(old, taskDefinition=arn(2), desiredCount=3)
    assert scaling_marks_to_clear(manifest_of(new), [old_replica_set]) == [old_replica_set["metadata"]["name"]]


def test_a_new_count_mid_rollout_unmarks_every_active_replica_set() -> None:
    old = create(desiredCount=2)
    rolling = update(old, taskDefinition=arn(2))
    old_replica_set = marked(replica_set(workload(old), 2), 2)
    new_replica_set = marked(replica_set(workload(rolling), 2), 2)
    emptied = marked(replica_set(workload(update(old, deployment_id=D3, forceNewDeployment=True)), 0), 2)
    unmarked = marked(replica_set(workload(update(old, deployment_id=D4, forceNewDeployment=True)), 1), None)
    scaled = update(rolling, deployment_id=None, desiredCount=4)
    cleared = scaling_marks_to_clear(manifest_of(scaled), [old_replica_set, new_replica_set, emptied, unmarked])
    assert cleared == [old_replica_set["metadata"]["name"], new_replica_set["metadata"]["name"]]


def test_marks_stay_when_the_controller_would_scale_no_old_replica_set() -> None:
    steady_record = create(desiredCount=2)
    current = marked(replica_set(workload(steady_record), 2), 2)
    retired = marked(replica_set(workload(update(steady_record, forceNewDeployment=True)), 0), 2)
    scaled = update(steady_record, deployment_id=None, desiredCount=5)
    assert scaling_marks_to_clear(manifest_of(scaled), [current, retired]) == []
    rolled = update(steady_record, taskDefinition=arn(2))
    assert scaling_marks_to_clear(manifest_of(rolled), [current]) == []
    assert scaling_marks_to_clear(workload(daemon()), [current]) == []


def test_circuit_breaker_sets_a_short_progress_deadline_and_records_rollback() -> None:
    breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    manifest = workload_manifest(
        create(deploymentConfiguration=breaker, healthCheckGracePeriodSeconds=20),
        definition(),
        namespace=NAMESPACE,
        scheduling=None,
    )
    assert manifest["spec"]["progressDeadlineSeconds"] == 50
    assert manifest["metadata"]["annotations"]["ecs.shim.io/circuit-breaker"] == "rollback"
    plain = workload_manifest(create(), definition(), namespace=NAMESPACE, scheduling=None)
    assert plain["spec"]["progressDeadlineSeconds"] == 600
    assert "ecs.shim.io/circuit-breaker" not in plain["metadata"]["annotations"]


def unhealthy(pod_of: dict[str, Any], lost_at: float) -> dict[str, Any]:
    """`pod_of` with its container running but no longer passing its health check since `lost_at`."""
    sick = copy.deepcopy(pod_of)
    sick["status"]["conditions"][1].update(status="False", lastTransitionTime=iso(lost_at))
    sick["status"]["containerStatuses"][0]["ready"] = False
    return sick


def test_unhealthy_tasks_are_replaced_once_the_grace_period_is_over() -> None:
    owner = workload(create())
    healthy = pod(replica_set(owner, 2), 1)
    sick = unhealthy(pod(replica_set(owner, 2), 2), lost_at=T0 + 30)
    assert unhealthy_tasks(create(), [healthy, sick], T0 + 31) == [sick]
    patient = create(healthCheckGracePeriodSeconds=60)
    assert unhealthy_tasks(patient, [healthy, sick], T0 + 31) == []
    assert unhealthy_tasks(patient, [healthy, sick], T0 + 61) == [sick]
    going = unhealthy(pod(replica_set(owner, 2), 3, deleted=T0 + 40), lost_at=T0 + 30)
    assert unhealthy_tasks(create(), [going], T0 + 41) == [], "a task already stopping is not stopped again"


def test_tasks_stopped_for_their_health_are_told_and_count_as_failed() -> None:
    record = update(completed(create(deploymentConfiguration=breaker())), taskDefinition=arn(2))
    owner, replica_sets, pods = failing(record, restarts=0)
    failed = [
        {**stopped_task(D2, 100 + i, "ServiceSchedulerInitiated", T0 + 603), "stoppedReason": UNHEALTHY_STOP_REASON}
        for i in range(3)
    ]
    shown = view(record, owner, replica_sets, pods, stopped_tasks=failed)
    assert shown["deployments"][0]["failedTasks"] == 3
    messages = [event["message"] for event in shown["events"]]
    assert f"(service web) (task {100:032x}) failed container health checks." in messages


def test_placement_scheduling_is_merged_into_the_template() -> None:
    spread = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": service_selector("web")},
    }
    zone = {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [zone]}}}
    scheduling = PodScheduling(affinity=affinity, topology_spread_constraints=[spread], scheduler_name="ecs-binpack")
    manifest = workload_manifest(create(), definition(), namespace=NAMESPACE, scheduling=scheduling)
    round_trips(manifest, "V1Deployment")
    spec = manifest["spec"]["template"]["spec"]
    assert spec["topologySpreadConstraints"] == [spread]
    assert spec["affinity"] == affinity
    assert spec["schedulerName"] == "ecs-binpack"


def test_daemon_service_is_a_daemon_set_with_daemon_rolling_defaults() -> None:
    zone = {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [zone]}}}
    manifest = workload_manifest(
        daemon(), definition(), namespace=NAMESPACE, scheduling=PodScheduling(affinity=affinity)
    )
    round_trips(manifest, "V1DaemonSet")
    assert manifest["kind"] == "DaemonSet"
    assert "replicas" not in manifest["spec"]
    assert manifest["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "100%"},
    }
    assert manifest["spec"]["template"]["spec"]["affinity"] == affinity
    half = workload_manifest(
        daemon(deploymentConfiguration={"minimumHealthyPercent": 50}),
        definition(),
        namespace=NAMESPACE,
        scheduling=None,
    )
    assert half["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == "50%"


def test_draining_daemon_service_fits_no_node() -> None:
    manifest = workload_manifest({**daemon(), "status": "DRAINING"}, definition(), namespace=NAMESPACE, scheduling=None)
    round_trips(manifest, "V1DaemonSet")
    terms = manifest["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "ecs.shim.io/no-node", "operator": "Exists"}]}]


def test_service_and_managed_tags_are_propagated_to_tasks_as_of_the_deployment() -> None:
    tags = [{"key": "team", "value": "payments"}]
    record = create(tags=tags, propagateTags="SERVICE", enableECSManagedTags=True)
    template = workload_manifest(record, definition(), namespace=NAMESPACE, scheduling=None)["spec"]["template"]
    assert sorted(t["key"] for t in json.loads(template["metadata"]["annotations"][names.ANNOTATION_TAGS])) == [
        "aws:ecs:clusterName",
        "aws:ecs:serviceName",
        "team",
    ]
    retagged = {**record, "tags": [{"key": "team", "value": "search"}]}
    later = workload_manifest(retagged, definition(), namespace=NAMESPACE, scheduling=None)["spec"]["template"]
    assert later == template


def test_a_rolled_back_service_gets_its_old_template_back() -> None:
    breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    record = create(deploymentConfiguration=breaker, placementStrategy=[{"type": "spread", "field": "instanceId"}])
    original = workload_manifest(record, definition(1), namespace=NAMESPACE, scheduling=None)
    record = completed(record)
    failed = update(record, taskDefinition=arn(2), placementStrategy=[{"type": "binpack", "field": "memory"}])
    restored = service_record_rolled_back(failed, failed_id=D2, restored_id=D1, now=T0 + 700)
    assert restored["placementStrategy"] == [{"type": "spread", "field": "instanceId"}]
    assert restored["taskDefinition"] == arn(1)
    assert workload_manifest(restored, definition(1), namespace=NAMESPACE, scheduling=None) == original


# Kubernetes Services


def test_no_load_balancer_or_registry_means_no_kubernetes_service() -> None:
    assert kube_services(create(), definition(), namespace=NAMESPACE) == []


def test_load_balancer_is_a_cluster_ip_service_on_the_container_port() -> None:
    target = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
    record = create(loadBalancers=[{"targetGroupArn": target, "containerName": "app", "containerPort": 8080}])
    [service] = kube_services(record, definition(), namespace=NAMESPACE)
    round_trips(service, "V1Service")
    assert DNS_1035.fullmatch(service["metadata"]["name"]) and len(service["metadata"]["name"]) <= 63
    assert service["metadata"]["namespace"] == NAMESPACE
    assert service["metadata"]["annotations"]["ecs.shim.io/target-group-arn"] == target
    assert service["spec"] == {
        "type": "ClusterIP",
        "selector": service_selector("web"),
        "ports": [{"port": 8080, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"}],
    }


def test_the_service_type_tag_asks_for_a_load_balancer_service() -> None:
    balancer = {"loadBalancerName": "classic", "containerName": "app", "containerPort": 8080}
    record = create(loadBalancers=[balancer], tags=[{"key": "ecs-shim/service-type", "value": "LoadBalancer"}])
    [service] = kube_services(record, definition(), namespace=NAMESPACE)
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"]["ecs.shim.io/load-balancer-name"] == "classic"


def test_target_groups_on_the_same_port_share_one_service_and_ports_differ() -> None:
    task_definition = definition()
    task_definition["containerDefinitions"][0]["portMappings"].append({"containerPort": 9090, "protocol": "udp"})
    groups = [
        {
            "targetGroupArn": f"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/{n}/1",
            "containerName": "app",
            "containerPort": port,
        }
        for n, port in (("a", 8080), ("b", 8080), ("c", 9090))
    ]
    services = kube_services(create(loadBalancers=groups), task_definition, namespace=NAMESPACE)
    assert [s["spec"]["ports"][0]["port"] for s in services] == [8080, 9090]
    assert services[1]["spec"]["ports"][0]["protocol"] == "UDP"
    assert len({s["metadata"]["name"] for s in services}) == 2


def test_service_registry_is_a_headless_service_named_for_discovery() -> None:
    registry = {
        "registryArn": "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1",
        "containerName": "app",
        "containerPort": 8080,
    }
    [service] = kube_services(create(serviceRegistries=[registry]), definition(), namespace=NAMESPACE)
    round_trips(service, "V1Service")
    assert service["metadata"]["name"] == "web"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == service_selector("web")
    assert service["spec"]["ports"] == [{"port": 8080, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"}]


@pytest.mark.parametrize("name", ["Web_App", "9lives", "a" * 64])
def test_registry_names_kubernetes_refuses_get_a_stable_stand_in(name: str) -> None:
    stand_in = registry_service_name(name)
    assert DNS_1035.fullmatch(stand_in) and len(stand_in) <= 63
    assert stand_in != registry_service_name(name.upper() + "x")


# Views


def test_new_service_shows_one_primary_deployment_in_progress() -> None:
    shown = view(create(), None, [], [])
    assert shown["serviceArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/web"
    assert shown["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
    assert (shown["desiredCount"], shown["runningCount"], shown["pendingCount"]) == (3, 0, 0)
    [deployment] = shown["deployments"]
    assert (deployment["id"], deployment["status"], deployment["rolloutState"]) == (D1, "PRIMARY", "IN_PROGRESS")
    assert shown["taskDefinition"] == arn(1)
    assert (shown["createdBy"], shown["enableExecuteCommand"], shown["schedulingStrategy"]) == (
        CREATOR,
        False,
        "REPLICA",
    )
    assert "tags" not in shown and not is_stable(shown)


def test_a_deployment_completes_only_once_its_tasks_have_run_a_moment() -> None:
    """A task whose container crashes as it starts is RUNNING for an instant: that alone must not
    complete the deployment (the circuit breaker would never see its failures)."""
    record = create()
    owner, current, pods = steady(record)
    ready_at = T0 + 3  # pod(): Ready two seconds after its creation

    just_ready = view(record, owner, [current], pods, now=ready_at + STEADY_SECONDS / 2)["deployments"][0]
    settled = view(record, owner, [current], pods, now=ready_at + STEADY_SECONDS)["deployments"][0]

    assert (just_ready["runningCount"], just_ready["rolloutState"]) == (3, "IN_PROGRESS")
    assert settled["rolloutState"] == "COMPLETED"


def test_steady_service_has_one_completed_deployment_and_is_stable() -> None:
    record = create()
    owner, current, pods = steady(record)
    shown = view(record, owner, [current], pods)
    [deployment] = shown["deployments"]
    assert (shown["runningCount"], shown["pendingCount"]) == (3, 0)
    assert (deployment["runningCount"], deployment["desiredCount"], deployment["failedTasks"]) == (3, 3, 0)
    assert deployment["rolloutState"] == "COMPLETED"
    assert deployment["rolloutStateReason"] == f"ECS deployment {D1} completed."
    assert deployment["updatedAt"] == T0 + 60
    assert is_stable(shown)


def test_steady_service_events_are_ecs_messages_newest_first_with_stable_ids() -> None:
    record = create()
    owner, current, pods = steady(record)
    shown = view(record, owner, [current], pods)
    task_ids = sorted(p["metadata"]["uid"].replace("-", "") for p in pods)
    assert messages(shown) == [
        "(service web) (deployment ecs-svc/1111111111111111111) deployment completed.",
        "(service web) has reached a steady state.",
        f"(service web) has started 3 tasks: {' '.join(f'(task {i})' for i in task_ids)}.",
    ]
    assert shown["events"][0]["createdAt"] == T0 + 60
    assert shown["events"][2]["createdAt"] == T0 + 1
    assert view(record, owner, [current], pods)["events"] == shown["events"]
    assert len({event["id"] for event in shown["events"]}) == 3


def test_events_are_at_most_one_hundred() -> None:
    record = create(desiredCount=150)
    owner = workload(record)
    current = replica_set(owner, 150)
    shown = view(record, owner, [current], [pod(current, i, created=T0 + i) for i in range(150)])
    assert len(shown["events"]) == 100
    assert shown["events"][0]["createdAt"] >= shown["events"][-1]["createdAt"]


def test_rolling_to_a_new_revision_shows_two_deployments() -> None:
    record = create()
    old_owner, old_rs, old_pods = steady(record)
    record = update(record, taskDefinition=arn(2))
    owner = workload(record, generation=2)
    new_rs = replica_set(owner, 3, created=T0 + 601)
    new_pods = [pod(new_rs, 10, created=T0 + 602), *(pod(new_rs, i, created=T0 + 602, ready=False) for i in (11, 12))]
    old_rs["spec"]["replicas"] = 3
    shown = view(record, owner, [old_rs, new_rs], old_pods + new_pods)
    primary, active = shown["deployments"]
    assert (primary["status"], primary["taskDefinition"], primary["rolloutState"]) == ("PRIMARY", arn(2), "IN_PROGRESS")
    assert (primary["runningCount"], primary["pendingCount"], primary["desiredCount"]) == (1, 2, 3)
    assert (active["status"], active["taskDefinition"], active["id"]) == ("ACTIVE", arn(1), D1)
    assert (active["runningCount"], active["desiredCount"]) == (3, 3)
    assert (shown["runningCount"], shown["pendingCount"], shown["taskDefinition"]) == (4, 2, arn(2))
    assert not is_stable(shown)
    assert old_owner["spec"]["template"] != owner["spec"]["template"]


def test_an_update_not_yet_applied_already_shows_two_deployments() -> None:
    record = create()
    owner, current, pods = steady(record)
    shown = view(update(record, forceNewDeployment=True), owner, [current], pods)
    assert [(d["id"], d["status"], d["runningCount"]) for d in shown["deployments"]] == [
        (D2, "PRIMARY", 0),
        (D1, "ACTIVE", 3),
    ]
    assert not is_stable(shown)


def test_finished_rollout_shows_only_the_new_revision_completed() -> None:
    record = update(create(), taskDefinition=arn(2))
    owner = workload(record, generation=2, at=T0 + 640)
    old_rs = replica_set(workload(create()), 0)
    new_rs = replica_set(owner, 3, created=T0 + 601)
    shown = view(record, owner, [old_rs, new_rs], [pod(new_rs, i, created=T0 + 602) for i in range(3)])
    [deployment] = shown["deployments"]
    assert (deployment["id"], deployment["taskDefinition"], deployment["rolloutState"]) == (D2, arn(2), "COMPLETED")
    assert is_stable(shown)


def test_scaling_up_is_stable_only_once_every_task_runs() -> None:
    record = update(create(), desiredCount=5)
    owner, current, pods = steady(record, 3)
    current["spec"]["replicas"] = 5
    assert not is_stable(view(record, owner, [current], pods))
    more = [*pods, pod(current, 3, created=T0 + 700), pod(current, 4, created=T0 + 700)]
    shown = view(record, owner, [current], more)
    assert (shown["desiredCount"], shown["runningCount"]) == (5, 5) and is_stable(shown)


def test_stopping_tasks_do_not_count_and_show_as_stopped() -> None:
    record = update(create(), desiredCount=1)
    owner, current, pods = steady(record, 3)
    current["spec"]["replicas"] = 1
    stopping = [pods[0], *(copy.deepcopy(p) for p in pods[1:])]
    for p in stopping[1:]:
        p["metadata"].update(deletionTimestamp=iso(T0 + 800 + 30), deletionGracePeriodSeconds=30)
    shown = view(record, owner, [current], stopping)
    assert (shown["runningCount"], shown["pendingCount"]) == (1, 0) and is_stable(shown)
    stopped_ids = sorted(p["metadata"]["uid"].replace("-", "") for p in stopping[1:])
    stopped = next(e for e in shown["events"] if "has stopped" in e["message"])
    assert (
        stopped["message"]
        == f"(service web) has stopped 2 running tasks: (task {stopped_ids[0]}) (task {stopped_ids[1]})."
    )
    assert stopped["createdAt"] == T0 + 800


def test_a_replaced_task_shows_as_a_new_start() -> None:
    record = create()
    owner, current, pods = steady(record)
    healed = [*pods[:2], pod(current, 7, created=T0 + 900)]
    started = [m for m in messages(view(record, owner, [current], healed)) if "has started" in m]
    assert len(started) == 2 and started[0].startswith("(service web) has started 1 tasks: (task ")


def test_crash_looping_tasks_count_as_failed_until_healthy() -> None:
    record = create()
    owner = workload(record)
    current = replica_set(owner, 3)
    pods = [
        pod(current, 0, restarts=4),
        pod(current, 1, ready=False, restarts=2),
        pod(current, 2, phase="Failed", ready=False),
    ]
    [deployment] = view(record, owner, [current], pods)["deployments"]
    assert (deployment["failedTasks"], deployment["runningCount"], deployment["pendingCount"]) == (3, 1, 1)
    assert deployment["rolloutState"] == "IN_PROGRESS"


def breaker(rollback: bool = True) -> dict[str, Any]:
    return {"deploymentCircuitBreaker": {"enable": True, "rollback": rollback}}


def completed(record: dict[str, Any]) -> dict[str, Any]:
    """`record` after the reconciler observed its PRIMARY complete."""
    owner, current, pods = steady(record, record.get("desiredCount", 3))
    return service_record_observed(record, view(record, owner, [current], pods), now=T0 + 120)


def failing(
    record: dict[str, Any], restarts: int = 1
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Mid-rollout of revision 2 whose tasks crash: (workload, ReplicaSets, pods)."""
    old_rs = replica_set(workload(create(deploymentConfiguration=record["deploymentConfiguration"])), 3)
    owner = workload(record, generation=2)
    new_rs = replica_set(owner, 3, created=T0 + 601)
    pods = [pod(old_rs, i) for i in range(3)] + [
        pod(new_rs, 10 + i, created=T0 + 602, ready=False, restarts=restarts) for i in range(3)
    ]
    return owner, [old_rs, new_rs], pods


def test_circuit_breaker_fails_a_rollout_whose_tasks_keep_failing() -> None:
    record = update(completed(create(deploymentConfiguration=breaker())), taskDefinition=arn(2))
    owner, replica_sets, pods = failing(record, restarts=1)
    primary, active = view(record, owner, replica_sets, pods)["deployments"]
    assert (primary["failedTasks"], primary["rolloutState"]) == (3, "FAILED")
    assert primary["rolloutStateReason"] == CIRCUIT_BREAKER_REASON
    assert active["rolloutState"] == "COMPLETED"
    assert rollback_target(record, replica_sets, owner, pods) == {"id": D1, "taskDefinition": arn(1)}


def test_without_the_circuit_breaker_a_failing_rollout_stays_in_progress() -> None:
    record = update(completed(create()), taskDefinition=arn(2))
    owner, replica_sets, pods = failing(record, restarts=5)
    owner["status"]["conditions"][1].update(status="False", reason="ProgressDeadlineExceeded")
    assert view(record, owner, replica_sets, pods)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert rollback_target(record, replica_sets, owner, pods) is None


def test_circuit_breaker_threshold_is_half_the_desired_count_within_3_and_200() -> None:
    assert [circuit_breaker_threshold(n) for n in (0, 1, 6, 7, 10, 400, 1000)] == [3, 3, 3, 4, 5, 200, 200]


def test_progress_deadline_exceeded_fails_the_primary_rollout() -> None:
    record = update(completed(create(deploymentConfiguration=breaker())), taskDefinition=arn(2))
    owner, replica_sets, pods = failing(record, restarts=0)
    assert view(record, owner, replica_sets, pods)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    timed_out = workload(
        record, generation=2, progressing=("False", "ProgressDeadlineExceeded", "has timed out progressing.")
    )
    assert view(record, timed_out, replica_sets, pods)["deployments"][0]["rolloutState"] == "FAILED"
    stale = workload(
        record,
        generation=3,
        observed=2,
        progressing=("False", "ProgressDeadlineExceeded", "has timed out progressing."),
    )
    assert view(record, stale, replica_sets, pods)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    other = copy.deepcopy(timed_out)
    other["status"]["conditions"][1]["message"] = (
        f'ReplicaSet "{replica_sets[0]["metadata"]["name"]}" has timed out progressing.'
    )
    assert view(record, other, replica_sets, pods)["deployments"][0]["rolloutState"] == "IN_PROGRESS"


def test_no_rollback_without_rollback_enabled_or_a_completed_deployment() -> None:
    no_rollback = update(completed(create(deploymentConfiguration=breaker(rollback=False))), taskDefinition=arn(2))
    owner, replica_sets, pods = failing(no_rollback)
    assert view(no_rollback, owner, replica_sets, pods)["deployments"][0]["rolloutState"] == "FAILED"
    assert rollback_target(no_rollback, replica_sets, owner, pods) is None
    never_completed = update(create(deploymentConfiguration=breaker()), taskDefinition=arn(2))
    assert rollback_target(never_completed, replica_sets, owner, pods) is None


def test_healthy_rollout_has_no_rollback_target() -> None:
    record = update(completed(create(deploymentConfiguration=breaker())), taskDefinition=arn(2))
    owner, replica_sets, pods = failing(record, restarts=0)
    assert rollback_target(record, replica_sets, owner, pods) is None


def test_rollback_marks_the_failed_deployment_and_restores_the_completed_one() -> None:
    record = update(completed(create(deploymentConfiguration=breaker())), taskDefinition=arn(2))
    _, replica_sets, pods = failing(record)
    restored = service_record_rolled_back(record, failed_id=D2, restored_id=D1, now=T0 + 700)
    failed = next(d for d in restored["deployments"] if d["id"] == D2)
    assert (failed["status"], failed["rolloutState"], failed["rolloutStateReason"]) == (
        "ACTIVE",
        "FAILED",
        CIRCUIT_BREAKER_REASON,
    )
    assert (primary_deployment(restored)["id"], restored["taskDefinition"]) == (D1, arn(1))
    rolled = workload(restored, generation=3)
    shown = view(restored, rolled, replica_sets, pods)
    primary, active = shown["deployments"]
    assert (primary["id"], primary["taskDefinition"], primary["rolloutState"]) == (D1, arn(1), "IN_PROGRESS")
    assert (active["id"], active["rolloutState"], active["rolloutStateReason"]) == (
        D2,
        "FAILED",
        CIRCUIT_BREAKER_REASON,
    )
    assert (
        "(service web) (deployment ecs-svc/2222222222222222222) deployment failed: tasks failed to start."
        in messages(shown)
    )
    assert "(service web) rolling back to deployment ecs-svc/1111111111111111111." in messages(shown)
    assert rollback_target(restored, replica_sets, rolled, pods) is None


def test_after_rollback_the_service_is_steady_on_the_old_revision() -> None:
    record = update(completed(create(deploymentConfiguration=breaker())), taskDefinition=arn(2))
    restored = service_record_rolled_back(record, failed_id=D2, restored_id=D1, now=T0 + 700)
    owner = workload(restored, generation=3, at=T0 + 720)
    old_rs = replica_set(owner, 3)
    failed_rs = replica_set(workload(record), 0, created=T0 + 601)
    shown = view(restored, owner, [old_rs, failed_rs], [pod(old_rs, i) for i in range(3)])
    [deployment] = shown["deployments"]
    assert (deployment["id"], deployment["taskDefinition"], deployment["rolloutState"]) == (D1, arn(1), "COMPLETED")
    assert is_stable(shown)


def test_observing_keeps_completion_and_retires_deployments_without_tasks() -> None:
    record = create()
    owner, current, pods = steady(record)
    shown = view(record, owner, [current], pods)
    observed = service_record_observed(record, shown, now=T0 + 3600)
    [deployment] = observed["deployments"]
    assert (deployment["rolloutState"], deployment["completedAt"], deployment["updatedAt"]) == (
        "COMPLETED",
        T0 + 60,
        T0 + 60,
    )
    assert service_record_observed(observed, view(observed, owner, [current], pods), now=T0 + 7200) == observed
    assert view(observed, owner, [current], pods)["events"] == shown["events"]
    rolled = update(observed, taskDefinition=arn(2))
    new_owner = workload(rolled, generation=2)
    new_rs = replica_set(new_owner, 3, created=T0 + 601)
    done = view(rolled, new_owner, [new_rs], [pod(new_rs, i, created=T0 + 602) for i in range(3)])
    statuses = {d["id"]: d["status"] for d in service_record_observed(rolled, done, now=T0 + 900)["deployments"]}
    assert statuses == {D1: "INACTIVE", D2: "PRIMARY"}


def test_a_completed_deployment_stays_completed_when_a_task_later_fails() -> None:
    record = completed(create(deploymentConfiguration=breaker()))
    owner = workload(record)
    current = replica_set(owner, 3)
    pods = [pod(current, i, ready=False, restarts=9) for i in range(3)]
    assert view(record, owner, [current], pods)["deployments"][0]["rolloutState"] == "COMPLETED"


def test_draining_service_wants_no_tasks_and_reports_no_steady_state() -> None:
    record = {**create(), "status": "DRAINING"}
    owner, current, pods = steady(record)
    shown = view(record, owner, [current], pods)
    assert (shown["status"], shown["desiredCount"]) == ("DRAINING", 0)
    drained = view(record, owner, [replica_set(owner, 0)], [])
    assert (drained["runningCount"], len(drained["deployments"])) == (0, 1)
    assert "(service web) has reached a steady state." not in messages(shown) + messages(drained)


def test_tags_are_shown_when_asked() -> None:
    tags = [{"key": "team", "value": "payments"}]
    assert view(create(tags=tags), None, [], [], include_tags=True)["tags"] == tags


def test_network_configuration_grace_period_and_load_balancers_are_shown() -> None:
    network = {
        "awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}
    }
    balancer = {"loadBalancerName": "classic", "containerName": "app", "containerPort": 8080}
    shown = view(
        create(networkConfiguration=network, healthCheckGracePeriodSeconds=30, loadBalancers=[balancer]), None, [], []
    )
    assert (shown["networkConfiguration"], shown["healthCheckGracePeriodSeconds"]) == (network, 30)
    assert shown["loadBalancers"] == [balancer]
    assert shown["deployments"][0]["networkConfiguration"] == network


def test_daemon_service_wants_one_task_per_scheduled_node() -> None:
    record = daemon()
    owner = workload(record, scheduled=2)
    pods = [pod(owner, 0), pod(owner, 1, ready=False)]
    shown = view(record, owner, [], pods)
    assert (shown["desiredCount"], shown["runningCount"], shown["pendingCount"]) == (2, 1, 1)
    assert not is_stable(shown)
    settled = view(record, owner, [], [pod(owner, 0), pod(owner, 1)])
    assert settled["deployments"][0]["rolloutState"] == "COMPLETED" and is_stable(settled)


def test_daemon_rollout_that_misses_its_deadline_fails_with_the_circuit_breaker() -> None:
    record = daemon(deploymentConfiguration=breaker())
    owner = workload(record, scheduled=2)
    pods = [pod(owner, 0), pod(owner, 1, ready=False)]
    assert view(record, owner, [], pods, now=T0 + 10)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert view(record, owner, [], pods, now=T0 + 31)["deployments"][0]["rolloutState"] == "FAILED"


def test_daemon_rollout_shows_the_old_deployment_while_its_tasks_remain() -> None:
    record = daemon()
    old_owner = workload(record, scheduled=2)
    record = update(record, forceNewDeployment=True)
    owner = workload(record, generation=2, scheduled=2)
    primary, active = view(record, owner, [], [pod(old_owner, 0), pod(owner, 1, created=T0 + 601)])["deployments"]
    assert (primary["id"], primary["desiredCount"], primary["runningCount"]) == (D2, 2, 1)
    assert (active["id"], active["desiredCount"], active["runningCount"]) == (D1, 1, 1)


def test_a_replica_set_the_record_forgot_still_shows_as_a_deployment() -> None:
    forgotten = "ecs-svc/9999999999999999999"
    record = create()
    owner, current, pods = steady(record)
    stray = copy.deepcopy(current)
    stray["spec"]["template"]["metadata"]["annotations"]["ecs.shim.io/deployment-id"] = forgotten
    stray["metadata"]["name"] += "x"
    stray_pods = [pod(stray, 20)]
    ids = [d["id"] for d in view(record, owner, [current, stray], pods + stray_pods)["deployments"]]
    assert ids == [D1, forgotten]


@pytest.mark.parametrize(
    ("deployments", "running", "desired", "stable"),
    [(1, 3, 3, True), (2, 3, 3, False), (1, 2, 3, False), (1, 0, 0, True)],
)
def test_stable_means_one_deployment_and_running_equals_desired(
    deployments: int, running: int, desired: int, stable: bool
) -> None:
    shown = {"deployments": [{}] * deployments, "runningCount": running, "desiredCount": desired}
    assert is_stable(shown) is stable


def stopped_task(deployment_id: str, task_number: int, stop_code: str, at: float) -> dict[str, Any]:
    """The STOPPED view of a service task whose pod is gone, as its stopped-task record gives it."""
    return {
        "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{task_number:032x}",
        "startedBy": deployment_id,
        "stopCode": stop_code,
        "stoppingAt": at,
    }


def test_replaced_tasks_that_failed_count_toward_the_circuit_breaker() -> None:
    record = update(completed(create(deploymentConfiguration=breaker())), taskDefinition=arn(2))
    owner, replica_sets, pods = failing(record, restarts=0)
    failed = [stopped_task(D2, 100 + i, "EssentialContainerExited", T0 + 603) for i in range(3)]
    before_update = stopped_task(D2, 200, "EssentialContainerExited", T0 + 1)
    stopped_by_user = stopped_task(D2, 201, "UserInitiated", T0 + 603)
    shown = view(record, owner, replica_sets, pods, stopped_tasks=[*failed, before_update, stopped_by_user])
    primary = shown["deployments"][0]
    assert (primary["failedTasks"], primary["rolloutState"]) == (3, "FAILED")
    assert rollback_target(record, replica_sets, owner, pods, stopped_tasks=failed) == {
        "id": D1,
        "taskDefinition": arn(1),
    }


# Task definition required, role, immutable events


def test_a_task_definition_is_required_with_the_ecs_deployment_controller() -> None:
    with pytest.raises(InvalidParameterException, match="task definition must be specified"):
        validate_service_params({"serviceName": "web", "desiredCount": 1})


BALANCER = {"targetGroupArn": "arn:aws:elasticloadbalancing:tg", "containerName": "web", "containerPort": 80}


def test_a_role_is_shown_as_an_iam_role_arn_for_a_load_balanced_service() -> None:
    balanced: dict[str, Any] = {"loadBalancers": [BALANCER]}
    for role, expected in [
        ("ecsServiceRole", f"arn:aws:iam::{ACCOUNT}:role/ecsServiceRole"),
        ("/team/ecsServiceRole", f"arn:aws:iam::{ACCOUNT}:role/team/ecsServiceRole"),
        ("arn:aws:iam::999:role/x", "arn:aws:iam::999:role/x"),
    ]:
        record = create(**balanced, **iam_role({"role": role}, ACCOUNT))
        owner, current, pods = steady(record)
        assert view(record, owner, [current], pods)["roleArn"] == expected
    plain = create()
    owner, current, pods = steady(plain)
    assert "roleArn" not in view(plain, owner, [current], pods)


def test_a_role_without_load_balancers_or_with_awsvpc_needs_the_service_linked_role() -> None:
    balanced: dict[str, Any] = {"loadBalancers": [BALANCER]}
    registry = {"serviceRegistries": [{"registryArn": "arn:aws:servicediscovery:us-east-1:1:service/srv-1"}]}
    cases: list[dict[str, Any]] = [
        {"role": "r"},
        {"role": "r", **balanced, "launchType": "FARGATE"},
        {"role": "r", **balanced, **registry},
        {"role": "r", "loadBalancers": [BALANCER, {**BALANCER, "targetGroupArn": "arn:aws:elasticloadbalancing:t2"}]},
    ]
    for fields in cases:
        with pytest.raises(InvalidParameterException, match="service linked role"):
            validate_service_params(params(**fields))
    with pytest.raises(InvalidParameterException, match="service linked role"):
        validate_service_params(params(role="r", **balanced), task_definition={"networkMode": "awsvpc"})


def test_events_kept_in_the_record_never_change_when_more_tasks_share_their_second() -> None:
    record = create(desiredCount=3)
    owner = workload(record)
    current = replica_set(owner, 3)
    two = [pod(current, 0), pod(current, 1)]
    first = view(record, owner, [current], two)
    kept = service_record_observed(record, first, now=T0 + 3600)
    later = view(kept, owner, [current], [*two, pod(current, 2)])
    started = [e for e in later["events"] if "has started" in e["message"]]
    assert started == [e for e in first["events"] if "has started" in e["message"]]
    assert "has started 2 tasks" in started[0]["message"]


def test_kept_events_outlive_the_pods_they_tell_of() -> None:
    record = create()
    owner, current, pods = steady(record)
    kept = service_record_observed(record, view(record, owner, [current], pods), now=T0 + 3600)
    gone = view(kept, owner, [replica_set(owner, 0)], [])
    assert any("has started 3 tasks" in message for message in messages(gone))


def test_tasks_started_in_the_last_seconds_are_told_once_their_second_is_over() -> None:
    record = create(desiredCount=1)
    owner = workload(record)
    current = replica_set(owner, 1)
    fresh = [pod(current, 0, created=T0 + 100)]
    assert not any("has started" in m for m in messages(view(record, owner, [current], fresh, now=T0 + 100.5)))
    assert any("has started 1 tasks" in m for m in messages(view(record, owner, [current], fresh, now=T0 + 103)))


def test_a_steady_state_is_told_once_while_nothing_else_happens() -> None:
    record = create()
    owner, current, pods = steady(record)
    kept = service_record_observed(record, view(record, owner, [current], pods), now=T0 + 3600)
    touched = copy.deepcopy(owner)
    touched["status"]["conditions"] = [{"type": "Available", "lastUpdateTime": iso(T0 + 900)}]
    later = view(kept, touched, [current], pods)
    assert messages(later).count("(service web) has reached a steady state.") == 1


# Tasks the service scheduler stops


def test_a_service_task_its_replica_set_removes_was_stopped_by_scaling_activity_of_its_deployment() -> None:
    current = replica_set(workload(create()), 3)
    going = pod(current, 0, deleted=T0 + 600)
    assert scaling_stop_reason(going) == f"Scaling activity initiated by (deployment {D1})"


def test_tasks_that_stopped_on_their_own_or_belong_to_no_service_are_not_scaling_activity() -> None:
    current = replica_set(workload(create()), 3)
    assert scaling_stop_reason(pod(current, 0, phase="Failed", deleted=T0 + 600)) is None
    standalone = pod(current, 1, deleted=T0 + 600)
    del standalone["metadata"]["annotations"]["ecs.shim.io/deployment-id"]
    assert scaling_stop_reason(standalone) is None
