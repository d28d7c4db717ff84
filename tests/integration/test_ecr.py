"""The ECR API on the server's endpoint (boto3's `ecr` client and the AWS CLI, every response
checked against botocore's `ecr` model) over the cluster's image registry, which the tests push
to with crane (go-containerregistry's OCI client) using the token GetAuthorizationToken hands
out: repositories, their tags and tag mutability, images pushed, described, fetched, retagged
and deleted, lifecycle policies, ECR's errors, and, on a real node, a task running a pushed image.

The tests skip when the cluster has no registry (cluster/up starts one) or crane is not built
(cluster/build builds it)."""

import base64
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.kube.client import KubeClients
from shim.kube.ecr import RepositoryStore
from shim.operations.ecr.lifecycle import LifecycleSweep
from shim.registry import Registry
from shim.schemas.responses import output_problems
from tests.go_programs import build_go_program
from tests.integration.conftest import (
    FAST_WAITER,
    JSON_1_1,
    REAL,
    ShimServer,
    WireResponse,
    registry_args,
    registry_file,
    unique_name,
)

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def crane_binary() -> Path | None:
    """crane on PATH, or where cluster/build puts it."""
    found = shutil.which("crane")
    if found:
        return Path(found)
    versions = dict(
        line.split("=", 1)
        for line in (ROOT / "cluster" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    cache = Path(os.environ.get("ECS_SHIM_CACHE", Path.home() / ".cache" / "ecs-shim"))
    built = cache / "bin" / f"crane-{versions['CRANE_VERSION']}" / "crane"
    return built if built.exists() else None


pytestmark = [
    pytest.mark.skipif(
        registry_file() is None,
        reason="the cluster has no image registry (cluster/up starts one beside the control plane; "
        "KUBECONFIG's folder has no registry/shim.json)",
    ),
    pytest.mark.skipif(crane_binary() is None, reason="crane is not built (cluster/build builds it)"),
]


def check_ecr_response(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    """A botocore `before-parse` hook: each response carries a request id and is either a body of
    the operation's output shape in botocore's `ecr` model or an error envelope, never a 5xx."""
    assert response_dict["headers"].get("x-amzn-RequestId")
    body = json.loads(response_dict["body"]) if response_dict["body"] else {}
    if response_dict["status_code"] == 200:
        assert output_problems(operation_model.name, body, "ecr") == [], body
    else:
        assert response_dict["status_code"] < 500 and set(body) == {"__type", "message"}, body


@pytest.fixture(scope="module")
def ecr(shim: ShimServer) -> Any:
    client = boto3.client(
        "ecr",
        endpoint_url=shim.url,
        region_name=REGION,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=botocore.config.Config(retries={"max_attempts": 0}),
    )
    client.meta.events.register("before-parse.ecr.*", check_ecr_response)
    return client


def ecr_error(call: Any, **params: Any) -> dict[str, str]:
    """The error (Code, Message) a call that must fail gets."""
    with pytest.raises(Exception) as raised:
        call(**params)
    error: dict[str, str] = raised.value.response["Error"]  # type: ignore[attr-defined]
    return error


def aws_ecr(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real AWS CLI's `aws ecr ARGS`, pointed at the server by AWS_ENDPOINT_URL_ECR."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_ECR": url,
    }
    aws = str(Path(sys.executable).with_name("aws"))
    return subprocess.run([aws, "ecr", *args], env=env, capture_output=True, text=True)


@dataclass(frozen=True)
class Crane:
    """crane with a Docker config folder of its own (its `auth login` writes there) and the
    cluster's CA trusted, as a user's machine trusts ECR's certificate."""

    binary: Path
    config: Path
    ca: str

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_CONFIG": str(self.config), "SSL_CERT_FILE": self.ca}
        return subprocess.run([str(self.binary), *args], env=env, capture_output=True, text=True, timeout=120)

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def login(self, ecr: Any) -> None:
        """`crane auth login` with GetAuthorizationToken's token, as `docker login` takes it."""
        [data] = ecr.get_authorization_token()["authorizationData"]
        user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
        host = data["proxyEndpoint"].removeprefix("https://")
        self.ok("auth", "login", host, "--username", user, "--password", password)

    def push_script(self, reference: str, script: str, base: str | None = None) -> str:
        """An image of one layer, /ecr-test/run.sh holding `script`, on `base` (an empty image
        when None), pushed as `reference`; returns its digest."""
        layer = self.config / f"layer-{abs(hash((reference, script)))}.tar"
        layer.write_bytes(script_layer(script))
        self.ok("append", *(("--base", base) if base else ()), "--new_layer", str(layer), "--new_tag", reference)
        return self.ok("digest", reference)


def script_layer(script: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo("ecr-test")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        data = f"#!/bin/sh\n{script}\n".encode()
        entry = tarfile.TarInfo("ecr-test/run.sh")
        entry.mode, entry.size = 0o755, len(data)
        tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def registry_config() -> dict[str, str]:
    path = registry_file()
    assert path is not None
    config: dict[str, str] = json.loads(path.read_text())
    return config


@pytest.fixture(scope="module")
def crane(ecr: Any, registry_config: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Crane:
    binary = crane_binary()
    assert binary is not None
    logged_in = Crane(binary, tmp_path_factory.mktemp("docker-config"), registry_config["ca"])
    logged_in.login(ecr)
    return logged_in


@pytest.fixture
def repository(ecr: Any) -> Iterator[dict[str, Any]]:
    created = ecr.create_repository(repositoryName=f"it/{unique_name('app')}")["repository"]
    yield created
    with contextlib.suppress(ecr.exceptions.RepositoryNotFoundException):
        ecr.delete_repository(repositoryName=created["repositoryName"], force=True)


def image_tags(ecr: Any, name: str) -> dict[str, list[str]]:
    """Each image's tags, by digest, as DescribeImages shows them."""
    details = ecr.describe_images(repositoryName=name)["imageDetails"]
    return {detail["imageDigest"]: sorted(detail.get("imageTags", [])) for detail in details}


def test_repositories_are_created_described_and_deleted(ecr: Any, shim: ShimServer) -> None:
    name = unique_name("web")
    created = ecr.create_repository(repositoryName=name, tags=[{"Key": "team", "Value": "web"}])["repository"]
    account = created["registryId"]
    assert created["repositoryArn"] == f"arn:aws:ecr:{REGION}:{account}:repository/{name}"
    assert created["repositoryUri"].endswith(f"/{name}") and created["imageTagMutability"] == "MUTABLE"
    [described] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert described == created
    listed = ecr.describe_repositories()["repositories"]
    assert name in [repository["repositoryName"] for repository in listed]
    assert ecr_error(ecr.create_repository, repositoryName=name)["Code"] == "RepositoryAlreadyExistsException"
    assert ecr.list_tags_for_resource(resourceArn=created["repositoryArn"])["tags"] == [{"Key": "team", "Value": "web"}]

    assert ecr.delete_repository(repositoryName=name)["repository"]["repositoryName"] == name
    error = ecr_error(ecr.describe_repositories, repositoryNames=[name])
    assert error["Code"] == "RepositoryNotFoundException" and name in error["Message"]
    assert ecr_error(ecr.delete_repository, repositoryName=name)["Code"] == "RepositoryNotFoundException"


def test_bad_names_and_arguments_are_refused_with_ecr_codes(ecr: Any, repository: dict[str, Any]) -> None:
    assert ecr_error(ecr.create_repository, repositoryName="Upper/Case")["Code"] == "InvalidParameterException"
    assert ecr_error(ecr.list_images, repositoryName="no-such-repository")["Code"] == "RepositoryNotFoundException"
    assert ecr_error(ecr.describe_images, repositoryName="no-such-repository")["Code"] == "RepositoryNotFoundException"
    wrong_registry = ecr_error(ecr.describe_repositories, registryId="999999999999")
    assert wrong_registry["Code"] == "InvalidParameterException"
    missing = ecr_error(ecr.describe_images, repositoryName=repository["repositoryName"], imageIds=[{"imageTag": "x"}])
    assert missing["Code"] == "ImageNotFoundException"
    bad_arn = ecr_error(ecr.list_tags_for_resource, resourceArn="arn:aws:ecs:us-east-1:123456789012:cluster/x")
    assert bad_arn["Code"] == "InvalidParameterException"
    bad_tag = ecr_error(ecr.tag_resource, resourceArn=repository["repositoryArn"], tags=[{"Key": "aws:x", "Value": ""}])
    assert bad_tag["Code"] == "InvalidTagParameterException"


def test_tags_are_set_listed_and_removed(ecr: Any, repository: dict[str, Any]) -> None:
    arn = repository["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "me"}])
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "env", "Value": "prod"}])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"Key": "env", "Value": "prod"},
        {"Key": "owner", "Value": "me"},
    ]
    ecr.untag_resource(resourceArn=arn, tagKeys=["owner"])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "env", "Value": "prod"}]


