"""CloudWatch Logs, pure: log group and stream ARNs, the `awslogs` log driver's options and stream
names, container runtime log lines -> log events, the stored events of a stream and CloudWatch's
paging over them (GetLogEvents' forward and backward tokens, FilterLogEvents' token), and filter
patterns (terms, quoted phrases, `?term` alternatives, `-term` exclusions).

A stream's events are kept in the order they arrived; each has a sequence number (its position
since the stream began, which dropping the oldest events does not change), and the tokens name
sequence numbers, so a token stays valid while events are added and dropped."""

import base64
import binascii
import datetime
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shim.errors import InvalidParameterException
from shim.translate import names

AWSLOGS = "awslogs"
MAX_EVENT_BYTES = 256 * 1024 - 26
"""The largest message kept (CloudWatch's event size limit, 256 KiB, less its 26 bytes of
overhead per event): a longer container output line is cut there, as the awslogs driver splits it."""
MAX_STREAM_BYTES = 512 * 1024
"""The stored size bound of one stream (its events as stored, JSON-encoded): past it the oldest
events are dropped. Kept well under etcd's 1.5 MiB object limit."""
RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
"""The retention periods CloudWatch Logs accepts, in days."""
DEFAULT_EVENTS_LIMIT = 10_000
BAD_TOKEN = "The specified nextToken is invalid."

Event = list[Any]
"""A stored event: [timestamp ms, ingestion time ms, message]."""


def group_arn(region: str, account: str, group: str) -> str:
    """The log group's ARN as DescribeLogGroups' `arn` shows it (with the trailing `:*`)."""
    return f"arn:aws:logs:{region}:{account}:log-group:{group}:*"


def stream_arn(region: str, account: str, group: str, stream: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}"


def group_of_identifier(identifier: str) -> str:
    """The log group a `logGroupIdentifier` (a name or an ARN) names."""
    if identifier.startswith("arn:"):
        resource = identifier.split(":", 5)[-1]
        return resource.removeprefix("log-group:").removesuffix(":*")
    return identifier


# The awslogs log driver


@dataclass(frozen=True)
class AwsLogs:
    """A container's `awslogs` logConfiguration: where its output goes."""

    group: str
    stream_prefix: str | None
    create_group: bool

    def stream_name(self, container_name: str, task_id: str, container_id: str | None) -> str | None:
        """The stream ECS writes the container's output to: `prefix/container-name/task-id`; without
        a prefix, the container's runtime id (None until the runtime has one), as on EC2."""
        if self.stream_prefix:
            return f"{self.stream_prefix}/{container_name}/{task_id}"
        return container_id


def awslogs_of(container_definition: Mapping[str, Any]) -> AwsLogs | None:
    """The container's `awslogs` configuration, if its output goes to CloudWatch Logs."""
    configuration = container_definition.get("logConfiguration") or {}
    options = configuration.get("options") or {}
    if configuration.get("logDriver") != AWSLOGS or not options.get("awslogs-group"):
        return None
    return AwsLogs(
        group=options["awslogs-group"],
        stream_prefix=options.get("awslogs-stream-prefix") or None,
        create_group=str(options.get("awslogs-create-group", "")).lower() == "true",
    )


def runtime_container_id(container_id: str | None) -> str | None:
    """`containerd://0123...` (a container status' containerID) -> `0123...`."""
    return container_id.partition("://")[2] or None if container_id else None


# Container runtime output -> events


@dataclass(frozen=True)
class Position:
    """How far a container's output has been copied: the runtime timestamp of the last line
    copied (RFC 3339 with nanoseconds, as `kubectl logs --timestamps` shows it) and how many
    lines with that very timestamp were copied."""

    since: str = ""
    at_since: int = 0

    def as_record(self) -> dict[str, Any]:
        return {"since": self.since, "atSince": self.at_since}

    @staticmethod
    def of_record(record: Mapping[str, Any] | None) -> "Position":
        record = record or {}
        return Position(str(record.get("since", "")), int(record.get("atSince", 0)))


def new_output(output: str, position: Position, ingested_ms: int) -> tuple[list[Event], Position]:
    """The events of the lines of `output` (a container's log with runtime timestamps, from
    `position.since` on) not copied yet, and the position after them. Lines without a runtime
    timestamp (none come from the kubelet) are skipped."""
    events: list[Event] = []
    since, at_since = position.since, position.at_since
    to_skip = position.at_since
    for line in output.splitlines():
        stamp, _, message = line.partition(" ")
        millis = epoch_millis(stamp)
        if millis is None:
            continue
        if since and _sortable(stamp) < _sortable(since):
            continue
        same = bool(since) and _sortable(stamp) == _sortable(since)
        if same and to_skip > 0:
            to_skip -= 1
            continue
        events.append([millis, ingested_ms, cut(message)])
        since, at_since = (since, at_since + 1) if same else (stamp, 1)
    return events, Position(since, at_since)


