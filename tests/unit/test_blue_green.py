"""BLUE_GREEN service deployments: validation, the manifests of each stage, and the stages the
reconciler moves a deployment through (translate/blue_green.py)."""

from typing import Any

import pytest

from shim.errors import ClientException, InvalidParameterException
from shim.translate import names
from shim.translate.blue_green import (
    blue_green_advanced,
    hook_resolved,
    serving_label_changes,
    superseded_replica_sets,
)
from shim.translate.service_to_kube import (
    BLUE_GREEN_HOLD_SECONDS,
    LABEL_SERVING,
    kube_services,
    primary_deployment,
    service_record_rolled_back,
    traffic_steps,
    validate_service_params,
    workload_manifest,
)
from tests.unit.test_services import (
    D1,
    D2,
    D3,
    NAMESPACE,
    T0,
    completed,
    create,
    definition,
    params,
    pod,
    replica_set,
    round_trips,
    update,
    workload,
)
from tests.unit.test_services import view as service_view_of

TARGET = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
BLUE_GREEN = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 2}
LAMBDA_HOOK = {
    "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:check",
    "lifecycleStages": ["POST_SCALE_UP"],
}


def blue_green(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    load_balancer = {"targetGroupArn": TARGET, "containerName": "app", "containerPort": 8080}
    return create(deploymentConfiguration=configuration or BLUE_GREEN, loadBalancers=[load_balancer])


def selected_deployment(record: dict[str, Any]) -> str | None:
    [service] = kube_services(record, definition(), namespace=NAMESPACE)
    selected: str | None = service["spec"]["selector"].get(names.LABEL_STARTED_BY)
    return selected


def deployment_spec(record: dict[str, Any]) -> dict[str, Any]:
    revision = int(primary_deployment(record)["taskDefinition"].rsplit(":", 1)[1])
    manifest = workload_manifest(record, definition(revision), namespace=NAMESPACE, scheduling=None)
    round_trips(manifest, "V1Deployment")
    spec: dict[str, Any] = manifest["spec"]
    return spec


def view_of(record: dict[str, Any], running: int) -> dict[str, Any]:
    """The service view's PRIMARY deployment with `running` of its 3 tasks running."""
    primary = primary_deployment(record)
    return {"deployments": [{"id": primary["id"], "status": "PRIMARY", "desiredCount": 3, "runningCount": running}]}


@pytest.mark.parametrize(
    ("configuration", "why"),
    [
        ({"strategy": "BLUE_GREEN"}, "bakeTimeInMinutes must be specified"),
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1441}, "between 0 and 1440"),
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": -1}, "between 0 and 1440"),
    ],
)
def test_a_blue_green_service_needs_a_bake_time_within_a_day(configuration: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidParameterException, match=why):
        validate_service_params(params(deploymentConfiguration=configuration))


def test_blue_green_is_for_replica_services_and_its_hooks_are_checked() -> None:
    with pytest.raises(InvalidParameterException, match="DAEMON"):
        validate_service_params(
            {"serviceName": "agent", "taskDefinition": "web:1", "schedulingStrategy": "DAEMON"}
            | {"deploymentConfiguration": BLUE_GREEN}
        )
    validate_service_params(params(deploymentConfiguration={**BLUE_GREEN, "lifecycleHooks": [LAMBDA_HOOK]}))
    for hook, why in (
        ({"targetType": "PAUSE", "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}, "PAUSE hooks cannot"),
        ({"lifecycleStages": ["POST_SCALE_UP"]}, "needs a hookTargetArn"),
        ({"targetType": "PAUSE", "lifecycleStages": ["BAKE_TIME"]}, "lifecycleStages among"),
    ):
        with pytest.raises(InvalidParameterException, match=why):
            validate_service_params(params(deploymentConfiguration={**BLUE_GREEN, "lifecycleHooks": [hook]}))
    with pytest.raises(InvalidParameterException, match="only be used with the BLUE_GREEN"):
        validate_service_params(params(deploymentConfiguration={"lifecycleHooks": [LAMBDA_HOOK]}))


@pytest.mark.parametrize(
    ("configuration", "why"),
    [
        ({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 2.9}}, "from 3.0 to 100.0"),
        ({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 10.05}}, "multiple of 0.1"),
        ({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.0}}, "from 0.1 to 100.0"),
        ({"strategy": "CANARY", "canaryConfiguration": {"canaryBakeTimeInMinutes": 1441}}, "between 0 and 1440"),
    ],
)
def test_linear_and_canary_steps_are_checked(configuration: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidParameterException, match=why):
        validate_service_params(params(deploymentConfiguration=configuration))