def test_the_authorization_token_is_the_registrys_login(ecr: Any, registry_config: dict[str, str]) -> None:
    [data] = ecr.get_authorization_token()["authorizationData"]
    assert data["proxyEndpoint"] == registry_config["endpoint"]
    assert base64.b64decode(data["authorizationToken"]).decode().startswith("AWS:")
    assert data["expiresAt"].timestamp() > time.time() + 3600
    context = ssl.create_default_context(cafile=registry_config["ca"])

    def status(token: str) -> int:
        request = urllib.request.Request(f"{data['proxyEndpoint']}/v2/", headers={"Authorization": f"Basic {token}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    assert status(data["authorizationToken"]) == 200
    assert status(base64.b64encode(b"AWS:not-the-password").decode()) == 401


def test_a_push_with_a_bad_token_is_refused(crane: Crane, repository: dict[str, Any], tmp_path: Path) -> None:
    stranger = Crane(crane.binary, tmp_path, crane.ca)
    host = repository["repositoryUri"].split("/", 1)[0]
    stranger.ok("auth", "login", host, "--username", "AWS", "--password", "not-the-password")
    (tmp_path / "layer.tar").write_bytes(script_layer("exit 0"))
    done = stranger.run(
        "append", "--new_layer", str(tmp_path / "layer.tar"), "--new_tag", f"{repository['repositoryUri']}:v1"
    )
    assert done.returncode != 0 and "401 Unauthorized" in done.stderr, done.stderr


def test_a_push_to_a_repository_that_does_not_exist_is_refused(
    ecr: Any, crane: Crane, repository: dict[str, Any], tmp_path: Path
) -> None:
    name = f"{repository['repositoryName']}-unknown"
    uri = f"{repository['repositoryUri']}-unknown"
    (tmp_path / "layer.tar").write_bytes(script_layer("exit 0"))
    done = crane.run("append", "--new_layer", str(tmp_path / "layer.tar"), "--new_tag", f"{uri}:v1")
    assert done.returncode != 0
    assert f"NAME_UNKNOWN: The repository with name '{name}' does not exist in the registry with id" in done.stderr
    ecr.create_repository(repositoryName=name)
    try:
        assert ecr.list_images(repositoryName=name)["imageIds"] == [], "nothing of the refused push was kept"
    finally:
        ecr.delete_repository(repositoryName=name, force=True)


def test_an_immutable_tag_cannot_be_pushed_again(ecr: Any, crane: Crane, repository: dict[str, Any]) -> None:
    """Not even with the same image: ECR refuses any second push of an immutable tag."""
    name, uri = repository["repositoryName"], repository["repositoryUri"]
    first = crane.push_script(f"{uri}:v1", "echo one")
    ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    refused = (
        f"TAG_INVALID: The image tag 'v1' already exists in the '{name}' repository and cannot be overwritten "
        "because the repository is immutable."
    )

    other = crane.config / "other.tar"
    other.write_bytes(script_layer("echo two"))
    moved = crane.run("append", "--new_layer", str(other), "--new_tag", f"{uri}:v1")
    assert moved.returncode != 0 and refused in moved.stderr, moved.stderr
    again = crane.run("tag", f"{uri}@{first}", "v1")
    assert again.returncode != 0 and refused in again.stderr, again.stderr
    assert crane.ok("digest", f"{uri}:v1") == first
    second = crane.push_script(f"{uri}:v2", "echo two")
    assert image_tags(ecr, name) == {first: ["v1"], second: ["v2"]}


def test_an_image_is_shown_pushed_when_it_was_pushed(ecr: Any, crane: Crane, repository: dict[str, Any]) -> None:
    name, uri = repository["repositoryName"], repository["repositoryUri"]
    before = time.time()
    digest = crane.push_script(f"{uri}:v1", "echo one")
    pushed = time.time()
    time.sleep(2)
    [detail] = ecr.describe_images(repositoryName=name)["imageDetails"]
    assert detail["imageDigest"] == digest
    assert before - 1 <= detail["imagePushedAt"].timestamp() <= pushed + 1, "the push's time, not the first read's"


def test_pushed_images_are_described_fetched_retagged_and_deleted(
    ecr: Any, crane: Crane, repository: dict[str, Any]
) -> None:
    name, uri = repository["repositoryName"], repository["repositoryUri"]
    digest = crane.push_script(f"{uri}:v1", "echo one")
    [detail] = ecr.describe_images(repositoryName=name)["imageDetails"]
    assert (detail["imageDigest"], detail["imageTags"]) == (digest, ["v1"])
    assert detail["imageSizeInBytes"] > 0 and detail["imagePushedAt"].year >= 2025
    assert ecr.list_images(repositoryName=name)["imageIds"] == [{"imageDigest": digest, "imageTag": "v1"}]

    [image] = ecr.batch_get_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])["images"]
    assert image["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    manifest = image["imageManifest"]
    ecr.put_image(repositoryName=name, imageManifest=manifest, imageTag="stable")
    assert image_tags(ecr, name) == {digest: ["stable", "v1"]}
    assert crane.ok("digest", f"{uri}:stable") == digest
    again = ecr_error(ecr.put_image, repositoryName=name, imageManifest=manifest, imageTag="stable")
    assert again["Code"] == "ImageAlreadyExistsException"

    assert ecr_error(ecr.delete_repository, repositoryName=name)["Code"] == "RepositoryNotEmptyException"
    deleted = ecr.batch_delete_image(repositoryName=name, imageIds=[{"imageTag": "v1"}, {"imageTag": "nope"}])
    assert deleted["imageIds"] == [{"imageDigest": digest, "imageTag": "v1"}]
    assert [failure["failureCode"] for failure in deleted["failures"]] == ["ImageNotFound"]
    assert image_tags(ecr, name) == {digest: ["stable"]}
    ecr.batch_delete_image(repositoryName=name, imageIds=[{"imageDigest": digest}])
    assert ecr.list_images(repositoryName=name)["imageIds"] == []
    assert crane.run("digest", f"{uri}:stable").returncode != 0


def test_batch_get_image_reports_each_missing_image(ecr: Any, crane: Crane, repository: dict[str, Any]) -> None:
    name, uri = repository["repositoryName"], repository["repositoryUri"]
    digest = crane.push_script(f"{uri}:v1", "echo one")
    other_digest = "sha256:" + "0" * 64
    answer = ecr.batch_get_image(
        repositoryName=name,
        imageIds=[
            {"imageDigest": digest},
            {"imageTag": "v1", "imageDigest": other_digest},
            {"imageTag": "v9"},
        ],
    )
    assert [image["imageId"] for image in answer["images"]] == [{"imageDigest": digest}]
    assert [(failure["imageId"], failure["failureCode"]) for failure in answer["failures"]] == [
        ({"imageTag": "v1", "imageDigest": other_digest}, "ImageTagDoesNotMatchDigest"),
        ({"imageTag": "v9"}, "ImageNotFound"),
    ]
    refused = ecr.batch_delete_image(repositoryName=name, imageIds=[{"imageDigest": other_digest}])
    assert [failure["failureCode"] for failure in refused["failures"]] == ["ImageNotFound"]


def test_repositories_and_images_are_paged(ecr: Any, crane: Crane) -> None:
    prefix = unique_name("paged")
    names = [f"{prefix}/{index}" for index in range(3)]
    uri, *_ = [ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"] for name in names]
    try:
        seen: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = ecr.describe_repositories(maxResults=2, **token)
            assert len(page["repositories"]) <= 2
            seen += [repository["repositoryName"] for repository in page["repositories"]]
            if "nextToken" not in page:
                break
            token = {"nextToken": page["nextToken"]}
        assert [name for name in seen if name.startswith(prefix)] == names and len(seen) == len(set(seen))
        for tag in ("a", "b", "c"):
            crane.push_script(f"{uri}:{tag}", f"echo {tag}")
        first = ecr.list_images(repositoryName=names[0], maxResults=2)
        rest = ecr.list_images(repositoryName=names[0], maxResults=2, nextToken=first["nextToken"])
        tags = [image["imageTag"] for image in first["imageIds"] + rest["imageIds"]]
        assert sorted(tags) == ["a", "b", "c"] and "nextToken" not in rest
    finally:
        for name in names:
            ecr.delete_repository(repositoryName=name, force=True)


def test_a_new_push_of_a_tag_leaves_the_old_image_untagged(ecr: Any, crane: Crane, repository: dict[str, Any]) -> None:
    name, uri = repository["repositoryName"], repository["repositoryUri"]
    first = crane.push_script(f"{uri}:latest", "echo first")
    assert image_tags(ecr, name) == {first: ["latest"]}
    second = crane.push_script(f"{uri}:latest", "echo second")
    assert image_tags(ecr, name) == {first: [], second: ["latest"]}
    untagged = ecr.list_images(repositoryName=name, filter={"tagStatus": "UNTAGGED"})["imageIds"]
    assert untagged == [{"imageDigest": first}]


def test_immutable_tags_are_not_moved(ecr: Any, crane: Crane, repository: dict[str, Any]) -> None:
    name, uri = repository["repositoryName"], repository["repositoryUri"]
    crane.push_script(f"{uri}:v1", "echo one")
    other = crane.push_script(f"{uri}:v2", "echo two")
    changed = ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    assert changed["imageTagMutability"] == "IMMUTABLE"
    [image] = ecr.batch_get_image(repositoryName=name, imageIds=[{"imageDigest": other}])["images"]
    error = ecr_error(ecr.put_image, repositoryName=name, imageManifest=image["imageManifest"], imageTag="v1")
    assert error["Code"] == "ImageTagAlreadyExistsException" and "'v1'" in error["Message"]
    ecr.put_image(repositoryName=name, imageManifest=image["imageManifest"], imageTag="v3")
    [described] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert described["imageTagMutability"] == "IMMUTABLE"


def test_a_lifecycle_policy_is_stored_and_expires_images(ecr: Any, crane: Crane, repository: dict[str, Any]) -> None:
    name, uri = repository["repositoryName"], repository["repositoryUri"]
    pushed = []
    for number in range(3):
        pushed.append(crane.push_script(f"{uri}:nightly", f"echo build {number}"))
    release = crane.push_script(f"{uri}:release-1", "echo release")
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep one untagged image",
                "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["release"],
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 30,
                },
                "action": {"type": "expire"},
            },
        ]
    }
    text = json.dumps(policy)
    stored = ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=text)
    assert stored["lifecyclePolicyText"] == text
    assert image_tags(ecr, name) == {pushed[1]: [], pushed[2]: ["nightly"], release: ["release-1"]}
    got = ecr.get_lifecycle_policy(repositoryName=name)
    assert got["lifecyclePolicyText"] == text and got["lastEvaluatedAt"].year >= 2025

    newer = crane.push_script(f"{uri}:nightly", "echo build 3")
    assert image_tags(ecr, name) == {pushed[2]: [], newer: ["nightly"], release: ["release-1"]}

    ecr.delete_lifecycle_policy(repositoryName=name)
    assert ecr_error(ecr.get_lifecycle_policy, repositoryName=name)["Code"] == "LifecyclePolicyNotFoundException"