def _sortable(stamp: str) -> tuple[str, int]:
    """An RFC 3339 UTC timestamp as a key that orders like time (fractions of any length)."""
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    return seconds, int(fraction.ljust(9, "0")[:9] or 0)


def epoch_millis(stamp: str) -> int | None:
    """`2024-05-01T12:30:15.123456789Z` -> epoch milliseconds (None: not a runtime timestamp)."""
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        moment = datetime.datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    if not stamp.endswith("Z") or (fraction and not fraction.isdigit()):
        return None
    return int(moment.timestamp()) * 1000 + int(fraction.ljust(3, "0")[:3] or 0)


def cut(message: str) -> str:
    encoded = message.encode()
    if len(encoded) <= MAX_EVENT_BYTES:
        return message
    return encoded[:MAX_EVENT_BYTES].decode(errors="ignore")


def bounded(events: list[Event], first_sequence: int) -> tuple[list[Event], int]:
    """`events` without the oldest ones past MAX_STREAM_BYTES, and the first sequence number left."""
    sizes = [event_size(event) for event in events]
    total = sum(sizes)
    dropped = 0
    while total > MAX_STREAM_BYTES and dropped < len(events):
        total -= sizes[dropped]
        dropped += 1
    return events[dropped:], first_sequence + dropped


def event_size(event: Event) -> int:
    return len(json.dumps(event, ensure_ascii=False).encode())


def retained(events: Sequence[Event], retention_days: int | None, now_ms: int) -> list[tuple[int, Event]]:
    """The events a group's retention keeps, with their offsets in `events`."""
    cutoff = now_ms - retention_days * 86_400_000 if retention_days else None
    return [(offset, event) for offset, event in enumerate(events) if cutoff is None or event[0] >= cutoff]


# GetLogEvents


@dataclass(frozen=True)
class Page:
    """One GetLogEvents answer: the events' sequence numbers and the two tokens."""

    sequences: list[int]
    forward: str
    backward: str


def forward_token(sequence: int) -> str:
    return f"f/{sequence:056d}/s"


def backward_token(sequence: int) -> str:
    return f"b/{sequence:056d}/s"


def read_token(token: str) -> tuple[str, int]:
    """A GetLogEvents token -> its direction (`f` or `b`) and sequence number."""
    match = re.fullmatch(r"([fb])/(\d{1,56})/s", token)
    if match is None:
        raise InvalidParameterException(BAD_TOKEN)
    return match.group(1), int(match.group(2))


def get_page(sequences: Sequence[int], end: int, limit: int, start_from_head: bool, token: str | None) -> Page:
    """The page of `sequences` (the stream's events in the time range, ascending) that
    GetLogEvents answers; `end` is the sequence number the next event added will have.

    As CloudWatch: without a token, the first `limit` events (startFromHead) or the last ones;
    a forward token reads on after the events already returned, a backward token before them;
    a token that finds no event comes back unchanged, so a reader polling with
    nextForwardToken sees each event once and knows it has reached the end."""
    if token is None:
        chosen = list(sequences[:limit]) if start_from_head else list(sequences[-limit:])
        if not chosen:
            return Page([], forward_token(end), backward_token(end))
        return Page(chosen, forward_token(chosen[-1] + 1), backward_token(chosen[0]))
    direction, at = read_token(token)
    if direction == "f":
        chosen = [sequence for sequence in sequences if sequence >= at][:limit]
    else:
        chosen = [sequence for sequence in sequences if sequence < at][-limit:]
    if not chosen:
        forward = token if direction == "f" else forward_token(at)
        return Page([], forward, token if direction == "b" else backward_token(at))
    return Page(chosen, forward_token(chosen[-1] + 1), backward_token(chosen[0]))


# FilterLogEvents


def filter_key(timestamp: int, stream: str, sequence: int) -> tuple[int, str, int]:
    """The order FilterLogEvents returns events in across streams: by time, then stream, then arrival."""
    return timestamp, stream, sequence


