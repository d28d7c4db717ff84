"""Log streams and their events: CreateLogStream, DescribeLogStreams, PutLogEvents,
GetLogEvents, FilterLogEvents. Paging follows CloudWatch (shim/translate/logs.py): GetLogEvents'
tokens name positions in the stream, FilterLogEvents' token the last event handed out."""

import re
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import InvalidParameterException, ResourceAlreadyExistsException, ResourceNotFoundException
from shim.kube.errors import Conflict
from shim.kube.logs import LogStore
from shim.kube.records import Record
from shim.operations.logs.groups import GROUP_NOT_FOUND, now_ms, paged
from shim.translate import logs
from shim.translate.logs import DEFAULT_EVENTS_LIMIT, Event

STREAM_NOT_FOUND = "The specified log stream does not exist."
STREAM_NAME_PATTERN = r"[^:*]*"
MAX_FILTERED_STREAMS = 100


def handlers(log_store: LogStore) -> dict[str, Handler]:
    return {
        "CreateLogStream": partial(create_log_stream, log_store),
        "DescribeLogStreams": partial(describe_log_streams, log_store),
        "PutLogEvents": partial(put_log_events, log_store),
        "GetLogEvents": partial(get_log_events, log_store),
        "FilterLogEvents": partial(filter_log_events, log_store),
    }


def group_named(log_store: LogStore, call: Call) -> Record:
    """The group a call names by `logGroupName` or `logGroupIdentifier` (exactly one of them)."""
    name, identifier = call.params.get("logGroupName"), call.params.get("logGroupIdentifier")
    if (name is None) == (identifier is None):
        raise InvalidParameterException("You must include either logGroupIdentifier or logGroupName, but not both.")
    group = log_store.get_group(name if name is not None else logs.group_of_identifier(str(identifier)))
    if group is None:
        raise ResourceNotFoundException(GROUP_NOT_FOUND)
    return group


def stream_named(log_store: LogStore, call: Call) -> tuple[Record, Record]:
    group = group_named(log_store, call)
    stream = log_store.get_stream(group["logGroupName"], call.params["logStreamName"])
    if stream is None:
        raise ResourceNotFoundException(STREAM_NOT_FOUND)
    return group, stream


def create_log_stream(log_store: LogStore, call: Call) -> Response:
    group, stream = call.params["logGroupName"], call.params["logStreamName"]
    if not re.fullmatch(STREAM_NAME_PATTERN, stream):
        raise InvalidParameterException(
            f"1 validation error detected: Value '{stream}' at 'logStreamName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {STREAM_NAME_PATTERN}"
        )
    if log_store.get_group(group) is None:
        raise ResourceNotFoundException(GROUP_NOT_FOUND)
    try:
        log_store.create_stream(logs.new_stream_record(group, stream, now_ms()))
    except Conflict:
        raise ResourceAlreadyExistsException("The specified log stream already exists") from None
    return {}


def describe_log_streams(log_store: LogStore, call: Call) -> Response:
    group = group_named(log_store, call)
    prefix = call.params.get("logStreamNamePrefix")
    by_time = call.params.get("orderBy") == "LastEventTime"
    if by_time and prefix is not None:
        raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
    found = [
        record
        for record in log_store.list_streams(group["logGroupName"])
        if record["logStreamName"].startswith(prefix or "")
    ]
    descending = bool(call.params.get("descending"))

    def key(record: Record) -> str:
        name = str(record["logStreamName"])
        return f"{record.get('lastEventTimestamp', 0):020d}/{name}" if by_time else name

    found.sort(key=key, reverse=descending)
    chosen, token = paged(found, key, call, descending)
    response: Response = {"logStreams": [_stream_view(record, call) for record in chosen]}
    if token:
        response["nextToken"] = token
    return response


def _stream_view(record: Record, call: Call) -> dict[str, Any]:
    view: dict[str, Any] = {
        key: record[key]
        for key in ("logStreamName", "creationTime", "firstEventTimestamp", "lastEventTimestamp", "lastIngestionTime")
        if key in record
    }
    view["arn"] = logs.stream_arn(call.region, call.account, record["logGroupName"], record["logStreamName"])
    view["storedBytes"] = 0
    return view


def put_log_events(log_store: LogStore, call: Call) -> Response:
    stream_named(log_store, call)
    given = call.params["logEvents"]
    stamps = [event["timestamp"] for event in given]
    if stamps != sorted(stamps):
        raise InvalidParameterException("Log events in a single PutLogEvents request must be in chronological order.")
    ingested = now_ms()
    added: list[Event] = [[event["timestamp"], ingested, logs.cut(event["message"])] for event in given]

    def append(record: Record) -> None:
        logs.append_events(record, added)

    if log_store.update_stream(call.params["logGroupName"], call.params["logStreamName"], append) is None:
        raise ResourceNotFoundException(STREAM_NOT_FOUND)
    return {}


def _in_range(group: Record, stream: Record, call: Call) -> list[tuple[int, Event]]:
    """The stream's events the group's retention keeps and the call's time range asks for, with
    their sequence numbers."""
    first = int(stream.get("firstSequence", 0))
    start, end = call.params.get("startTime"), call.params.get("endTime")
    return [
        (first + offset, event)
        for offset, event in logs.retained(stream.get("events", []), group.get("retentionInDays"), now_ms())
        if logs.in_time_range(event[0], start, end)
    ]


def get_log_events(log_store: LogStore, call: Call) -> Response:
    group, stream = stream_named(log_store, call)
    events = dict(_in_range(group, stream, call))
    result = logs.get_page(
        sorted(events),
        logs.stream_end(stream),
        call.params.get("limit") or DEFAULT_EVENTS_LIMIT,
        bool(call.params.get("startFromHead")),
        call.params.get("nextToken"),
    )
    return {
        "events": [
            {"timestamp": events[sequence][0], "message": events[sequence][2], "ingestionTime": events[sequence][1]}
            for sequence in result.sequences
        ],
        "nextForwardToken": result.forward,
        "nextBackwardToken": result.backward,
    }


def filter_log_events(log_store: LogStore, call: Call) -> Response:
    group = group_named(log_store, call)
    stream_names, prefix = call.params.get("logStreamNames"), call.params.get("logStreamNamePrefix")
    if stream_names is not None and prefix is not None:
        raise InvalidParameterException("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    pattern = logs.parse_filter_pattern(call.params.get("filterPattern"))
    after = logs.read_filter_token(call.params["nextToken"]) if call.params.get("nextToken") else None
    group_name = group["logGroupName"]
    matched = sorted(
        (logs.filter_key(event[0], stream["logStreamName"], sequence), event)
        for stream in log_store.list_streams(group_name)
        if (stream_names is None or stream["logStreamName"] in stream_names)
        and stream["logStreamName"].startswith(prefix or "")
        for sequence, event in _in_range(group, stream, call)
        if pattern.matches(event[2])
    )
    if after is not None:
        matched = [(key, event) for key, event in matched if key > after]
    limit = call.params.get("limit") or DEFAULT_EVENTS_LIMIT
    chosen = matched[:limit]
    response: Response = {
        "events": [
            {
                "logStreamName": key[1],
                "timestamp": event[0],
                "message": event[2],
                "ingestionTime": event[1],
                "eventId": logs.event_id(group_name, key[1], key[2]),
            }
            for key, event in chosen
        ],
        "searchedLogStreams": [],
    }
    if len(matched) > limit:
        response["nextToken"] = logs.filter_token(chosen[-1][0])
    return response