def test_traffic_moves_in_the_steps_linear_and_canary_configure() -> None:
    assert traffic_steps({"strategy": "BLUE_GREEN"}) == ([100.0], 0.0)
    assert traffic_steps({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 30}}) == (
        [30.0, 60.0, 90.0, 100.0],
        360.0,
    )
    assert traffic_steps({"strategy": "LINEAR"})[0] == [10.0 * step for step in range(1, 11)]
    canary = {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 25.5, "canaryBakeTimeInMinutes": 1}}
    assert traffic_steps(canary) == ([25.5, 100.0], 60.0)
    assert traffic_steps({"strategy": "CANARY"}) == ([5.0, 100.0], 600.0)


def test_a_new_blue_green_service_sends_traffic_to_its_first_deployment_and_holds_nothing() -> None:
    record = blue_green()
    assert selected_deployment(record) == names.label_value(D1)
    spec = deployment_spec(record)
    assert "minReadySeconds" not in spec
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "100%", "maxUnavailable": 0}


def updated(record: dict[str, Any]) -> dict[str, Any]:
    """`record` after an UpdateService to revision 2, as the handler stores it: its BLUE_GREEN
    deployment moved on as far as it can before its tasks run."""
    changed = update(completed(record), taskDefinition=definition(2)["taskDefinitionArn"])
    assert primary_deployment(changed)["lifecycleStage"] == "PRE_SCALE_UP"
    assert deployment_spec(changed)["paused"] is True, "nothing rolls out before the stage is entered"
    return blue_green_advanced(changed, None, now=T0 + 600) or changed


def test_a_blue_green_update_scales_green_up_beside_blue_which_keeps_the_traffic() -> None:
    record = updated(blue_green())
    assert primary_deployment(record)["lifecycleStage"] == "SCALE_UP"
    assert selected_deployment(record) == names.label_value(D1)
    spec = deployment_spec(record)
    assert "paused" not in spec
    assert spec["minReadySeconds"] == BLUE_GREEN_HOLD_SECONDS, "no old task counts as replaceable"
    assert spec["progressDeadlineSeconds"] > spec["minReadySeconds"], "the API server requires it"
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "100%", "maxUnavailable": 0}


def test_traffic_moves_once_green_runs_in_full_then_blue_goes_after_the_bake() -> None:
    record = updated(blue_green())
    assert blue_green_advanced(record, view_of(record, 2), now=T0 + 700) is None

    shifted = blue_green_advanced(record, view_of(record, 3), now=T0 + 700)
    assert shifted is not None
    assert primary_deployment(shifted)["lifecycleStage"] == "BAKE_TIME"
    assert selected_deployment(shifted) == names.label_value(D2)
    assert deployment_spec(shifted)["minReadySeconds"] == BLUE_GREEN_HOLD_SECONDS, "blue stays while green bakes"

    assert blue_green_advanced(shifted, view_of(shifted, 3), now=T0 + 700 + 119) is None
    cleaned = blue_green_advanced(shifted, view_of(shifted, 3), now=T0 + 700 + 120)
    assert cleaned is not None
    assert primary_deployment(cleaned)["lifecycleStage"] == "CLEAN_UP"
    assert "minReadySeconds" not in deployment_spec(cleaned), "Kubernetes may now remove the blue tasks"
    assert blue_green_advanced(cleaned, view_of(cleaned, 3), now=T0 + 900) is None


def test_a_rollback_during_the_bake_moves_traffic_back_at_once() -> None:
    record = updated(blue_green())
    shifted = blue_green_advanced(record, view_of(record, 3), now=T0 + 700)
    assert shifted is not None
    rolled_back = service_record_rolled_back(shifted, failed_id=D2, restored_id=D1, now=T0 + 710)
    assert selected_deployment(rolled_back) == names.label_value(D1)
    assert "minReadySeconds" not in deployment_spec(rolled_back), "the green tasks go at once"


