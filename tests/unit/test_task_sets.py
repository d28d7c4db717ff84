"""Task sets of EXTERNAL services -> Deployments and target group Services, and DescribeTaskSets and
DescribeServices read back from their pods."""

from typing import Any

import pytest

from shim.errors import InvalidParameterException, TaskSetNotFoundException
from shim.schemas.responses import output_problems
from shim.translate.service_to_kube import service_record
from shim.translate.task_definitions import revisions_in_use
from shim.translate.task_sets import (
    checked_scale,
    computed_desired_count,
    drained_task_sets,
    external_service_updated,
    external_service_view,
    find_task_set,
    target_group_label,
    target_group_service_names,
    target_group_services,
    task_set_entry,
    task_set_manifest,
    task_set_view,
    with_primary,
    with_task_set,
)
from tests.unit.test_services import (
    ACCOUNT,
    CLUSTER,
    CREATOR,
    D1,
    D2,
    NAMESPACE,
    REGION,
    T0,
    arn,
    definition,
    pod,
    round_trips,
)

BLUE_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/0123456789abcdef"
GREEN_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/fedcba9876543210"


def external(desired: int = 4, **fields: Any) -> dict[str, Any]:
    params = {"serviceName": "web", "desiredCount": desired, "deploymentController": {"type": "EXTERNAL"}, **fields}
    return service_record(params, cluster_name=CLUSTER, created_at=T0, created_by=CREATOR, deployment_id=D1)


def task_set(task_set_id: str, revision: int, target_group: str, scale: float = 100, at: float = T0) -> dict[str, Any]:
    """A task set of the service `external()` makes."""
    load_balancers = [{"targetGroupArn": target_group, "containerName": "app", "containerPort": 8080}]
    params = {
        "taskDefinition": arn(revision),
        "loadBalancers": load_balancers,
        "scale": {"value": scale, "unit": "PERCENT"},
    }
    return task_set_entry(params, external(), task_set_id=task_set_id, now=at)


def blue_green(green_scale: float = 50) -> dict[str, Any]:
    record = with_task_set(external(), task_set(D1, 1, BLUE_TG))
    record = with_primary(record, D1, T0 + 1)
    return with_task_set(record, task_set(D2, 2, GREEN_TG, green_scale, T0 + 10))


def running_pods_of(record: dict[str, Any], task_set_id: str, count: int) -> list[dict[str, Any]]:
    entry = find_task_set(record, task_set_id)
    revision = int(entry["taskDefinition"].rsplit(":", 1)[1])
    manifest = task_set_manifest(record, entry, definition(revision), namespace=NAMESPACE, scheduling=None)
    return [pod(manifest, index) for index in range(count)]


def test_an_external_service_has_no_deployment_and_needs_no_task_definition() -> None:
    record = external()
    assert (record["deploymentController"], record["deployments"], record["taskSets"]) == ({"type": "EXTERNAL"}, [], [])
    assert "taskDefinition" not in record
    view = external_service_view(record, [], region=REGION, account=ACCOUNT, now=T0, include_tags=False)
    assert output_problems("DescribeServices", {"services": [view], "failures": []}) == []
    assert (view["taskSets"], view["deployments"], view["desiredCount"]) == ([], [], 4)
    assert "taskDefinition" not in view and "loadBalancers" not in view


@pytest.mark.parametrize(
    "fields",
    [{"schedulingStrategy": "DAEMON", "desiredCount": None}, {"deploymentConfiguration": {"strategy": "BLUE_GREEN"}}],
)
def test_an_external_service_refuses_what_only_ecs_deployments_have(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterException):
        external(**fields)


@pytest.mark.parametrize(
    ("desired", "scale", "expected"), [(4, 100, 4), (4, 50, 2), (3, 40, 2), (10, 10, 1), (4, 0, 0), (3, 33.333333, 1)]
)
def test_the_computed_desired_count_is_the_scaled_desired_count_rounded_up(
    desired: int, scale: float, expected: int
) -> None:
    record = with_task_set(external(desired), task_set(D1, 1, BLUE_TG, scale))
    assert computed_desired_count(record, record["taskSets"][0]) == expected


def test_a_draining_task_set_or_a_deleted_service_wants_no_tasks() -> None:
    record = blue_green()
    draining = with_task_set(record, {**find_task_set(record, D1), "status": "DRAINING"})
    assert computed_desired_count(draining, find_task_set(draining, D1)) == 0
    deleted = {**record, "status": "DRAINING"}
    assert computed_desired_count(deleted, find_task_set(deleted, D2)) == 0


@pytest.mark.parametrize(
    "scale", [{"value": 100.5, "unit": "PERCENT"}, {"value": -1, "unit": "PERCENT"}, {"value": 5, "unit": "COUNT"}]
)
def test_a_scale_outside_0_to_100_percent_is_refused(scale: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterException):
        checked_scale(scale)
    assert checked_scale(None) == {"value": 100.0, "unit": "PERCENT"}


def test_a_task_set_is_found_by_id_or_arn_only() -> None:
    record = blue_green()
    arn_of_d2 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-set/{CLUSTER}/web/{D2}"
    assert find_task_set(record, arn_of_d2)["id"] == find_task_set(record, D2)["id"] == D2
    with pytest.raises(TaskSetNotFoundException):
        find_task_set(record, "ecs-svc/3")


def test_one_task_set_is_primary_at_a_time_and_a_draining_one_never_becomes_it() -> None:
    record = with_primary(blue_green(), D2, T0 + 20)
    assert {entry["id"]: entry["status"] for entry in record["taskSets"]} == {D1: "ACTIVE", D2: "PRIMARY"}
    draining = with_task_set(record, {**find_task_set(record, D1), "status": "DRAINING"})
    with pytest.raises(InvalidParameterException):
        with_primary(draining, D1, T0 + 30)


