"""Describe calls that name nothing: botocore sends an empty list, and ECS refuses it."""

from typing import Any

import pytest

from tests.integration.conftest import ecs_error

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def test_describe_tasks_of_no_task_is_refused(ecs: Any, ecs_cluster: str) -> None:
    error = ecs_error(ecs.describe_tasks, cluster=ecs_cluster, tasks=[])

    assert (error["Code"], error["Message"]) == ("InvalidParameterException", "Tasks cannot be empty.")


def test_describe_container_instances_of_no_instance_is_refused(ecs: Any, ecs_cluster: str) -> None:
    error = ecs_error(ecs.describe_container_instances, cluster=ecs_cluster, containerInstances=[])

    assert (error["Code"], error["Message"]) == ("InvalidParameterException", "Container instance cannot be empty.")
