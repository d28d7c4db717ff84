import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.errors import InvalidParameterException, SerializationException
from shim.schemas.model import input_shape, operation_names
from shim.schemas.requests import validate_request
from shim.schemas.responses import output_problems

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def test_the_model_has_every_ecs_operation() -> None:
    assert len(operation_names()) >= 88
    assert {"RunTask", "CreateService", "RegisterTaskDefinition", "ListClusters"} <= operation_names()


@pytest.mark.parametrize("operation", sorted(operation_names()))
def test_empty_request_is_accepted_or_names_every_required_member(operation: str) -> None:
    required = input_shape(operation).required_members
    if not required:
        assert validate_request(operation, {}) == {}
        return
    with pytest.raises(InvalidParameterException) as caught:
        validate_request(operation, {})
    for member in required:
        assert f"Value null at '{member}' failed to satisfy constraint: Member must not be null" in (
            caught.value.message
        )


def test_valid_request_keeps_its_members() -> None:
    body = {
        "taskDefinition": "web:3",
        "count": 2,
        "launchType": "FARGATE",
        "enableExecuteCommand": False,
        "overrides": {"containerOverrides": [{"name": "app", "environment": [{"name": "A", "value": "1"}]}]},
        "tags": [{"key": "team", "value": "blue"}],
    }
    assert validate_request("RunTask", body) == body


def test_unknown_members_are_ignored_like_aws_does() -> None:
    params = validate_request("RunTask", {"taskDefinition": "web", "shinyNewMember": {"a": 1}})
    assert params == {"taskDefinition": "web"}


def test_null_members_count_as_absent() -> None:
    assert validate_request("ListClusters", {"nextToken": None, "maxResults": None}) == {}
    with pytest.raises(InvalidParameterException, match="Value null at 'taskDefinition'"):
        validate_request("RunTask", {"taskDefinition": None})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"taskDefinition": 5}, "NUMBER_VALUE can not be converted to a String at 'taskDefinition'."),
        (
            {"taskDefinition": "web", "count": "2"},
            "STRING_VALUE can not be converted to an Integer at 'count'.",
        ),
        (
            {"taskDefinition": "web", "count": True},
            "BOOLEAN_VALUE can not be converted to an Integer at 'count'.",
        ),
        (
            {"taskDefinition": "web", "count": 2.5},
            "NUMBER_VALUE can not be converted to an Integer at 'count'.",
        ),
        (
            {"taskDefinition": "web", "count": 2**31},
            "NUMBER_VALUE can not be converted to an Integer at 'count'.",
        ),
        (
            {"taskDefinition": "web", "overrides": []},
            "Start of list found where not expected at 'overrides'.",
        ),
        (
            {"taskDefinition": "web", "tags": {}},
            "Start of structure or map found where not expected at 'tags'.",
        ),
        (
            {"taskDefinition": "web", "tags": [None]},
            "NULL_VALUE can not be converted to a Structure at 'tags.1.member'.",
        ),
        (
            {"taskDefinition": "web", "enableExecuteCommand": "true"},
            "STRING_VALUE can not be converted to a Boolean at 'enableExecuteCommand'.",
        ),
        (
            {"taskDefinition": "web", "overrides": {"containerOverrides": [{"name": "a"}, {"name": 7}]}},
            "NUMBER_VALUE can not be converted to a String at 'overrides.containerOverrides.2.member.name'.",
        ),
    ],
)
def test_member_of_the_wrong_json_type_is_a_serialization_exception(body: dict[str, Any], message: str) -> None:
    with pytest.raises(SerializationException) as caught:
        validate_request("RunTask", body)
    assert caught.value.message == message


def test_map_value_of_the_wrong_type_names_its_key() -> None:
    body = {"family": "web", "containerDefinitions": [{"name": "app", "dockerLabels": {"tier": 1}}]}
    with pytest.raises(SerializationException) as caught:
        validate_request("RegisterTaskDefinition", body)
    assert caught.value.message == (
        "NUMBER_VALUE can not be converted to a String at 'containerDefinitions.1.member.dockerLabels.tier'."
    )


def test_wrong_type_wins_over_constraint_violations() -> None:
    with pytest.raises(SerializationException):
        validate_request("RunTask", {"count": "many"})


def test_illegal_enum_value_lists_the_allowed_ones() -> None:
    with pytest.raises(InvalidParameterException) as caught:
        validate_request("RunTask", {"taskDefinition": "web", "launchType": "FARGATE_SPOT"})
    assert caught.value.message.startswith(
        "1 validation error detected: Value 'FARGATE_SPOT' at 'launchType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL"
    )


def test_every_constraint_violation_is_reported_at_once() -> None:
    body = {"taskDefinition": "web", "tags": [{"key": "", "value": "v"}, {"key": "k" * 129, "value": "v"}]}
    with pytest.raises(InvalidParameterException) as caught:
        validate_request("RunTask", body)
    assert caught.value.message == (
        "2 validation errors detected: "
        "Value '' at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        f"Value '{'k' * 129}' at 'tags.2.member.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 128"
    )


def test_list_length_limit_is_enforced() -> None:
    tags = [{"key": f"k{index}", "value": "v"} for index in range(51)]
    with pytest.raises(
        InvalidParameterException,
        match="at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50",
    ):
        validate_request("TagResource", {"resourceArn": "arn:aws:ecs:us-east-1:123456789012:cluster/a", "tags": tags})


