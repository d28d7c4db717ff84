"""Service deployments and revisions derived from the service record's deployment history and the
service's view."""

from datetime import UTC, datetime
from typing import Any

import pytest

from shim.errors import ConflictException
from shim.schemas.responses import output_problems
from shim.translate.service_deployments import (
    DEPLOYMENT_RESOURCE,
    REVISION_RESOURCE,
    STOPPED_BY_USER_REASON,
    deployment_arn,
    deployment_id_in,
    listed,
    parse_arn,
    revision_arn,
    service_deployments,
    service_revisions,
    stopped_with_rollback,
)
from shim.translate.service_to_kube import (
    CIRCUIT_BREAKER_REASON,
    primary_deployment,
    service_record,
    service_record_observed,
    service_record_rolled_back,
    service_record_updated,
)

REGION, ACCOUNT, CLUSTER = "us-east-1", "123456789012", "default"
T0 = 1_700_000_000.0
D1, D2 = "ecs-svc/1111111111111111111", "ecs-svc/2222222222222222222"
BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def definition_arn(revision: int) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:{revision}"


def created(**fields: Any) -> dict[str, Any]:
    params = {"serviceName": "web", "taskDefinition": definition_arn(1), "desiredCount": 2, **fields}
    return service_record(params, cluster_name=CLUSTER, created_at=T0, created_by="me", deployment_id=D1)


def updated(record: dict[str, Any], now: float = T0 + 100) -> dict[str, Any]:
    return service_record_updated(record, {"taskDefinition": definition_arn(2)}, now=now, new_deployment_id=D2)


def view(*shown: tuple[str, str, str, int], desired: int = 2) -> dict[str, Any]:
    """A `service_view` showing deployments (id, status, rolloutState, running)."""
    return {
        "desiredCount": desired,
        "deployments": [
            {
                "id": deployment_id,
                "status": status,
                "rolloutState": state,
                "rolloutStateReason": f"ECS deployment {deployment_id} {state.lower()}.",
                "desiredCount": desired if status == "PRIMARY" else running,
                "runningCount": running,
                "pendingCount": 0,
                "failedTasks": 0,
                "updatedAt": T0 + 50 if deployment_id == D1 else T0 + 150,
            }
            for deployment_id, status, state, running in shown
        ],
    }


def deployments(record: dict[str, Any], shown: dict[str, Any]) -> list[dict[str, Any]]:
    return service_deployments(record, shown, region=REGION, account=ACCOUNT)


def revision_of(deployment_id: str) -> str:
    return revision_arn(REGION, ACCOUNT, CLUSTER, "web", deployment_id)


def completed_first() -> dict[str, Any]:
    record = created(deploymentConfiguration=BREAKER)
    return service_record_observed(record, view((D1, "PRIMARY", "COMPLETED", 2)), now=T0 + 60)


