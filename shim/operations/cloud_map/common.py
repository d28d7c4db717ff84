"""What the Cloud Map handlers share: finding a service, recording an operation, and a List
call's filters and pages."""

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from shim.calls import Call, Response
from shim.errors import InvalidInput, ServiceNotFound
from shim.kube.cloud_map import CloudMapStore
from shim.kube.records import Record
from shim.operations.pagination import page
from shim.translate.cloud_map import MAX_PAGE, check_filters, matches_filters, new_operation, resource_id


def service_or_refusal(cloud_map: CloudMapStore, service_id: str) -> Record:
    found = cloud_map.service(resource_id(service_id))
    if found is None:
        raise ServiceNotFound(f"No service exists with the ID {service_id}.")
    return found


def done(
    cloud_map: CloudMapStore, call: Call, kind: str, targets: Mapping[str, str], operation_id: str, now: float
) -> None:
    """Record the operation of a change made (it has succeeded: GetOperation says so)."""
    cloud_map.save_operation(new_operation(kind, targets, operation_id=operation_id, account=call.account, now=now))


def listed(
    call: Call,
    records: Sequence[Record],
    allowed: Mapping[str, Sequence[str]],
    value_of: Callable[[Record, str], Any],
    view: Callable[[Record], Record],
    member: str,
) -> Response:
    """A List call's page of `records`, by id, that pass its filters, each shown by `view`."""
    filters = call.params.get("Filters") or []
    check_filters(filters, allowed)
    passing = sorted(
        (record for record in records if matches_filters(filters, partial(value_of, record))),
        key=lambda record: str(record["Id"]),
    )
    chunk, token = paged(call, passing, lambda record: str(record["Id"]))
    return {member: [view(record) for record in chunk], **({"NextToken": token} if token else {})}


def paged(call: Call, items: Sequence[Any], key: Callable[[Any], str]) -> tuple[list[Any], str | None]:
    return page(
        items, key, call.params.get("MaxResults"), call.params.get("NextToken"), limit=MAX_PAGE, refused=InvalidInput
    )