def test_a_rolling_service_selects_all_its_tasks() -> None:
    load_balancer = {"targetGroupArn": TARGET, "containerName": "app", "containerPort": 8080}
    record = update(completed(create(loadBalancers=[load_balancer])), taskDefinition=definition(2)["taskDefinitionArn"])
    assert selected_deployment(record) is None
    assert blue_green_advanced(record, view_of(record, 3), now=T0 + 700) is None


def with_hooks(*hooks: dict[str, Any]) -> dict[str, Any]:
    return blue_green({**BLUE_GREEN, "lifecycleHooks": list(hooks)})


def waiting_hooks(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in primary_deployment(record)["lifecycleHookDetails"] if h["status"] == "AWAITING_ACTION"]


def test_a_hook_before_scale_up_keeps_the_deployment_paused_until_it_is_continued() -> None:
    record = updated(with_hooks({"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"]}))
    assert primary_deployment(record)["lifecycleStage"] == "PRE_SCALE_UP"
    [hook] = waiting_hooks(record)
    assert (hook["targetType"], hook["timeoutAction"], hook["expiresAt"]) == ("PAUSE", "ROLLBACK", T0 + 600 + 86400)
    assert deployment_spec(record)["paused"] is True
    assert blue_green_advanced(record, view_of(record, 0), now=T0 + 700) is None, "it waits"

    continued = hook_resolved(record, D2, hook["hookId"], "CONTINUE", now=T0 + 700)
    assert primary_deployment(continued)["lifecycleStage"] == "SCALE_UP"
    assert "paused" not in deployment_spec(continued)


def test_a_lambda_hook_waits_like_a_pause_and_may_roll_the_deployment_back() -> None:
    record = updated(with_hooks(LAMBDA_HOOK))
    paused = blue_green_advanced(record, view_of(record, 3), now=T0 + 700)
    assert paused is not None
    assert primary_deployment(paused)["lifecycleStage"] == "POST_SCALE_UP"
    [hook] = waiting_hooks(paused)
    assert hook["targetArn"] == LAMBDA_HOOK["hookTargetArn"]
    assert selected_deployment(paused) == names.label_value(D1), "no traffic moves while the hook waits"
    with pytest.raises(InvalidParameterException):
        hook_resolved(paused, D2, "no-such-hook", "CONTINUE", now=T0 + 710)

    moved = hook_resolved(paused, D2, hook["hookId"], "CONTINUE", now=T0 + 710)
    assert primary_deployment(moved)["lifecycleStage"] == "BAKE_TIME"
    assert selected_deployment(moved) == names.label_value(D2)
    with pytest.raises(ClientException, match="not paused"):
        hook_resolved(moved, D2, hook["hookId"], "CONTINUE", now=T0 + 720)

    rolled_back = hook_resolved(paused, D2, hook["hookId"], "ROLLBACK", now=T0 + 710)
    assert primary_deployment(rolled_back)["id"] == D1
    assert selected_deployment(rolled_back) == names.label_value(D1)


def test_a_hook_left_waiting_takes_its_timeout_action() -> None:
    timeout = {"timeoutInMinutes": 5, "action": "CONTINUE"}
    record = updated(with_hooks({**LAMBDA_HOOK, "timeoutConfiguration": timeout}))
    paused = blue_green_advanced(record, view_of(record, 3), now=T0 + 700)
    assert paused is not None
    assert blue_green_advanced(paused, view_of(paused, 3), now=T0 + 700 + 299) is None
    moved = blue_green_advanced(paused, view_of(paused, 3), now=T0 + 700 + 300)
    assert moved is not None and primary_deployment(moved)["lifecycleStage"] == "BAKE_TIME"

    rolling_back = updated(with_hooks(LAMBDA_HOOK))
    paused = blue_green_advanced(rolling_back, view_of(rolling_back, 3), now=T0 + 700)
    assert paused is not None
    rolled_back = blue_green_advanced(paused, view_of(paused, 3), now=T0 + 700 + 86400)
    assert rolled_back is not None and primary_deployment(rolled_back)["id"] == D1, "ROLLBACK is the default"


def canary() -> dict[str, Any]:
    configuration = {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 40, "canaryBakeTimeInMinutes": 1}}
    return updated(blue_green(configuration))


