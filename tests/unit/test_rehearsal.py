"""`ecs-shim translate`: the manifests an ECS definition becomes, printed without a cluster."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shim.cli import main
from shim.errors import ClientException
from shim.translate.rehearsal import rollout_manifests, service_manifests, task_manifests

WEB = {
    "family": "web",
    "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 256, "portMappings": [{"containerPort": 80}]}],
}
WHERE = {"cluster_name": "prod", "region": "us-east-1", "account": "123456789012"}
SCALED = {"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount", "ResourceId": "service/prod/web"}


def test_a_task_definition_becomes_a_namespace_and_a_pod_in_it() -> None:
    namespace, pod = task_manifests(WEB, **WHERE)
    assert (namespace["kind"], pod["kind"]) == ("Namespace", "Pod")
    assert pod["metadata"]["namespace"] == namespace["metadata"]["name"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["image"] == "nginx"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "256Mi"


def test_a_service_becomes_a_deployment_with_its_rollout_and_a_service_per_load_balancer() -> None:
    service = {
        "serviceName": "web",
        "desiredCount": 4,
        "deploymentConfiguration": {"maximumPercent": 150, "minimumHealthyPercent": 50},
        "loadBalancers": [
            {"targetGroupArn": "arn:aws:elasticloadbalancing:tg", "containerName": "web", "containerPort": 80}
        ],
    }
    namespace, deployment, load_balancer = service_manifests(WEB, service, **WHERE)
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 4
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 2, "maxUnavailable": 2}
    assert load_balancer["kind"] == "Service"
    assert load_balancer["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert {deployment["metadata"]["namespace"], load_balancer["metadata"]["namespace"]} == {
        namespace["metadata"]["name"]
    }


def test_an_external_service_shows_its_first_task_set_and_a_service_per_target_group() -> None:
    service = {
        "serviceName": "web",
        "desiredCount": 4,
        "deploymentController": {"type": "EXTERNAL"},
        "loadBalancers": [
            {"targetGroupArn": "arn:aws:elasticloadbalancing:tg", "containerName": "web", "containerPort": 80}
        ],
    }
    _, deployment, target_group = service_manifests(WEB, service, **WHERE)
    assert (deployment["kind"], deployment["spec"]["replicas"]) == ("Deployment", 4)
    assert deployment["metadata"]["name"].startswith("ts-"), "the task set's own Deployment"
    assert target_group["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert rollout_manifests(WEB, service, **WHERE) == []


def test_a_scaled_service_shows_its_horizontal_pod_autoscaler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = {
        "web.json": WEB,
        "service.json": {"serviceName": "web", "desiredCount": 2},
        "target.json": {**SCALED, "MinCapacity": 2, "MaxCapacity": 6},
        "cpu.json": {
            **SCALED,
            "PolicyName": "cpu",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            },
        },
    }
    for name, document in inputs.items():
        (tmp_path / name).write_text(json.dumps(document))
    files = {name: str(tmp_path / name) for name in inputs}
    main(
        [
            "translate",
            "--task-definition", files["web.json"],
            "--service", files["service.json"],
            "--scalable-target", files["target.json"],
            "--scaling-policy", files["cpu.json"],
        ]
    )  # fmt: skip
    *_, deployment, hpa = yaml.safe_load_all(capsys.readouterr().out)
    assert hpa["kind"] == "HorizontalPodAutoscaler"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)


def test_an_invalid_definition_is_refused_as_ecs_would() -> None:
    with pytest.raises(ClientException):
        task_manifests({**WEB, "family": "no spaces"}, **WHERE)


def test_the_command_prints_yaml_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    definition = tmp_path / "web.json"
    definition.write_text(json.dumps(WEB))
    main(["translate", "--task-definition", str(definition), "--cluster", "prod"])
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [document["kind"] for document in documents] == ["Namespace", "Pod"]


def started_by(workload: dict[str, Any]) -> str:
    label: str = workload["spec"]["template"]["metadata"]["labels"]["ecs.shim.io/started-by"]
    return label


def test_a_blue_green_service_shows_its_objects_at_each_stage_of_a_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = {
        "serviceName": "web",
        "desiredCount": 2,
        "deploymentConfiguration": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10},
        "loadBalancers": [
            {"targetGroupArn": "arn:aws:elasticloadbalancing:tg", "containerName": "web", "containerPort": 80}
        ],
    }
    stages = rollout_manifests(WEB, service, **WHERE)
    assert [stage.split(":")[0] for stage, _ in stages] == ["PRE_SCALE_UP", "SCALE_UP", "BAKE_TIME", "CLEAN_UP"]
    selected = [objects[1]["spec"]["selector"]["ecs.shim.io/started-by"] for _, objects in stages]
    first = started_by(service_manifests(WEB, service, **WHERE)[1])
    new = started_by(stages[0][1][0])
    assert selected == [first, first, new, new], "traffic moves in one step, at the stage ECS moves it"
    assert [objects[0]["spec"].get("minReadySeconds") for _, objects in stages][-1] is None
    assert rollout_manifests(WEB, {"serviceName": "web", "desiredCount": 1}, **WHERE) == []

    (tmp_path / "web.json").write_text(json.dumps(WEB))
    (tmp_path / "service.json").write_text(json.dumps(service))
    main(["translate", "--task-definition", str(tmp_path / "web.json"), "--service", str(tmp_path / "service.json")])
    printed = capsys.readouterr().out
    assert printed.count("# During a deployment, ") == 4
    assert len(list(yaml.safe_load_all(printed))) == 3 + 4 * 2