def test_lifecycle_policies_are_applied_on_schedule_without_a_read(
    ecr: Any, crane: Crane, repository: dict[str, Any], kube: KubeClients
) -> None:
    """What each server's hourly sweep does, run once here: images expire though no ECR call
    read the repository since they were pushed."""
    name, uri = repository["repositoryName"], repository["repositoryUri"]
    keep_one_untagged = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
                "action": {"type": "expire"},
            }
        ]
    }
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(keep_one_untagged))
    first, second, third = (crane.push_script(f"{uri}:nightly", f"echo build {n}") for n in range(3))
    assert crane.ok("digest", f"{uri}@{first}") == first, "pushes alone apply no policy"

    LifecycleSweep(RepositoryStore(kube), Registry.from_file(str(registry_file()))).sweep()

    assert crane.run("digest", f"{uri}@{first}").returncode != 0
    assert image_tags(ecr, name) == {second: [], third: ["nightly"]}


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"rules": []}',
        '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any"}, "action": {"type": "expire"}}]}',
        '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan",'
        ' "countNumber": 1}, "action": {"type": "expire"}}]}',
    ],
)
def test_invalid_lifecycle_policies_are_refused(ecr: Any, repository: dict[str, Any], text: str) -> None:
    padded = text.ljust(100)  # the model's minimum length
    error = ecr_error(ecr.put_lifecycle_policy, repositoryName=repository["repositoryName"], lifecyclePolicyText=padded)
    assert error["Code"] == "InvalidParameterException" and "Lifecycle policy validation failure" in error["Message"]


