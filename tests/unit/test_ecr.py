"""ECR's pure parts: repository ARNs and URIs, names, resource tags, tag mutability, image ids,
lifecycle policies (ECR's checks and which images a policy expires), the authorization token,
and the files cluster/registry.py writes for the registry and the real node's containerd."""

import base64
import datetime
import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from shim.errors import InvalidParameterException, InvalidTagParameterException
from shim.registry import Manifest, Registry
from shim.translate.ecr import (
    Image,
    check_mutability,
    check_registry_id,
    check_repository_name,
    check_tags,
    expired_images,
    image_id_failure,
    parse_lifecycle_policy,
    repository_arn,
    repository_of_arn,
    repository_uri,
    tag_is_immutable,
)
from shim.translate.tags import merge_tags
from tests.unit.test_real_node_files import cluster_module

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
DIGEST = "sha256:" + "a" * 64


def days_ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def rule(priority: int, **selection: Any) -> dict[str, Any]:
    return {"rulePriority": priority, "selection": selection, "action": {"type": "expire"}}


def policy(*rules: dict[str, Any]) -> list[dict[str, Any]]:
    return parse_lifecycle_policy(json.dumps({"rules": list(rules)}))


def test_arns_and_uris() -> None:
    arn = repository_arn("eu-west-1", "123456789012", "team/app")
    assert arn == "arn:aws:ecr:eu-west-1:123456789012:repository/team/app"
    assert repository_of_arn(arn) == "team/app"
    assert repository_of_arn("arn:aws:ecs:eu-west-1:123456789012:cluster/app") is None
    assert repository_uri("127.0.0.1:5000", "team/app") == "127.0.0.1:5000/team/app"


@pytest.mark.parametrize("name", ["app", "team/app", "a.b_c-d/e__f", "x1"])
def test_valid_repository_names(name: str) -> None:
    check_repository_name(name)


@pytest.mark.parametrize("name", ["a", "App", "app/", "/app", "a//b", "a..b", "-app", "a" * 257])
def test_invalid_repository_names(name: str) -> None:
    with pytest.raises(InvalidParameterException, match="repositoryName"):
        check_repository_name(name)


def test_only_this_accounts_registry_is_served() -> None:
    check_registry_id(None, "123456789012")
    check_registry_id("123456789012", "123456789012")
    with pytest.raises(InvalidParameterException, match="registryId"):
        check_registry_id("210987654321", "123456789012")


def test_resource_tags() -> None:
    merged = merge_tags([{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}], [{"Key": "a", "Value": "3"}])
    assert merged == [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
    check_tags(merged)
    for bad in ([{"Key": "", "Value": "x"}], [{"Key": "aws:x", "Value": "x"}], [{"Key": "k", "Value": "v" * 257}]):
        with pytest.raises(InvalidTagParameterException):
            check_tags(bad)
    with pytest.raises(InvalidTagParameterException, match="at most 50"):
        check_tags([{"Key": f"k{index}", "Value": ""} for index in range(51)])


def test_tag_mutability_and_its_exclusions() -> None:
    assert not tag_is_immutable("MUTABLE", [], "v1")
    assert tag_is_immutable("IMMUTABLE", [], "v1")
    exclusions = [{"filterType": "WILDCARD", "filter": "dev-*"}]
    assert tag_is_immutable("IMMUTABLE_WITH_EXCLUSION", exclusions, "v1")
    assert not tag_is_immutable("IMMUTABLE_WITH_EXCLUSION", exclusions, "dev-7")
    assert tag_is_immutable("MUTABLE_WITH_EXCLUSION", exclusions, "dev-7")
    assert not tag_is_immutable("MUTABLE_WITH_EXCLUSION", exclusions, "v1")
    check_mutability("IMMUTABLE_WITH_EXCLUSION", exclusions)
    with pytest.raises(InvalidParameterException):
        check_mutability("IMMUTABLE", exclusions)
    with pytest.raises(InvalidParameterException):
        check_mutability("MUTABLE_WITH_EXCLUSION", [])


def test_image_ids_as_ecr_checks_them() -> None:
    assert image_id_failure({"imageTag": "v1"}) is None
    assert image_id_failure({"imageDigest": DIGEST}) is None
    assert image_id_failure({})[0] == "MissingDigestAndTag"  # type: ignore[index]
    assert image_id_failure({"imageDigest": "not a digest"})[0] == "InvalidImageDigest"  # type: ignore[index]
    assert image_id_failure({"imageTag": "-bad"})[0] == "InvalidImageTag"  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("nope", "JSON object with rules"),
        ('{"rules": []}', "one or more"),
        ('{"rules": ["x"]}', "one or more"),
        (
            json.dumps({"rules": [rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1)] * 2}),
            "unique",
        ),
        (json.dumps({"rules": [rule(0, tagStatus="any", countType="imageCountMoreThan", countNumber=1)]}), "positive"),
        (json.dumps({"rules": [rule(1, tagStatus="all", countType="imageCountMoreThan", countNumber=1)]}), "tagStatus"),
        (json.dumps({"rules": [rule(1, tagStatus="tagged", countType="imageCountMoreThan", countNumber=1)]}), "needs"),
        (
            json.dumps({"rules": [rule(1, tagStatus="tagged", tagPrefixList="v", countType="imageCountMoreThan")]}),
            "tagPrefixList",
        ),
        (
            json.dumps({"rules": [rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=0)]}),
            "countNumber",
        ),
        (json.dumps({"rules": [rule(1, tagStatus="any", countType="sinceImagePushed", countNumber=3)]}), "countUnit"),
        (json.dumps({"rules": [rule(1, tagStatus="any", countType="newest", countNumber=3)]}), "countType"),
        (json.dumps({"rules": [{"rulePriority": 1, "selection": {}, "action": {"type": "keep"}}]}), "expire"),
    ],
)
def test_lifecycle_policies_ecr_refuses(text: str, why: str) -> None:
    with pytest.raises(InvalidParameterException, match="Lifecycle policy validation failure") as raised:
        parse_lifecycle_policy(text)
    assert why in str(raised.value)