def filter_token(key: tuple[int, str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def read_filter_token(token: str) -> tuple[int, str, int]:
    try:
        timestamp, stream, sequence = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(timestamp), str(stream), int(sequence)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidParameterException(BAD_TOKEN) from None


def event_id(group: str, stream: str, sequence: int) -> str:
    """A FilterLogEvents eventId: the same for an event on every read (as `aws logs tail`
    expects: it drops events whose id it has seen), different for every event of a group."""
    return f"{int(names.short_hash(f'{group}:{stream}', 16), 16):020d}{sequence:020d}"


@dataclass(frozen=True)
class FilterPattern:
    """A CloudWatch Logs filter pattern over unstructured events: every `required` term or
    phrase must occur, at least one of `alternatives` (when there are any), none of `excluded`.
    Matching is case-sensitive, as CloudWatch's."""

    required: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def matches(self, message: str) -> bool:
        return (
            all(term in message for term in self.required)
            and (not self.alternatives or any(term in message for term in self.alternatives))
            and not any(term in message for term in self.excluded)
        )


_TERM = re.compile(r'\s*(?:([?-]?)"((?:[^"\\]|\\.)*)"|([?-]?)([^\s"]+))')


def parse_filter_pattern(pattern: str | None) -> FilterPattern:
    """The pattern of `filterPattern`: terms and "quoted phrases", each optionally marked `?`
    (any of these) or `-` (none of these). JSON (`{ $.x = 1 }`) and space-delimited (`[a, b]`)
    patterns are refused as InvalidParameterException, as is a malformed one."""
    text = (pattern or "").strip()
    if not text:
        return FilterPattern()
    if text[0] in "{[":
        raise InvalidParameterException(
            f"Invalid filter pattern: {text!r}: only terms and quoted phrases are supported."
        )
    required: list[str] = []
    alternatives: list[str] = []
    excluded: list[str] = []
    position = 0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None or match.end() == position:
            raise InvalidParameterException(f"Invalid filter pattern: {text!r}: unbalanced quote or empty term.")
        marker = match.group(1) or match.group(3) or ""
        term = match.group(2) if match.group(2) is not None else match.group(4)
        term = term.replace('\\"', '"')
        if not term:
            raise InvalidParameterException(f"Invalid filter pattern: {text!r}: empty term.")
        {"?": alternatives, "-": excluded}.get(marker, required).append(term)
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return FilterPattern(tuple(required), tuple(alternatives), tuple(excluded))


def in_time_range(timestamp: int, start: int | None, end: int | None) -> bool:
    """startTime is inclusive, endTime exclusive, as CloudWatch reads them."""
    return (start is None or timestamp >= start) and (end is None or timestamp < end)


def new_stream_record(group: str, stream: str, now_ms: int) -> dict[str, Any]:
    """A stream as first stored: no events yet."""
    return {"logGroupName": group, "logStreamName": stream, "creationTime": now_ms, "firstSequence": 0, "events": []}


def append_events(record: dict[str, Any], added: Sequence[Event]) -> None:
    """Add `added` to a stream record, dropping its oldest events past MAX_STREAM_BYTES, and
    update its first and last event timestamps and ingestion time as CloudWatch shows them."""
    if not added:
        return
    events, record["firstSequence"] = bounded([*record.get("events", []), *added], record.get("firstSequence", 0))
    record["events"] = events
    stamps = [event[0] for event in added]
    record["firstEventTimestamp"] = min(record.get("firstEventTimestamp", stamps[0]), *stamps)
    record["lastEventTimestamp"] = max(record.get("lastEventTimestamp", stamps[0]), *stamps)
    record["lastIngestionTime"] = max(event[1] for event in added)


def stream_end(record: Mapping[str, Any]) -> int:
    """The sequence number the next event added to the stream gets."""
    return int(record.get("firstSequence", 0)) + len(record.get("events", []))


def log_destinations(register_input: Mapping[str, Any]) -> list[str]:
    """Where each container's output goes, in words (for `ecs-shim translate`)."""
    said = []
    for container in register_input.get("containerDefinitions") or []:
        name = container.get("name", "?")
        awslogs = awslogs_of(container)
        if awslogs is None:
            said.append(f"container {name}: output in its pod's log only (`kubectl logs`), gone with the pod")
            continue
        stream = awslogs.stream_name(name, "<task-id>", "<container-id>")
        created = " (created if missing)" if awslogs.create_group else " (must exist: CreateLogGroup)"
        said.append(f"container {name}: output to CloudWatch Logs group {awslogs.group}{created}, stream {stream}")
    return said
