"""Log groups: CreateLogGroup, DeleteLogGroup (with its streams), DescribeLogGroups,
PutRetentionPolicy, DeleteRetentionPolicy."""

import re
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import InvalidParameterException, ResourceAlreadyExistsException, ResourceNotFoundException
from shim.kube.errors import Conflict
from shim.kube.logs import LogStore
from shim.kube.records import Record
from shim.operations.pagination import page
from shim.translate.logs import BAD_TOKEN, RETENTION_DAYS, group_arn

GROUP_NOT_FOUND = "The specified log group does not exist."
GROUP_NAME_PATTERN = r"[\.\-_/#A-Za-z0-9]+"
DESCRIBE_LIMIT = 50


def handlers(log_store: LogStore) -> dict[str, Handler]:
    return {
        "CreateLogGroup": partial(create_log_group, log_store),
        "DeleteLogGroup": partial(delete_log_group, log_store),
        "DescribeLogGroups": partial(describe_log_groups, log_store),
        "PutRetentionPolicy": partial(put_retention_policy, log_store),
        "DeleteRetentionPolicy": partial(delete_retention_policy, log_store),
    }


def now_ms() -> int:
    return int(time.time() * 1000)


def check_group_name(group: str) -> None:
    if not re.fullmatch(GROUP_NAME_PATTERN, group):
        raise InvalidParameterException(
            f"1 validation error detected: Value '{group}' at 'logGroupName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {GROUP_NAME_PATTERN}"
        )


def create_group(log_store: LogStore, group: str) -> Record:
    """Store a new log group (ResourceAlreadyExistsException when it exists)."""
    check_group_name(group)
    try:
        return log_store.create_group({"logGroupName": group, "creationTime": now_ms()})
    except Conflict:
        raise ResourceAlreadyExistsException("The specified log group already exists") from None


def create_log_group(log_store: LogStore, call: Call) -> Response:
    create_group(log_store, call.params["logGroupName"])
    return {}


def delete_log_group(log_store: LogStore, call: Call) -> Response:
    if not log_store.delete_group(call.params["logGroupName"]):
        raise ResourceNotFoundException(GROUP_NOT_FOUND)
    return {}


def describe_log_groups(log_store: LogStore, call: Call) -> Response:
    prefix = call.params.get("logGroupNamePrefix")
    pattern = call.params.get("logGroupNamePattern")
    if prefix is not None and pattern is not None:
        raise InvalidParameterException(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
        )
    wanted = set(call.params.get("logGroupIdentifiers") or [])
    found = sorted(
        (
            record
            for record in log_store.list_groups()
            if record["logGroupName"].startswith(prefix or "")
            and (pattern is None or pattern.lower() in record["logGroupName"].lower())
            and (not wanted or record["logGroupName"] in wanted)
        ),
        key=lambda record: str(record["logGroupName"]),
    )
    chosen, token = paged(found, lambda record: str(record["logGroupName"]), call)
    response: Response = {"logGroups": [group_view(record, call) for record in chosen]}
    if token:
        response["nextToken"] = token
    return response


def paged(
    records: list[Record], key: Callable[[Record], str], call: Call, descending: bool = False
) -> tuple[list[Record], str | None]:
    """One page of `records` (sorted by `key`) as CloudWatch's Describe calls hand them out, by
    the call's `limit` and `nextToken`."""
    limit, token = call.params.get("limit") or DESCRIBE_LIMIT, call.params.get("nextToken")
    try:
        return page(records, key, limit, token, DESCRIBE_LIMIT, descending)
    except InvalidParameterException:
        raise InvalidParameterException(BAD_TOKEN) from None


def group_view(record: Record, call: Call) -> dict[str, Any]:
    arn = group_arn(call.region, call.account, record["logGroupName"])
    view: dict[str, Any] = {
        "logGroupName": record["logGroupName"],
        "creationTime": record["creationTime"],
        "metricFilterCount": 0,
        "arn": arn,
        "logGroupArn": arn.removesuffix(":*"),
        "logGroupClass": "STANDARD",
    }
    if record.get("retentionInDays"):
        view["retentionInDays"] = record["retentionInDays"]
    return view


def put_retention_policy(log_store: LogStore, call: Call) -> Response:
    days = call.params["retentionInDays"]
    if days not in RETENTION_DAYS:
        raise InvalidParameterException(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]"
        )
    set_retention(log_store, call.params["logGroupName"], days)
    return {}


def delete_retention_policy(log_store: LogStore, call: Call) -> Response:
    set_retention(log_store, call.params["logGroupName"], None)
    return {}


def set_retention(log_store: LogStore, group: str, days: int | None) -> None:
    def change(record: Record) -> None:
        if days is None:
            record.pop("retentionInDays", None)
        else:
            record["retentionInDays"] = days

    if log_store.update_group(group, change) is None:
        raise ResourceNotFoundException(GROUP_NOT_FOUND)