def test_rules_are_applied_by_priority() -> None:
    rules = policy(
        rule(2, tagStatus="any", countType="imageCountMoreThan", countNumber=1),
        rule(1, tagStatus="untagged", countType="imageCountMoreThan", countNumber=5),
    )
    assert [item["rulePriority"] for item in rules] == [1, 2]


def test_untagged_images_expire_after_n_days() -> None:
    images = [
        Image("sha256:old", (), days_ago(10)),
        Image("sha256:recent", (), days_ago(2)),
        Image("sha256:tagged-old", ("v1",), days_ago(30)),
    ]
    rules = policy(rule(1, tagStatus="untagged", countType="sinceImagePushed", countUnit="days", countNumber=7))
    assert expired_images(rules, images, NOW) == ["sha256:old"]


def test_keep_the_last_n_images_of_a_prefix() -> None:
    images = [Image(f"sha256:{index}", (f"release-{index}",), days_ago(10 - index)) for index in range(5)]
    images.append(Image("sha256:dev", ("dev-1",), days_ago(20)))
    rules = policy(
        rule(1, tagStatus="tagged", tagPrefixList=["release"], countType="imageCountMoreThan", countNumber=2)
    )
    assert sorted(expired_images(rules, images, NOW)) == ["sha256:0", "sha256:1", "sha256:2"]


def test_an_image_is_judged_by_the_first_rule_that_selects_it() -> None:
    images = [
        Image("sha256:prod-old", ("prod-1",), days_ago(100)),
        Image("sha256:prod-new", ("prod-2",), days_ago(1)),
        Image("sha256:other", ("x",), days_ago(100)),
    ]
    rules = policy(
        rule(1, tagStatus="tagged", tagPatternList=["prod-*"], countType="imageCountMoreThan", countNumber=5),
        rule(2, tagStatus="any", countType="sinceImagePushed", countUnit="days", countNumber=30),
    )
    assert expired_images(rules, images, NOW) == ["sha256:other"]


def test_a_prefix_list_selects_images_with_a_tag_for_every_prefix() -> None:
    images = [
        Image("sha256:both", ("prod-1", "stable-1"), days_ago(50)),
        Image("sha256:one", ("prod-2",), days_ago(50)),
    ]
    rules = policy(
        rule(1, tagStatus="tagged", tagPrefixList=["prod", "stable"], countType="sinceImagePushed",
             countUnit="days", countNumber=1)
    )  # fmt: skip
    assert expired_images(rules, images, NOW) == ["sha256:both"]


def test_the_authorization_token_is_base64_user_and_password(tmp_path: Path) -> None:
    path = tmp_path / "shim.json"
    path.write_text(json.dumps({"endpoint": "https://127.0.0.1:5000/", "username": "AWS", "password": "p:w"}))
    registry = Registry.from_file(str(path))
    assert (registry.endpoint, registry.host, registry.ca) == ("https://127.0.0.1:5000", "127.0.0.1:5000", None)
    assert base64.b64decode(registry.authorization) == b"AWS:p:w"


def test_an_images_size_is_its_layers_and_config() -> None:
    body = {"config": {"size": 10}, "layers": [{"size": 100}, {"size": 1000}]}
    manifest = Manifest(DIGEST, "application/vnd.oci.image.manifest.v1+json", json.dumps(body).encode())
    assert manifest.size == 1110


def test_the_registry_files_cluster_up_writes(tmp_path: Path) -> None:
    registry = cluster_module("registry")
    issued: list[str] = []
    shim = registry.prepare(tmp_path, lambda name, subject, extensions: issued.append(extensions), 5999)
    assert issued and "IP:127.0.0.1" in issued[0]
    assert shim == json.loads((tmp_path / "registry" / "shim.json").read_text())
    assert shim["endpoint"] == f"https://{registry.address()}" and shim["username"] == "AWS"
    upstream = json.loads((tmp_path / "registry" / "upstream.json").read_text())
    assert upstream == {"endpoint": "http://127.0.0.1:5999", "username": "AWS", "password": shim["password"]}
    config = yaml.safe_load((tmp_path / "registry" / "config.yml").read_text())
    assert config["http"]["addr"] == "127.0.0.1:5999", "the registry behind the gate, for the gate alone"
    user, hashed = (tmp_path / "registry" / "htpasswd").read_text().strip().split(":", 1)
    assert user == "AWS" and hashed.startswith("$2")

    registry.containerd_hosts(tmp_path / "certs.d", tmp_path)
    hosts = (tmp_path / "certs.d" / registry.address() / "hosts.toml").read_text()
    basic = base64.b64encode(f"AWS:{shim['password']}".encode()).decode()
    assert f'server = "https://{registry.address()}"' in hosts
    assert f'Authorization = "Basic {basic}"' in hosts and f'ca = "{shim["ca"]}"' in hosts


def test_a_registry_address_in_use_is_seen_as_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = cluster_module("registry")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("ECS_SHIM_REGISTRY_PORT", str(listener.getsockname()[1]))
        assert registry.port_taken()
    assert not registry.port_taken()
