"""`ecs-shim translate`: the manifests an ECS definition becomes, printed without a cluster."""

import json
from pathlib import Path

import pytest
import yaml

from shim.cli import main
from shim.errors import ClientException
from shim.translate.rehearsal import service_manifests, task_manifests

WEB = {
    "family": "web",
    "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 256, "portMappings": [{"containerPort": 80}]}],
}
WHERE = {"cluster_name": "prod", "region": "us-east-1", "account": "123456789012"}


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


def test_an_invalid_definition_is_refused_as_ecs_would() -> None:
    with pytest.raises(ClientException):
        task_manifests({**WEB, "family": "no spaces"}, **WHERE)


def test_the_command_prints_yaml_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    definition = tmp_path / "web.json"
    definition.write_text(json.dumps(WEB))
    main(["translate", "--task-definition", str(definition), "--cluster", "prod"])
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [document["kind"] for document in documents] == ["Namespace", "Pod"]
