"""Task definitions: RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
ListTaskDefinitionFamilies, DeregisterTaskDefinition, DeleteTaskDefinitions; and the removal for
good of deleted revisions nothing uses any more."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import ClientException, InvalidParameterException
from shim.kube.records import Stored
from shim.kube.store import Store
from shim.operations.base import includes_tags
from shim.operations.pagination import page
from shim.translate.tags import check_tags
from shim.translate.task_definitions import (
    BEING_DELETED,
    DELETE_IN_PROGRESS,
    TASK_DEFINITION_INACTIVE,
    UNABLE_TO_DESCRIBE,
    deletion_requested_view,
    deregistered_view,
    parse_task_definition_ref,
    removal_due,
    revisions_in_use,
    sorted_task_definition_arns,
    task_definition_sort_key,
    task_definition_view,
    validate_registration,
)

MAX_DELETE = 10
MAX_TASK_DEFINITION_BYTES = 65536
STILL_ACTIVE = (
    "The specified task definition is still in ACTIVE status. Please deregister the target before proceeding."
)


def epoch_seconds(moment: datetime) -> float:
    return moment.timestamp()


def register_task_definition(store: Store, call: Call) -> Response:
    params = call.params
    validate_registration(params)
    check_size(params)
    tags = params.get("tags", [])
    check_tags(tags)
    registered_at = epoch_seconds(datetime.now(UTC))

    def build(revision: int) -> dict[str, Any]:
        view = task_definition_view(
            params,
            family_revision=revision,
            region=call.region,
            account=call.account,
            registered_at=datetime.now(UTC),
            registered_by=f"arn:aws:iam::{call.account}:root",
        )
        return {**view, "registeredAt": registered_at}

    saved = store.create_task_definition(params["family"], build, tags)
    return {"taskDefinition": saved.record, "tags": tags}


def check_size(params: dict[str, Any]) -> None:
    """ECS's 64 KiB limit, in ECS's words; without it a far larger definition fails in etcd."""
    size = len(json.dumps(params, separators=(",", ":")).encode())
    if size > MAX_TASK_DEFINITION_BYTES:
        raise ClientException(f"Actual length: '{size}'. Max allowed length is '{MAX_TASK_DEFINITION_BYTES}' bytes.")


def find_task_definition(store: Store, reference: str) -> Stored:
    """The revision a reference names; a bare family means its latest ACTIVE revision."""
    family, revision = parse_task_definition_ref(reference)
    if revision is not None:
        found = store.get_task_definition(family, revision)
    else:
        active = [stored for stored in store.family_revisions(family) if stored.record["status"] == "ACTIVE"]
        found = max(active, key=lambda stored: stored.record["revision"], default=None)
    if found is None:
        raise ClientException(UNABLE_TO_DESCRIBE)
    return found


def find_active_task_definition(store: Store, reference: str) -> dict[str, Any]:
    """The task definition a reference names, for a new task or a service to use: ECS refuses
    an INACTIVE or DELETE_IN_PROGRESS revision there."""
    definition = find_task_definition(store, reference).record
    if definition["status"] != "ACTIVE":
        raise ClientException(TASK_DEFINITION_INACTIVE)
    return definition


def describe_task_definition(store: Store, call: Call) -> Response:
    found = find_task_definition(store, call.params["taskDefinition"])
    response: Response = {"taskDefinition": found.record}
    if includes_tags(call):
        response["tags"] = found.tags
    return response


def list_task_definitions(store: Store, call: Call) -> Response:
    status = call.params.get("status", "ACTIVE")
    family = call.params.get("familyPrefix")
    views = [
        found.record
        for found in store.list_task_definitions()
        if found.record["status"] == status and (family is None or found.record["family"] == family)
    ]
    sort = call.params.get("sort", "ASC")
    arns = sorted_task_definition_arns((view["taskDefinitionArn"] for view in views), sort)
    chunk, token = page(
        arns, listing_key, call.params.get("maxResults"), call.params.get("nextToken"), descending=sort == "DESC"
    )
    return {"taskDefinitionArns": chunk, **({"nextToken": token} if token else {})}


def listing_key(arn: str) -> str:
    """A string that sorts like (family, revision): family characters all sort after NUL."""
    family, revision = task_definition_sort_key(arn)
    return f"{family}\0{revision:010d}"


def list_task_definition_families(store: Store, call: Call) -> Response:
    """Without `status`, every family ECS still knows (ALL): ACTIVE ones, with an ACTIVE revision,
    and INACTIVE ones, with none."""
    prefix = call.params.get("familyPrefix", "")
    status = call.params.get("status", "ALL")
    statuses: dict[str, set[str]] = {}
    for found in store.list_task_definitions():
        view = found.record
        statuses.setdefault(view["family"], set()).add(view["status"])
    wanted: Callable[[set[str]], bool] = {
        "ACTIVE": lambda found: "ACTIVE" in found,
        "INACTIVE": lambda found: "ACTIVE" not in found,
        "ALL": lambda found: True,
    }[status]
    families = sorted(family for family, found in statuses.items() if family.startswith(prefix) and wanted(found))
    chunk, token = page(families, str, call.params.get("maxResults"), call.params.get("nextToken"))
    return {"families": chunk, **({"nextToken": token} if token else {})}


def deregister_task_definition(store: Store, call: Call) -> Response:
    reference = call.params["taskDefinition"]
    if parse_task_definition_ref(reference)[1] is None:
        raise ClientException("A revision must be specified: use family:revision or a full ARN.")
    found = find_task_definition(store, reference)
    now = datetime.now(UTC)

    def deregister(current: dict[str, Any]) -> dict[str, Any]:
        if current["status"] == DELETE_IN_PROGRESS:
            raise ClientException(BEING_DELETED)
        if current["status"] == "ACTIVE":
            return {**deregistered_view(current, now), "deregisteredAt": epoch_seconds(now)}
        return current

    saved = store.update_task_definition(found, deregister)
    return {"taskDefinition": saved.record}


def delete_task_definitions(store: Store, call: Call) -> Response:
    references = call.params["taskDefinitions"]
    if len(references) > MAX_DELETE:
        raise InvalidParameterException(f"At most {MAX_DELETE} task definitions can be deleted at once.")
    deleted, failures = [], []
    now = datetime.now(UTC)
    for reference in references:
        try:
            found = find_task_definition(store, reference)
        except ClientException as error:
            failures.append({"arn": reference, "reason": error.message})
            continue

        def request_deletion(current: dict[str, Any]) -> dict[str, Any]:
            """Decided on the revision as the API server has it now, not as a cache last saw it."""
            if current["status"] == "ACTIVE":
                raise ClientException(STILL_ACTIVE)
            if current["status"] == "INACTIVE":
                return {**deletion_requested_view(current, now), "deleteRequestedAt": epoch_seconds(now)}
            return current

        try:
            saved = store.update_task_definition(found, request_deletion)
        except ClientException as error:
            failures.append({"arn": found.record["taskDefinitionArn"], "reason": error.message})
            continue
        deleted.append(saved.record)
    return {"taskDefinitions": deleted, "failures": failures}


def remove_unused_deleted_revisions(store: Store, now: float) -> None:
    """Remove for good every revision whose deletion is due (see `removal_due`) and that no task or
    service uses, as ECS does; its number is still never given again. Idempotent: every server
    process does it."""
    due = [found for found in store.list_task_definitions() if removal_due(found.record, now)]
    if due:
        in_use = revisions_in_use(
            store.all_pods(),
            (stopped.record for stopped in store.all_task_records()),
            (service.record for service in store.all_service_records()),
        )
        for found in due:
            if (found.record["family"], found.record["revision"]) not in in_use:
                store.remove_task_definition(found)


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "RegisterTaskDefinition": partial(register_task_definition, store),
        "DescribeTaskDefinition": partial(describe_task_definition, store),
        "ListTaskDefinitions": partial(list_task_definitions, store),
        "ListTaskDefinitionFamilies": partial(list_task_definition_families, store),
        "DeregisterTaskDefinition": partial(deregister_task_definition, store),
        "DeleteTaskDefinitions": partial(delete_task_definitions, store),
    }