def test_a_new_revision_deploys_from_the_one_that_was_primary() -> None:
    record = updated(completed_first())
    newest, first = deployments(record, view((D2, "PRIMARY", "IN_PROGRESS", 1), (D1, "ACTIVE", "COMPLETED", 1)))

    assert newest["serviceDeploymentArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/web/2" + (
        "2" * 18
    )
    assert (newest["status"], first["status"]) == ("IN_PROGRESS", "SUCCESSFUL")
    assert first["finishedAt"] == T0 + 50 and first["sourceServiceRevisions"] == []
    assert newest["sourceServiceRevisions"] == [
        {"arn": revision_of(D1), "requestedTaskCount": 1, "runningTaskCount": 1, "pendingTaskCount": 0}
    ]
    assert newest["targetServiceRevision"] == {
        "arn": revision_of(D2),
        "requestedTaskCount": 2,
        "runningTaskCount": 1,
        "pendingTaskCount": 0,
    }
    assert newest["deploymentCircuitBreaker"]["status"] == "MONITORING"
    assert "finishedAt" not in newest

    [revision_one, revision_two] = service_revisions(record, region=REGION, account=ACCOUNT)
    assert (revision_one["taskDefinition"], revision_two["taskDefinition"]) == (definition_arn(1), definition_arn(2))
    assert revision_two["createdAt"] == T0 + 100


def test_successful_exactly_when_describe_services_shows_completed() -> None:
    record = updated(completed_first())
    in_progress = view((D2, "PRIMARY", "IN_PROGRESS", 1), (D1, "ACTIVE", "COMPLETED", 1))
    done = view((D2, "PRIMARY", "COMPLETED", 2))
    assert deployments(record, in_progress)[0]["status"] == "IN_PROGRESS"
    [newest, _] = deployments(record, done)
    assert (newest["status"], newest["finishedAt"]) == ("SUCCESSFUL", T0 + 150)
    assert newest["deploymentCircuitBreaker"]["status"] == "MONITORING_COMPLETE"


def test_a_deployment_replaced_before_it_finished_is_stopped() -> None:
    record = updated(created())
    [_, first] = deployments(record, view((D2, "PRIMARY", "IN_PROGRESS", 0), (D1, "ACTIVE", "IN_PROGRESS", 2)))
    assert (first["status"], first["stoppedAt"], first["finishedAt"]) == ("STOPPED", T0 + 100, T0 + 100)


def test_a_circuit_breaker_rollback_is_in_progress_then_successful() -> None:
    failed = service_record_observed(
        updated(completed_first()), view((D2, "PRIMARY", "FAILED", 0), (D1, "ACTIVE", "COMPLETED", 2)), now=T0 + 200
    )
    assert deployments(failed, view((D2, "PRIMARY", "FAILED", 0), (D1, "ACTIVE", "COMPLETED", 2)))[0]["status"] == (
        "ROLLBACK_REQUESTED"
    )
    record = service_record_rolled_back(failed, failed_id=D2, restored_id=D1, now=T0 + 210)

    [rolling_back, _] = deployments(record, view((D1, "PRIMARY", "IN_PROGRESS", 1), (D2, "ACTIVE", "FAILED", 0)))
    assert rolling_back["status"] == "ROLLBACK_IN_PROGRESS"
    assert rolling_back["rollback"] == {
        "reason": CIRCUIT_BREAKER_REASON,
        "startedAt": T0 + 210,
        "serviceRevisionArn": revision_of(D1),
    }
    assert rolling_back["deploymentCircuitBreaker"] == {"status": "TRIGGERED", "failureCount": 3, "threshold": 3}

    [rolled_back, restored] = deployments(record, view((D1, "PRIMARY", "COMPLETED", 2)))
    assert (rolled_back["status"], rolled_back["finishedAt"]) == ("ROLLBACK_SUCCESSFUL", T0 + 50)
    assert restored["status"] == "SUCCESSFUL"
    assert rolled_back["targetServiceRevision"]["arn"] == revision_of(D2)


def test_a_failure_with_nothing_to_roll_back_to_is_stopped() -> None:
    record = created(deploymentConfiguration=BREAKER)
    [failed] = deployments(record, view((D1, "PRIMARY", "FAILED", 0)))
    assert failed["status"] == "STOPPED" and CIRCUIT_BREAKER_REASON in failed["statusReason"]


def test_every_shape_matches_the_model() -> None:
    record = service_record_rolled_back(
        service_record_observed(
            updated(completed_first()), view((D2, "PRIMARY", "FAILED", 0), (D1, "ACTIVE", "COMPLETED", 2)), now=T0 + 200
        ),
        failed_id=D2,
        restored_id=D1,
        now=T0 + 210,
    )
    shown = deployments(record, view((D1, "PRIMARY", "IN_PROGRESS", 1), (D2, "ACTIVE", "FAILED", 0)))
    revisions = service_revisions(record, region=REGION, account=ACCOUNT)
    assert output_problems("DescribeServiceDeployments", {"serviceDeployments": shown, "failures": []}) == []
    assert output_problems("DescribeServiceRevisions", {"serviceRevisions": revisions, "failures": []}) == []
    assert output_problems("ListServiceDeployments", {"serviceDeployments": listed(shown)}) == []


def ids(briefs: list[dict[str, Any]]) -> list[str]:
    return [brief["serviceDeploymentArn"][-1] for brief in briefs]


def test_list_filters_by_status_and_creation_time() -> None:
    shown = deployments(
        updated(completed_first()), view((D2, "PRIMARY", "IN_PROGRESS", 1), (D1, "ACTIVE", "COMPLETED", 1))
    )
    assert ids(listed(shown)) == ["2", "1"]
    assert ids(listed(shown, statuses=["SUCCESSFUL"])) == ["1"]
    assert ids(listed(shown, created_after=datetime.fromtimestamp(T0 + 1, UTC))) == ["2"]
    assert ids(listed(shown, created_before=datetime.fromtimestamp(T0 + 1, UTC))) == ["1"]


def test_arns_name_their_cluster_and_service() -> None:
    arn = deployment_arn(REGION, ACCOUNT, "prod", "api_v2", D1)
    assert parse_arn(arn, DEPLOYMENT_RESOURCE) == ("prod", "api_v2")
    assert parse_arn(arn, REVISION_RESOURCE) is None
    assert parse_arn(revision_arn(REGION, ACCOUNT, "prod", "api_v2", D1), REVISION_RESOURCE) == ("prod", "api_v2")
    for bad in (
        "nonsense",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/api",
        "arn:aws:ecs:r:a:service-deployment//x/1",
    ):
        assert parse_arn(bad, DEPLOYMENT_RESOURCE) is None


def test_stop_with_rollback_restores_the_revision_it_replaced() -> None:
    record = stopped_with_rollback(updated(completed_first()), D2, now=T0 + 300)
    assert primary_deployment(record)["id"] == D1 and record["taskDefinition"] == definition_arn(1)

    [stopping, _] = deployments(record, view((D1, "PRIMARY", "IN_PROGRESS", 1), (D2, "ACTIVE", "FAILED", 1)))
    assert (stopping["status"], stopping["statusReason"]) == ("ROLLBACK_IN_PROGRESS", STOPPED_BY_USER_REASON)
    assert stopping["stoppedAt"] == T0 + 300 and stopping["rollback"]["serviceRevisionArn"] == revision_of(D1)
    assert stopping["deploymentCircuitBreaker"]["status"] != "TRIGGERED"
    [stopped, restored] = deployments(record, view((D1, "PRIMARY", "COMPLETED", 2)))
    assert (stopped["status"], restored["status"]) == ("ROLLBACK_SUCCESSFUL", "SUCCESSFUL")


def test_only_an_ongoing_deployment_with_an_earlier_revision_can_be_stopped() -> None:
    with pytest.raises(ConflictException):
        stopped_with_rollback(created(), D1, now=T0 + 10)
    done = service_record_observed(updated(created()), view((D2, "PRIMARY", "COMPLETED", 2)), now=T0 + 200)
    with pytest.raises(ConflictException):
        stopped_with_rollback(done, D2, now=T0 + 300)
    assert deployment_id_in(done, revision_of(D2)) == D2