def test_force_deletes_a_repository_with_its_images(ecr: Any, crane: Crane) -> None:
    name = unique_name("doomed")
    uri = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
    crane.push_script(f"{uri}:v1", "echo doomed")
    ecr.delete_repository(repositoryName=name, force=True)
    assert crane.run("digest", f"{uri}:v1").returncode != 0
    assert ecr_error(ecr.list_images, repositoryName=name)["Code"] == "RepositoryNotFoundException"


def test_the_aws_cli_logs_in_and_lists(shim: ShimServer, ecr: Any, crane: Crane, tmp_path: Path) -> None:
    name = unique_name("cli")
    created = aws_ecr(shim.url, "create-repository", "--repository-name", name, "--output", "json")
    assert created.returncode == 0, created.stderr
    uri = json.loads(created.stdout)["repository"]["repositoryUri"]
    try:
        password = aws_ecr(shim.url, "get-login-password")
        assert password.returncode == 0, password.stderr
        cli_user = Crane(crane.binary, tmp_path, crane.ca)
        cli_user.ok("auth", "login", uri.split("/", 1)[0], "--username", "AWS", "--password", password.stdout.strip())
        digest = cli_user.push_script(f"{uri}:cli", "echo from the cli")
        listed = aws_ecr(shim.url, "list-images", "--repository-name", name, "--output", "json")
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["imageIds"] == [{"imageDigest": digest, "imageTag": "cli"}]
        missing = aws_ecr(shim.url, "describe-repositories", "--repository-names", f"{name}-missing")
        assert missing.returncode != 0 and "RepositoryNotFoundException" in missing.stderr
    finally:
        ecr.delete_repository(repositoryName=name, force=True)


