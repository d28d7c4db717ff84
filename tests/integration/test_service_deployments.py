"""Service deployments and revisions through boto3: ListServiceDeployments,
DescribeServiceDeployments and DescribeServiceRevisions agree with DescribeServices."""

import time
from typing import Any

import pytest

from tests.integration.conftest import ecs_error, eventually, unique_name
from tests.integration.test_services import describe, environment, register, settled_on, wait_stable, watch_deployments

pytestmark = pytest.mark.usefixtures("responses_match_the_model")


def listed(ecs: Any, cluster: str, service: str, **filters: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ecs.list_service_deployments(cluster=cluster, service=service, **filters)[
        "serviceDeployments"
    ]
    return found


def described(ecs: Any, arn: str) -> dict[str, Any]:
    response = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    assert response["failures"] == []
    [deployment] = response["serviceDeployments"]
    return dict(deployment)


def statuses_become(ecs: Any, cluster: str, service: str, expected: list[str]) -> list[dict[str, Any]]:
    """The service's deployments, newest first, once their statuses are `expected`."""

    def found() -> list[dict[str, Any]] | None:
        deployments = listed(ecs, cluster, service)
        return deployments if [d["status"] for d in deployments] == expected else None

    return eventually(found, timeout=60)


def digits(deployment_id: str) -> str:
    return deployment_id.rsplit("/", 1)[-1]


def test_update_to_a_new_revision_leaves_a_successful_deployment_from_the_old_revision(ecs: Any, cluster: str) -> None:
    family = unique_name("web")
    first, second = register(ecs, family), register(ecs, family, image="busybox:1.37")
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=first, desiredCount=2)
    wait_stable(ecs, cluster, "web")
    ecs.update_service(cluster=cluster, service="web", taskDefinition=second)
    wait_stable(ecs, cluster, "web")

    newest, created = statuses_become(ecs, cluster, "web", ["SUCCESSFUL", "SUCCESSFUL"])
    deployment = described(ecs, newest["serviceDeploymentArn"])
    [source] = deployment["sourceServiceRevisions"]
    assert source["arn"] == created["targetServiceRevisionArn"]
    assert (source["requestedTaskCount"], source["runningTaskCount"]) == (0, 0)
    target = deployment["targetServiceRevision"]
    assert target["arn"] == newest["targetServiceRevisionArn"]
    assert deployment["finishedAt"] >= deployment["createdAt"]
    assert described(ecs, created["serviceDeploymentArn"])["sourceServiceRevisions"] == []

    revisions = ecs.describe_service_revisions(serviceRevisionArns=[source["arn"], target["arn"]])
    assert revisions["failures"] == []
    assert [r["taskDefinition"] for r in revisions["serviceRevisions"]] == [first, second]
    assert {r["serviceArn"] for r in revisions["serviceRevisions"]} == {deployment["serviceArn"]}

    service = describe(ecs, cluster, "web")
    [shown] = service["deployments"]
    assert shown["rolloutState"] == "COMPLETED" and shown["taskDefinition"] == second
    assert deployment["serviceDeploymentArn"].endswith(f":service-deployment/{cluster}/web/{digits(shown['id'])}")
    assert (
        (target["requestedTaskCount"], target["runningTaskCount"], target["pendingTaskCount"])
        == (
            shown["desiredCount"],
            shown["runningCount"],
            shown["pendingCount"],
        )
        == (2, 2, 0)
    )


def test_list_is_newest_first_filtered_by_status_and_creation_time_and_paginated(ecs: Any, cluster: str) -> None:
    definition = register(ecs, unique_name("web"))
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=0)
    statuses_become(ecs, cluster, "web", ["SUCCESSFUL"])
    time.sleep(0.05)
    between = time.time()
    for count in (2, 3):
        ecs.update_service(cluster=cluster, service="web", forceNewDeployment=True)
        statuses_become(ecs, cluster, "web", ["SUCCESSFUL"] * count)
    ids = [d["id"] for d in ecs.describe_services(cluster=cluster, services=["web"])["services"][0]["deployments"]]

    everything = listed(ecs, cluster, "web")
    created = [d["createdAt"] for d in everything]
    assert created == sorted(created, reverse=True) and len(set(created)) == 3
    assert everything[0]["serviceDeploymentArn"].endswith(digits(ids[0]))
    assert listed(ecs, cluster, "web", status=["IN_PROGRESS"]) == []
    assert listed(ecs, cluster, "web", status=["SUCCESSFUL", "STOPPED"]) == everything
    assert listed(ecs, cluster, "web", createdAt={"after": between}) == everything[:2]
    assert listed(ecs, cluster, "web", createdAt={"before": between}) == everything[2:]

    pages, token = [], None
    while True:
        response = ecs.list_service_deployments(
            cluster=cluster, service="web", maxResults=2, **({"nextToken": token} if token else {})
        )
        pages.append(response["serviceDeployments"])
        token = response.get("nextToken")
        if not token:
            break
    assert [len(chunk) for chunk in pages] == [2, 1]
    assert [d for chunk in pages for d in chunk] == everything


