"""Service deployments and revisions: ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions, StopServiceDeployment (ROLLBACK), ContinueServiceDeployment (a
deployment waiting on a lifecycle hook: translate/blue_green.py).

Nothing is stored for them: both are derived from the service record's deployment history and
the service's current view (`translate.service_deployments`), so they always agree with
DescribeServices."""

import time
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import (
    ConflictException,
    InvalidParameterException,
    ServiceDeploymentNotFoundException,
    ServiceNotFoundException,
)
from shim.kube.records import Stored
from shim.kube.store import Store
from shim.operations.base import requested
from shim.operations.clusters import active_cluster
from shim.operations.pagination import page
from shim.operations.services import (
    SERVICE_NOT_FOUND,
    ServiceObjects,
    apply_service_objects,
    find_service,
    save_service_change,
    service_named,
)
from shim.translate.blue_green import CONTINUE, hook_resolved
from shim.translate.service_deployments import (
    DEPLOYMENT_RESOURCE,
    IN_PROGRESS,
    NOT_STOPPABLE,
    REVISION_RESOURCE,
    ROLLBACK_IN_PROGRESS,
    ROLLBACK_REQUESTED,
    deployment_id_in,
    listed,
    parse_arn,
    service_deployments,
    service_revisions,
    stopped_with_rollback,
)

MAX_DESCRIBE = 20
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
ROLLBACK = "ROLLBACK"
DEPLOYMENT_NOT_FOUND = "The service deployment does not exist."
Json = dict[str, Any]


def _deployments_of(store: Store, call: Call, cluster_name: str, service: str) -> list[Json] | None:
    found = find_service(store, cluster_name, service)
    if found is None:
        return None
    view = ServiceObjects.load(store, found).view(call.region, call.account)
    return service_deployments(found.record, view, region=call.region, account=call.account)


def list_service_deployments(store: Store, call: Call) -> Response:
    params = call.params
    cluster_name = active_cluster(store, call)["clusterName"]
    deployments = _deployments_of(store, call, cluster_name, service_named(call, cluster_name, params["service"]))
    if deployments is None:
        raise ServiceNotFoundException(SERVICE_NOT_FOUND)
    created = params.get("createdAt") or {}
    briefs = listed(
        deployments,
        statuses=params.get("status") or (),
        created_after=created.get("after"),
        created_before=created.get("before"),
    )
    chunk, token = page(
        briefs,
        lambda brief: f"{brief['createdAt']:020.6f} {brief['serviceDeploymentArn']}",
        params.get("maxResults", DEFAULT_PAGE_SIZE),
        params.get("nextToken"),
        limit=MAX_PAGE_SIZE,
        descending=True,
    )
    return {"serviceDeployments": chunk, **({"nextToken": token} if token else {})}


def _described(call: Call, member: str, resource: str) -> dict[tuple[str, str], list[str]]:
    """The ARNs a Describe call asks for, grouped by (cluster, service)."""
    wanted: dict[tuple[str, str], list[str]] = {}
    for arn in requested(call, member, MAX_DESCRIBE, member):
        owner = parse_arn(arn, resource)
        if owner is None:
            raise InvalidParameterException(f"Invalid ARN: {arn}. Expected an ARN of a {resource}.")
        wanted.setdefault(owner, []).append(arn)
    return wanted


def _in_order(wanted: dict[tuple[str, str], list[str]], found: dict[str, Json]) -> tuple[list[Json], list[Json]]:
    """What was found, in the order asked for (each once), and a MISSING failure for the rest."""
    arns = list(dict.fromkeys(arn for group in wanted.values() for arn in group))
    return [found[arn] for arn in arns if arn in found], [
        {"arn": arn, "reason": "MISSING"} for arn in arns if arn not in found
    ]


def describe_service_deployments(store: Store, call: Call) -> Response:
    shown: dict[str, Json] = {}
    wanted = _described(call, "serviceDeploymentArns", DEPLOYMENT_RESOURCE)
    for (cluster_name, service), arns in wanted.items():
        for deployment in _deployments_of(store, call, cluster_name, service) or []:
            if deployment["serviceDeploymentArn"] in arns:
                shown[deployment["serviceDeploymentArn"]] = deployment
    deployments, failures = _in_order(wanted, shown)
    return {"serviceDeployments": deployments, "failures": failures}