def test_a_key_kubernetes_lets_read_no_repository_gets_no_token(tmp_path: Path) -> None:
    """With a credentials file, a key mapped to a Kubernetes user is refused what RBAC refuses
    that user, GetAuthorizationToken included (it hands out the registry's password)."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[admin]\naws_access_key_id = AKIDECRADMIN\naws_secret_access_key = admin\n\n"
        "[nobody]\naws_access_key_id = AKIDECRNOBODY\naws_secret_access_key = nobody\n"
        f"kubernetes_user = {unique_name('nobody')}\n"
    )
    server = ShimServer("--credentials", str(credentials), *registry_args()).start()
    try:
        admin, nobody = (
            boto3.client(
                "ecr",
                endpoint_url=server.url,
                region_name=REGION,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                config=botocore.config.Config(retries={"max_attempts": 0}),
            )
            for key, secret in (("AKIDECRADMIN", "admin"), ("AKIDECRNOBODY", "nobody"))
        )
        assert admin.get_authorization_token()["authorizationData"]
        for call, params in (
            (nobody.get_authorization_token, {}),
            (nobody.create_repository, {"repositoryName": unique_name("denied")}),
            (nobody.describe_repositories, {}),
        ):
            error = ecr_error(call, **params)
            assert error["Code"] == "AccessDeniedException" and "is not authorized to perform: ecr:" in error["Message"]
    finally:
        server.stop()


def cluster_registry_module() -> Any:
    """cluster/registry.py, which writes the real node's hosts.toml for the registry."""
    spec = importlib.util.spec_from_file_location("registry", ROOT / "cluster" / "registry.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_real_nodes_containerd_pulls_with_the_hosts_toml_it_is_given(
    crane: Crane, repository: dict[str, Any], tmp_path: Path
) -> None:
    """containerd's own resolver (tests/clients/containerd, at the real node's containerd
    version), configured from the hosts folder cluster/registry.py writes for the real node,
    resolves and fetches pushed images by tag and by digest, finds no missing tag, and is refused
    with credentials that are not the registry's; this holds without a real node."""
    module = ROOT / "tests" / "clients" / "containerd"
    pinned = re.search(r"containerd/containerd/v2 (v\S+)", (module / "go.mod").read_text())
    versions = (ROOT / "cluster" / "versions.env").read_text()
    assert pinned and f"CONTAINERD_VERSION={pinned.group(1)}\n" in versions
    pullcheck = build_go_program(module, tmp_path / "pullcheck")
    uri = repository["repositoryUri"]
    digest = crane.push_script(f"{uri}:v1", "echo pulled")
    hosts = tmp_path / "certs.d"
    cluster_registry_module().containerd_hosts(hosts, registry_file().parent.parent)  # type: ignore[union-attr]

    def pull(reference: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(pullcheck), str(hosts), reference], capture_output=True, text=True, timeout=60)

    for reference in (f"{uri}:v1", f"{uri}@{digest}"):
        done = pull(reference)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["digest"] == digest
    missing = pull(f"{uri}:missing")
    assert missing.returncode == 1 and "not found" in missing.stderr, missing.stderr
    [toml] = hosts.glob("*/hosts.toml")
    toml.write_text(re.sub(r"Basic [^\"]+", "Basic " + base64.b64encode(b"AWS:wrong").decode(), toml.read_text()))
    refused = pull(f"{uri}:v1")
    assert refused.returncode == 1 and "401 Unauthorized" in refused.stderr, refused.stderr


