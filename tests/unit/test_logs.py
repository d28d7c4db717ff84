"""CloudWatch Logs, the pure parts: filter patterns, GetLogEvents' tokens, awslogs options and
stream names, container output -> events, the per-stream size bound."""

import pytest

from shim.errors import InvalidParameterException
from shim.translate import logs
from shim.translate.logs import Position


@pytest.mark.parametrize(
    ("pattern", "message", "matches"),
    [
        ("", "anything", True),
        ("ERROR", "an ERROR here", True),
        ("ERROR", "an error here", False),
        ("ERROR timeout", "ERROR: db timeout", True),
        ("ERROR timeout", "ERROR: db refused", False),
        ('"db timeout"', "ERROR: db timeout", True),
        ('"db timeout"', "timeout of db", False),
        ('ERROR "db timeout"', "ERROR: db timeout", True),
        ("?ERROR ?WARN", "WARN low disk", True),
        ("?ERROR ?WARN", "INFO fine", False),
        ("ERROR -retrying", "ERROR retrying", False),
        ("ERROR -retrying", "ERROR giving up", True),
        ('"say \\"hi\\""', 'they say "hi"', True),
    ],
)
def test_filter_pattern_terms_and_phrases(pattern: str, message: str, matches: bool) -> None:
    assert logs.parse_filter_pattern(pattern).matches(message) is matches


@pytest.mark.parametrize("pattern", ['"unbalanced', '{ $.level = "ERROR" }', "[ip, user]", '""'])
def test_malformed_or_unsupported_filter_pattern_is_an_invalid_parameter(pattern: str) -> None:
    with pytest.raises(InvalidParameterException, match="Invalid filter pattern"):
        logs.parse_filter_pattern(pattern)


def test_tail_of_the_stream_without_a_token() -> None:
    page = logs.get_page(list(range(10)), end=10, limit=3, start_from_head=False, token=None)
    assert page.sequences == [7, 8, 9]
    assert logs.read_token(page.forward) == ("f", 10)
    assert logs.read_token(page.backward) == ("b", 7)


def test_forward_token_reads_on_and_comes_back_unchanged_at_the_end() -> None:
    sequences = list(range(5))
    first = logs.get_page(sequences, end=5, limit=2, start_from_head=True, token=None)
    second = logs.get_page(sequences, end=5, limit=2, start_from_head=True, token=first.forward)
    third = logs.get_page(sequences, end=5, limit=2, start_from_head=True, token=second.forward)
    assert (first.sequences, second.sequences, third.sequences) == ([0, 1], [2, 3], [4])
    end = logs.get_page(sequences, end=5, limit=2, start_from_head=True, token=third.forward)
    assert end.sequences == []
    assert end.forward == third.forward
    later = logs.get_page([*sequences, 5], end=6, limit=2, start_from_head=True, token=end.forward)
    assert later.sequences == [5]


def test_backward_token_reads_earlier_events_and_comes_back_unchanged_at_the_start() -> None:
    sequences = list(range(5))
    last = logs.get_page(sequences, end=5, limit=2, start_from_head=False, token=None)
    earlier = logs.get_page(sequences, end=5, limit=2, start_from_head=False, token=last.backward)
    first = logs.get_page(sequences, end=5, limit=2, start_from_head=False, token=earlier.backward)
    assert (last.sequences, earlier.sequences, first.sequences) == ([3, 4], [1, 2], [0])
    start = logs.get_page(sequences, end=5, limit=2, start_from_head=False, token=first.backward)
    assert start.sequences == [] and start.backward == first.backward


def test_empty_stream_tokens_stay_put() -> None:
    page = logs.get_page([], end=0, limit=10, start_from_head=True, token=None)
    again = logs.get_page([], end=0, limit=10, start_from_head=True, token=page.forward)
    assert again.forward == page.forward and again.sequences == []