def test_a_canary_splits_traffic_by_the_tasks_that_serve_then_moves_the_rest() -> None:
    record = canary()
    split = blue_green_advanced(record, view_of(record, 3), now=T0 + 700)
    assert split is not None
    assert primary_deployment(split)["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    assert split["trafficSplit"] == {"deploymentId": D2, "percent": 40.0}
    [service] = kube_services(split, definition(), namespace=NAMESPACE)
    assert service["spec"]["selector"][LABEL_SERVING] == "true"
    assert names.LABEL_STARTED_BY not in service["spec"]["selector"]

    owner = workload(split)
    blue_pods = [pod(replica_set(workload(completed(blue_green())), 3), i) for i in range(3)]
    green_pods = [pod(replica_set(owner, 3), 10 + i) for i in range(3)]
    changes = serving_label_changes(split, blue_pods + green_pods)
    serving = {name for name, value in changes.items() if value == "true"}
    assert len(serving & {p["metadata"]["name"] for p in green_pods}) == 1, "round(3 x 40%) = 1 green task"
    assert len(serving & {p["metadata"]["name"] for p in blue_pods}) == 2, "and 2 blue ones make up 3"
    assert serving_label_changes(canary(), blue_pods + green_pods) == {}, "no split, no label"

    assert blue_green_advanced(split, view_of(split, 3), now=T0 + 700 + 59) is None, "the canary bakes"
    moved = blue_green_advanced(split, view_of(split, 3), now=T0 + 700 + 60)
    assert moved is not None and "trafficSplit" not in moved
    assert selected_deployment(moved) == names.label_value(D2)
    assert primary_deployment(moved)["lifecycleStage"] == "CLEAN_UP", "bakeTimeInMinutes is 0 here"


def test_a_deployment_under_way_is_not_completed_even_with_nothing_to_replace() -> None:
    record = updated(blue_green())
    owner = workload(record)
    green = replica_set(owner, 3)
    shown = service_view_of(record, owner, [green], [pod(green, i) for i in range(3)])
    assert shown["deployments"][0]["rolloutState"] == "IN_PROGRESS", "it completes in CLEAN_UP"


def test_the_tasks_of_a_superseded_deployment_go_while_traffic_stays_where_it_is() -> None:
    baking = blue_green_advanced(updated(blue_green()), view_of(updated(blue_green()), 3), now=T0 + 700)
    assert baking is not None and baking["trafficDeploymentId"] == D2
    newer = update(baking, D3, now=T0 + 800, taskDefinition=definition(3)["taskDefinitionArn"])
    assert selected_deployment(newer) == names.label_value(D2), "traffic stays on the tasks serving it"
    sets = {
        deployment_id: replica_set(workload(deployed), 3)
        for deployment_id, deployed in ((D1, blue_green()), (D2, baking), (D3, newer))
    }
    assert superseded_replica_sets(baking, [sets[D1], sets[D2]]) == [], "blue stays through the bake"
    assert superseded_replica_sets(newer, list(sets.values())) == [sets[D1]["metadata"]["name"]]
    assert superseded_replica_sets(blue_green(), list(sets.values())) == [], "nothing is held"


def test_traffic_steps_are_fixed_once_the_shift_begins() -> None:
    linear = {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 10, "stepBakeTimeInMinutes": 1}}
    record = updated(blue_green(linear))
    split = blue_green_advanced(record, view_of(record, 3), now=T0 + 700)
    assert split is not None and split["trafficSplit"]["percent"] == 10.0
    changed = update(split, None, now=T0 + 710, deploymentConfiguration={"linearConfiguration": {"stepPercent": 50}})
    assert len(changed["deployments"]) == len(split["deployments"]), "settings alone start no deployment"
    steps = 1
    while (later := blue_green_advanced(changed, view_of(changed, 3), now=T0 + 700 + 60 * steps)) is not None:
        changed, steps = later, steps + 1
    assert primary_deployment(changed)["lifecycleStage"] == "CLEAN_UP"
    assert steps == 10, "ten steps of 10%, as the shift began"


def test_a_rolling_service_that_turns_blue_green_keeps_its_traffic_on_the_running_tasks() -> None:
    load_balancer = {"targetGroupArn": TARGET, "containerName": "app", "containerPort": 8080}
    rolling = completed(create(loadBalancers=[load_balancer]))
    record = update(rolling, taskDefinition=definition(2)["taskDefinitionArn"], deploymentConfiguration=BLUE_GREEN)
    assert selected_deployment(record) == names.label_value(D1)