SERVED = (
    "CreateRepository",
    "DescribeRepositories",
    "DeleteRepository",
    "GetAuthorizationToken",
    "ListImages",
    "DescribeImages",
    "BatchGetImage",
    "BatchDeleteImage",
    "PutImage",
    "PutImageTagMutability",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "PutLifecyclePolicy",
    "GetLifecyclePolicy",
    "DeleteLifecyclePolicy",
)
ECR_MODEL = botocore.session.get_session().get_service_model("ecr")


def shape_values(shape: Any, repository: dict[str, Any], member: str = "", depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON values for an `ecr` model shape: mostly of its type, sometimes not; repositories are
    the test's own (or names beside it), so nothing another test made is touched."""
    name, arn = repository["repositoryName"], repository["repositoryArn"]
    if member == "repositoryName":
        return st.one_of(st.just(name), st.text(max_size=4).map(lambda suffix: f"{name}-{suffix}"), st.integers())
    if member == "resourceArn":
        return st.one_of(st.just(arn), st.text(max_size=4).map(lambda suffix: f"{arn}-{suffix}"))
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just({})
        members = {key: shape_values(child, repository, key, depth + 1) for key, child in shape.members.items()}
        return st.fixed_dictionaries({}, optional=members)
    if kind == "list":
        return st.lists(shape_values(shape.member, repository, member, depth + 1), max_size=3)
    if kind == "map":
        return st.dictionaries(
            st.text(max_size=5), shape_values(shape.value, repository, member, depth + 1), max_size=2
        )
    enum = shape.metadata.get("enum")
    scalars: dict[str, st.SearchStrategy[Any]] = {
        "string": st.one_of(st.sampled_from(enum), st.text(max_size=5)) if enum else st.text(max_size=12),
        "integer": st.integers(-2, 1_200),
        "boolean": st.booleans(),
    }
    return st.one_of(scalars.get(kind, st.none()), st.none(), st.booleans(), st.text(max_size=3))


@pytest.mark.parametrize("operation", SERVED)
def test_any_input_gets_an_ecr_answer_never_a_server_fault(
    shim: ShimServer, ecr: Any, crane: Crane, operation: str
) -> None:
    repository = ecr.create_repository(repositoryName=unique_name("fuzz"))["repository"]
    crane.push_script(f"{repository['repositoryUri']}:v1", "echo fuzz")

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(shape_values(ECR_MODEL.operation_model(operation).input_shape, repository))
    def answered(body: dict[str, Any]) -> None:
        response = ecr_wire(shim.url, operation, body)
        assert response.status < 500, (body, response.body)
        if response.status == 200:
            assert output_problems(operation, response.body, "ecr") == [], (body, response.body)
        else:
            assert set(response.body) == {"__type", "message"}, response.body

    try:
        answered()
    finally:
        prefix = repository["repositoryName"]
        for found in ecr.describe_repositories()["repositories"]:
            if found["repositoryName"].startswith(prefix):
                ecr.delete_repository(repositoryName=found["repositoryName"], force=True)


def ecr_wire(url: str, operation: str, body: dict[str, Any]) -> WireResponse:
    request = AWSRequest(
        method="POST",
        url=f"{url}/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": JSON_1_1, "X-Amz-Target": f"AmazonEC2ContainerRegistry_V20150921.{operation}"},
    )
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "ecr", REGION).add_auth(request)
    response = requests.post(request.url, data=request.body, headers=dict(request.headers.items()), timeout=30)
    return WireResponse(response.status_code, response.headers, json.loads(response.content or b"null"))