def test_update_service_changes_the_desired_count_but_sends_task_set_settings_to_a_new_task_set() -> None:
    record = blue_green()
    assert external_service_updated(record, {"desiredCount": 6})["desiredCount"] == 6
    new_target_group = [{"targetGroupArn": GREEN_TG, "containerName": "app", "containerPort": 8080}]
    for params in ({"taskDefinition": arn(3)}, {"forceNewDeployment": True}, {"loadBalancers": new_target_group}):
        with pytest.raises(InvalidParameterException):
            external_service_updated(record, params)


def test_a_task_set_becomes_a_deployment_of_its_own_tasks() -> None:
    record = blue_green()
    green = find_task_set(record, D2)
    manifest = task_set_manifest(record, green, definition(2), namespace=NAMESPACE, scheduling=None)
    round_trips(manifest, "V1Deployment")
    spec = manifest["spec"]
    assert spec["replicas"] == 2
    selector = spec["selector"]["matchLabels"]
    template_labels = spec["template"]["metadata"]["labels"]
    assert selector.items() <= template_labels.items()
    assert template_labels[target_group_label(GREEN_TG)] == "true"
    assert target_group_label(BLUE_TG) not in template_labels
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["ecs.shim.io/started-by"] == D2, "ECS gives a task set's tasks its id as startedBy"
    blue = task_set_manifest(record, find_task_set(record, D1), definition(1), namespace=NAMESPACE, scheduling=None)
    assert blue["metadata"]["name"] != manifest["metadata"]["name"]
    assert blue["spec"]["selector"] != spec["selector"], "each Deployment selects only its own task set's pods"


def test_each_target_group_becomes_one_service_selecting_the_tasks_registered_with_it() -> None:
    record = with_task_set(blue_green(), task_set("ecs-svc/3", 2, GREEN_TG, 10, T0 + 20))
    services = target_group_services(record, {arn(1): definition(1), arn(2): definition(2)}, namespace=NAMESPACE)
    assert {service["metadata"]["name"] for service in services} == target_group_service_names(record)
    assert len(services) == 2
    for service in services:
        round_trips(service, "V1Service")
        target = service["metadata"]["annotations"]["ecs.shim.io/target-group-arn"]
        assert service["spec"]["selector"][target_group_label(target)] == "true"
        assert service["spec"]["ports"][0]["port"] == 8080


def test_describe_task_sets_counts_each_task_sets_own_tasks() -> None:
    record = blue_green()
    pods = running_pods_of(record, D1, 4) + running_pods_of(record, D2, 1)
    green = task_set_view(record, find_task_set(record, D2), pods, region=REGION, account=ACCOUNT, now=T0 + 60)
    assert output_problems("DescribeTaskSets", {"taskSets": [green], "failures": []}) == []
    assert (green["runningCount"], green["computedDesiredCount"], green["stabilityStatus"]) == (1, 2, "STABILIZING")
    blue = task_set_view(record, find_task_set(record, D1), pods, region=REGION, account=ACCOUNT, now=T0 + 60)
    assert (blue["runningCount"], blue["stabilityStatus"], blue["status"]) == (4, "STEADY_STATE", "PRIMARY")


def test_describe_services_shows_the_primary_task_sets_settings_and_every_task() -> None:
    record = blue_green()
    pods = running_pods_of(record, D1, 4) + running_pods_of(record, D2, 2)
    view = external_service_view(record, pods, region=REGION, account=ACCOUNT, now=T0 + 60, include_tags=True)
    assert output_problems("DescribeServices", {"services": [view], "failures": []}) == []
    assert (view["taskDefinition"], view["loadBalancers"][0]["targetGroupArn"]) == (arn(1), BLUE_TG)
    assert (view["runningCount"], [entry["id"] for entry in view["taskSets"]]) == (6, [D2, D1])


def test_a_draining_task_set_goes_once_its_tasks_have_stopped() -> None:
    record = blue_green()
    record = with_task_set(record, {**find_task_set(record, D1), "status": "DRAINING"})
    stopping = running_pods_of(record, D1, 1)
    assert drained_task_sets(record, stopping) == []
    assert [entry["id"] for entry in drained_task_sets(record, [])] == [D1]


def test_a_task_sets_tasks_keep_the_tags_they_were_launched_with() -> None:
    record = external(propagateTags="SERVICE", tags=[{"key": "team", "value": "web"}])
    entry = task_set_entry({"taskDefinition": arn(1)}, record, task_set_id=D1, now=T0)
    record = with_task_set(record, entry)
    before = task_set_manifest(record, entry, definition(1), namespace=NAMESPACE, scheduling=None)
    retagged = {**record, "tags": [{"key": "team", "value": "api"}], "desiredCount": 6}
    after = task_set_manifest(retagged, entry, definition(1), namespace=NAMESPACE, scheduling=None)
    assert after["spec"]["template"] == before["spec"]["template"], "a new count or new service tags roll out nothing"
    assert "team" in before["spec"]["template"]["metadata"]["annotations"]["ecs.shim.io/tags"]
    assert "ecs.shim.io/circuit-breaker" not in before["metadata"]["annotations"]


def test_a_task_set_keeps_its_task_definition_in_use_and_is_found_only_by_its_own_arn() -> None:
    record = blue_green()
    assert {("web", 1), ("web", 2)} <= revisions_in_use([], [], [record])
    other_service_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-set/{CLUSTER}/api/{D2}"
    with pytest.raises(TaskSetNotFoundException):
        find_task_set(record, other_service_arn)