def test_circuit_breaker_rollback_leaves_a_rollback_successful_deployment(ecs: Any, cluster: str) -> None:
    family = unique_name("web")
    good = register(ecs, family)
    broken = register(
        ecs, family, image="busybox:broken", environment=environment(SIMULATED_RUN_SECONDS="0", SIMULATED_EXIT_CODE="1")
    )
    ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=good,
        desiredCount=2,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    wait_stable(ecs, cluster, "web")
    good_id = describe(ecs, cluster, "web")["deployments"][0]["id"]
    ecs.update_service(cluster=cluster, service="web", taskDefinition=broken)
    watch_deployments(ecs, cluster, "web", settled_on(good_id), timeout=90)

    failed, created = statuses_become(ecs, cluster, "web", ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"])
    deployment = described(ecs, failed["serviceDeploymentArn"])
    assert "circuit breaker" in deployment["statusReason"]
    assert deployment["rollback"]["serviceRevisionArn"] == created["targetServiceRevisionArn"]
    assert deployment["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert deployment["deploymentCircuitBreaker"]["failureCount"] >= deployment["deploymentCircuitBreaker"]["threshold"]
    [revision] = ecs.describe_service_revisions(serviceRevisionArns=[deployment["targetServiceRevision"]["arn"]])[
        "serviceRevisions"
    ]
    assert revision["taskDefinition"] == broken
    assert created["serviceDeploymentArn"].endswith(digits(good_id))


def test_stop_with_rollback_stops_an_ongoing_deployment_and_restores_the_old_revision(ecs: Any, cluster: str) -> None:
    family = unique_name("web")
    good = register(ecs, family)
    broken = register(
        ecs, family, image="busybox:broken", environment=environment(SIMULATED_RUN_SECONDS="0", SIMULATED_EXIT_CODE="1")
    )
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=good, desiredCount=2)
    wait_stable(ecs, cluster, "web")
    good_id = describe(ecs, cluster, "web")["deployments"][0]["id"]
    ecs.update_service(cluster=cluster, service="web", taskDefinition=broken)
    ongoing, _ = statuses_become(ecs, cluster, "web", ["IN_PROGRESS", "SUCCESSFUL"])
    arn = ongoing["serviceDeploymentArn"]

    assert ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")["serviceDeploymentArn"] == arn
    watch_deployments(ecs, cluster, "web", settled_on(good_id), timeout=60)
    stopped, _ = statuses_become(ecs, cluster, "web", ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"])
    assert stopped["serviceDeploymentArn"] == arn
    deployment = described(ecs, arn)
    assert "StopServiceDeployment" in deployment["statusReason"] and deployment["stoppedAt"] >= deployment["createdAt"]
    assert describe(ecs, cluster, "web")["taskDefinition"] == good

    assert ecs_error(ecs.stop_service_deployment, serviceDeploymentArn=arn)["Code"] == "ConflictException"
    assert ecs_error(ecs.stop_service_deployment, serviceDeploymentArn=arn, stopType="ABORT")["Code"] == (
        "InvalidParameterException"
    )
    gone = arn.rsplit("/", 1)[0] + "/1"
    assert ecs_error(ecs.stop_service_deployment, serviceDeploymentArn=gone)["Code"] == (
        "ServiceDeploymentNotFoundException"
    )


def test_unknown_arns_are_failures_and_bad_input_is_refused(ecs: Any, cluster: str) -> None:
    definition = register(ecs, unique_name("web"))
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=0)
    [known] = statuses_become(ecs, cluster, "web", ["SUCCESSFUL"])
    unknown = f"arn:aws:ecs:us-east-1:000000000000:service-deployment/{cluster}/gone/123"
    response = ecs.describe_service_deployments(serviceDeploymentArns=[unknown, known["serviceDeploymentArn"]])
    assert [d["serviceDeploymentArn"] for d in response["serviceDeployments"]] == [known["serviceDeploymentArn"]]
    assert response["failures"] == [{"arn": unknown, "reason": "MISSING"}]
    revision = unknown.replace("service-deployment", "service-revision")
    assert ecs.describe_service_revisions(serviceRevisionArns=[revision])["failures"] == [
        {"arn": revision, "reason": "MISSING"}
    ]

    assert ecs_error(ecs.describe_service_deployments, serviceDeploymentArns=["nonsense"])["Code"] == (
        "InvalidParameterException"
    )
    assert ecs_error(ecs.describe_service_revisions, serviceRevisionArns=[known["serviceDeploymentArn"]])["Code"] == (
        "InvalidParameterException"
    )
    assert ecs_error(ecs.describe_service_deployments, serviceDeploymentArns=[unknown] * 21)["Code"] == (
        "InvalidParameterException"
    )
    assert ecs_error(ecs.list_service_deployments, cluster=cluster, service="gone")["Code"] == (
        "ServiceNotFoundException"
    )
    assert ecs_error(ecs.list_service_deployments, cluster=unique_name("none"), service="web")["Code"] == (
        "ClusterNotFoundException"
    )
    assert ecs_error(ecs.list_service_deployments, cluster=cluster, service="web", maxResults=0)["Code"] == (
        "InvalidParameterException"
    )
    assert ecs_error(ecs.list_service_deployments, cluster=cluster, service="web", nextToken="garbage")["Code"] == (
        "InvalidParameterException"
    )