@pytest.mark.parametrize("token", ["garbage", "f/12", "x/1/s", "f/-1/s", "f//s"])
def test_unreadable_token_is_an_invalid_parameter(token: str) -> None:
    with pytest.raises(InvalidParameterException, match=r"The specified nextToken is invalid\."):
        logs.get_page([1], end=2, limit=1, start_from_head=True, token=token)


def test_awslogs_stream_is_prefix_container_task() -> None:
    options = {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web", "awslogs-create-group": "true"}
    awslogs = logs.awslogs_of({"name": "app", "logConfiguration": {"logDriver": "awslogs", "options": options}})
    assert awslogs == logs.AwsLogs("/ecs/web", "web", True)
    assert awslogs.stream_name("app", "0123abcd", "c0ffee") == "web/app/0123abcd"
    assert logs.AwsLogs("/ecs/web", None, False).stream_name("app", "0123abcd", "c0ffee") == "c0ffee"


def test_other_log_drivers_send_nothing_to_cloudwatch() -> None:
    assert logs.awslogs_of({"logConfiguration": {"logDriver": "json-file", "options": {}}}) is None
    assert logs.awslogs_of({"name": "app"}) is None


def test_container_output_becomes_events_once() -> None:
    output = (
        "2024-05-01T12:30:15.100000000Z first\n"
        "2024-05-01T12:30:15.100000000Z second, same instant\n"
        "2024-05-01T12:30:16.5Z third\n"
    )
    events, position = logs.new_output(output, Position(), ingested_ms=1)
    assert [event[2] for event in events] == ["first", "second, same instant", "third"]
    assert events[0][0] == 1714566615100
    assert position == Position("2024-05-01T12:30:16.5Z", 1)
    again, same = logs.new_output(output, position, ingested_ms=2)
    assert again == [] and same == position
    more, _ = logs.new_output(output + "2024-05-01T12:30:17Z fourth\n", position, ingested_ms=3)
    assert [event[2] for event in more] == ["fourth"]


def test_lines_of_the_same_instant_are_counted_not_lost() -> None:
    one = "2024-05-01T12:30:15.1Z a\n"
    first, position = logs.new_output(one, Position(), ingested_ms=1)
    assert [event[2] for event in first] == ["a"]
    both, after = logs.new_output(one + "2024-05-01T12:30:15.1Z b\n", position, ingested_ms=2)
    assert [event[2] for event in both] == ["b"]
    assert after == Position("2024-05-01T12:30:15.1Z", 2)


def test_stream_past_its_bound_drops_its_oldest_events() -> None:
    record = logs.new_stream_record("g", "s", 0)
    line = "x" * 1000
    logs.append_events(record, [[index, index, line] for index in range(1000)])
    assert sum(logs.event_size(event) for event in record["events"]) <= logs.MAX_STREAM_BYTES
    kept = len(record["events"])
    assert 0 < kept < 1000
    assert record["firstSequence"] == 1000 - kept
    assert record["events"][-1][0] == 999
    assert logs.stream_end(record) == 1000
    assert (record["firstEventTimestamp"], record["lastEventTimestamp"]) == (0, 999)


def test_log_group_identifier_may_be_an_arn() -> None:
    assert logs.group_of_identifier("arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web:*") == "/ecs/web"
    assert logs.group_of_identifier("/ecs/web") == "/ecs/web"


def test_translate_says_where_each_containers_output_goes() -> None:
    options = {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web"}
    definition = {
        "family": "web",
        "containerDefinitions": [
            {"name": "app", "logConfiguration": {"logDriver": "awslogs", "options": options}},
            {"name": "sidecar"},
        ],
    }
    assert logs.log_destinations(definition) == [
        "container app: output to CloudWatch Logs group /ecs/web (must exist: CreateLogGroup), "
        "stream web/app/<task-id>",
        "container sidecar: output in its pod's log only (`kubectl logs`), gone with the pod",
    ]