def busybox_tarball() -> Path:
    """The busybox image the real node runs, as cluster/images.py builds it (a docker-archive)."""
    cache = Path(os.environ.get("ECS_SHIM_CACHE", Path.home() / ".cache" / "ecs-shim")) / "images"
    built = subprocess.run(
        [sys.executable, str(ROOT / "cluster" / "images.py"), str(cache)], capture_output=True, text=True, check=True
    )
    return Path(built.stdout.strip().splitlines()[-1]) / "busybox.tar"


def run_to_the_end(ecs: Any, family: str, image: str) -> dict[str, Any]:
    """RunTask on the real cluster of a one-container task definition naming `image`; the task
    once STOPPED."""
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[
            {"name": "app", "image": image, "memory": 64, "essential": True, "command": ["/ecr-test/run.sh"]}
        ],
    )
    task_arn = ecs.run_task(cluster=REAL, taskDefinition=family)["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster=REAL, tasks=[task_arn], WaiterConfig=FAST_WAITER)
    task: dict[str, Any] = ecs.describe_tasks(cluster=REAL, tasks=[task_arn])["tasks"][0]
    return task


def test_a_task_on_the_real_node_runs_an_image_pushed_to_ecr(
    ecs: Any, ecr: Any, crane: Crane, repository: dict[str, Any], real_cluster: str
) -> None:
    uri = repository["repositoryUri"]
    crane.ok("push", str(busybox_tarball()), f"{uri}:busybox")
    digest = crane.push_script(f"{uri}:v1", "echo hello from ecr; exit 3", base=f"{uri}:busybox")
    family = unique_name("ecr-image")

    by_tag = run_to_the_end(ecs, family, f"{uri}:v1")
    [container] = by_tag["containers"]
    assert container["exitCode"] == 3, by_tag
    assert container.get("imageDigest") == digest

    by_digest = run_to_the_end(ecs, family, f"{uri}@{digest}")
    assert by_digest["containers"][0]["exitCode"] == 3, by_digest

    missing = run_to_the_end(ecs, family, f"{uri}:no-such-tag")
    assert missing["stopCode"] == "TaskFailedToStart", missing
    assert missing["stoppedReason"].startswith("CannotPullContainerError"), missing