def describe_service_revisions(store: Store, call: Call) -> Response:
    shown: dict[str, Json] = {}
    wanted = _described(call, "serviceRevisionArns", REVISION_RESOURCE)
    for (cluster_name, service), arns in wanted.items():
        found = find_service(store, cluster_name, service)
        revisions = [] if found is None else service_revisions(found.record, region=call.region, account=call.account)
        shown.update({r["serviceRevisionArn"]: r for r in revisions if r["serviceRevisionArn"] in arns})
    revisions, failures = _in_order(wanted, shown)
    return {"serviceRevisions": revisions, "failures": failures}


def stop_service_deployment(store: Store, call: Call) -> Response:
    """Roll the ongoing deployment back to the revision it replaced; a rollback already under way
    simply continues, as ECS does."""
    arn = call.params["serviceDeploymentArn"]
    stop_type = call.params.get("stopType", ROLLBACK)
    if stop_type != ROLLBACK:
        raise InvalidParameterException(f"Invalid stopType: {stop_type}. The valid values are ROLLBACK.")
    owner = parse_arn(arn, DEPLOYMENT_RESOURCE)
    if owner is None:
        raise InvalidParameterException(f"Invalid ARN: {arn}. Expected an ARN of a {DEPLOYMENT_RESOURCE}.")
    cluster_name, service = owner
    deployment = next(
        (d for d in _deployments_of(store, call, cluster_name, service) or [] if d["serviceDeploymentArn"] == arn),
        None,
    )
    if deployment is None:
        raise ServiceDeploymentNotFoundException(DEPLOYMENT_NOT_FOUND)
    if deployment["status"] in (ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS):
        return {"serviceDeploymentArn": arn}
    if deployment["status"] != IN_PROGRESS:
        raise ConflictException(NOT_STOPPABLE)

    def rolled_back(found: Stored) -> dict[str, Any]:
        deployment_id = deployment_id_in(found.record, arn)
        if deployment_id is None:
            raise ServiceDeploymentNotFoundException(DEPLOYMENT_NOT_FOUND)
        return stopped_with_rollback(found.record, deployment_id, now=time.time())

    saved = save_service_change(store, cluster_name, service, rolled_back)
    apply_service_objects(store, cluster_name, saved.record)
    return {"serviceDeploymentArn": arn}


def continue_service_deployment(store: Store, call: Call) -> Response:
    """Resolve the lifecycle hook a deployment waits on: it moves on (CONTINUE) or rolls back."""
    arn = call.params["serviceDeploymentArn"]
    owner = parse_arn(arn, DEPLOYMENT_RESOURCE)
    if owner is None:
        raise InvalidParameterException(f"Invalid ARN: {arn}. Expected an ARN of a {DEPLOYMENT_RESOURCE}.")
    cluster_name, service = owner
    if find_service(store, cluster_name, service) is None:
        raise ServiceDeploymentNotFoundException(DEPLOYMENT_NOT_FOUND)

    def resolved(found: Stored) -> dict[str, Any]:
        deployment_id = deployment_id_in(found.record, arn)
        if deployment_id is None:
            raise ServiceDeploymentNotFoundException(DEPLOYMENT_NOT_FOUND)
        params = call.params
        action = params.get("action") or CONTINUE
        return hook_resolved(found.record, deployment_id, params["hookId"], action, now=time.time())

    saved = save_service_change(store, cluster_name, service, resolved)
    apply_service_objects(store, cluster_name, saved.record)
    return {"serviceDeploymentArn": arn}


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "ListServiceDeployments": partial(list_service_deployments, store),
        "DescribeServiceDeployments": partial(describe_service_deployments, store),
        "DescribeServiceRevisions": partial(describe_service_revisions, store),
        "StopServiceDeployment": partial(stop_service_deployment, store),
        "ContinueServiceDeployment": partial(continue_service_deployment, store),
    }