def test_numeric_range_is_enforced() -> None:
    body = {
        "cluster": "a",
        "capacityProviders": ["FARGATE"],
        "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1001}],
    }
    with pytest.raises(InvalidParameterException) as caught:
        validate_request("PutClusterCapacityProviders", body)
    assert caught.value.message == (
        "1 validation error detected: Value '1001' at 'defaultCapacityProviderStrategy.1.member.weight' "
        "failed to satisfy constraint: Member must have value less than or equal to 1000"
    )


def test_timestamps_arrive_as_utc_datetimes() -> None:
    params = validate_request("ListServiceDeployments", {"service": "web", "createdAt": {"after": 1700000000.5}})
    assert params["createdAt"]["after"] == datetime.datetime(2023, 11, 14, 22, 13, 20, 500000, datetime.UTC)


def test_timestamp_as_a_string_is_a_serialization_exception() -> None:
    with pytest.raises(SerializationException, match="STRING_VALUE can not be converted to a Timestamp"):
        validate_request("ListServiceDeployments", {"service": "web", "createdAt": {"after": "2024-01-01"}})


def test_document_members_take_any_json() -> None:
    hook = {
        "serviceName": "web",
        "deploymentConfiguration": {"lifecycleHooks": [{"hookDetails": [1, {"a": None}]}]},
    }
    params = validate_request("CreateService", hook)
    assert params["deploymentConfiguration"]["lifecycleHooks"][0]["hookDetails"] == [1, {"a": None}]


@settings(max_examples=200, deadline=None)
@given(
    operation=st.sampled_from(sorted(operation_names())),
    body=st.dictionaries(
        st.sampled_from(["cluster", "count", "tags", "overrides", "services", "include"]), json_values
    ),
)
def test_any_json_object_is_accepted_or_answered_with_an_ecs_client_error(operation: str, body: dict[str, Any]) -> None:
    try:
        validate_request(operation, body)
    except (SerializationException, InvalidParameterException) as error:
        assert error.message


TASK = {
    "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef",
    "lastStatus": "RUNNING",
    "createdAt": 1700000000.25,
    "containers": [{"name": "app", "exitCode": 0}],
}


def test_well_formed_response_has_no_problems() -> None:
    assert output_problems("DescribeTasks", {"tasks": [TASK], "failures": []}) == []


def test_response_missing_a_required_member_is_caught() -> None:
    response = {
        "capacityProviders": [
            {"name": "spot", "autoScalingGroupProvider": {"managedTerminationProtection": "DISABLED"}}
        ]
    }
    assert output_problems("DescribeCapacityProviders", response) == [
        "$.capacityProviders[0].autoScalingGroupProvider.autoScalingGroupArn: required member missing"
    ]


def test_response_map_values_are_checked() -> None:
    definition = {"family": "web", "containerDefinitions": [{"name": "app", "dockerLabels": {"tier": 1}}]}
    assert output_problems("DescribeTaskDefinition", {"taskDefinition": definition}) == [
        "$.taskDefinition.containerDefinitions[0].dockerLabels['tier']: expected a string, got a number"
    ]


def test_response_with_an_illegal_enum_value_is_caught() -> None:
    task = {**TASK, "launchType": "KUBERNETES"}
    problems = output_problems("DescribeTasks", {"tasks": [task]})
    assert len(problems) == 1
    assert problems[0].startswith("$.tasks[0].launchType: 'KUBERNETES' is not one of EC2, FARGATE")


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        ({**TASK, "lastStatus": 3}, "$.tasks[0].lastStatus: expected a string, got a number"),
        (
            {**TASK, "containers": [{"name": "app", "exitCode": "0"}]},
            "$.tasks[0].containers[0].exitCode: expected an integer, got a string",
        ),
        (
            {**TASK, "enableExecuteCommand": "false"},
            "$.tasks[0].enableExecuteCommand: expected a boolean, got a string",
        ),
        ({**TASK, "containers": {}}, "$.tasks[0].containers: expected an array, got an object"),
        (
            {**TASK, "createdAt": "2024-01-01T00:00:00Z"},
            "$.tasks[0].createdAt: expected a number (timestamp), got a string",
        ),
        (
            {**TASK, "createdAt": 1700000000000},
            "$.tasks[0].createdAt: 1700000000000 is not epoch seconds (milliseconds?)",
        ),
        ({**TASK, "stoppedReason": None}, "$.tasks[0].stoppedReason: null (omit an absent member instead)"),
        ({**TASK, "uptime": 5}, "$.tasks[0].uptime: not a member of Task"),
        (
            {**TASK, "overrides": "none"},
            "$.tasks[0].overrides: expected an object (TaskOverride), got a string",
        ),
    ],
)
def test_response_with_a_wrong_member_is_caught(task: dict[str, Any], problem: str) -> None:
    assert output_problems("DescribeTasks", {"tasks": [task]}) == [problem]


def test_double_members_take_any_json_number() -> None:
    resources = [{"name": "CPU", "type": "INTEGER", "integerValue": 2048}, {"name": "GPU", "doubleValue": 1}]
    params = validate_request("RegisterContainerInstance", {"totalResources": resources})
    assert params["totalResources"][1]["doubleValue"] == 1.0
    with pytest.raises(SerializationException, match="BOOLEAN_VALUE can not be converted to a Double"):
        validate_request("RegisterContainerInstance", {"totalResources": [{"doubleValue": True}]})
