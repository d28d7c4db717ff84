"""The ways in: ECS calls to the shim or moto, through boto3 (as users call it) or as plain
HTTP + json.loads; and the `kubernetes` client straight to the API server (the floor), taking
the JSON as the API server sends it. Plain HTTP on both sides compares what the servers cost;
boto3's own parsing (about 28 ms for 100 tasks on 2 cores) is a client cost no server can cut."""

import functools
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import urllib3
from botocore import xform_name
from botocore.client import BaseClient
from botocore.config import Config as BotoConfig
from kubernetes.client import CoreV1Api

from shim.kube.client import connect
from shim.translate import names
from shim.translate.task_to_pod import RunParameters, task_to_pod

REGION = "us-east-1"
TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
Json = dict[str, Any]
KEEP_ALIVE_RETRY = urllib3.Retry(total=1, allowed_methods=None, raise_on_status=False)
"""One more try when a kept-alive connection was closed by the server while idle (gunicorn
closes them after 2 s), as botocore does."""


@functools.cache
def boto_session() -> boto3.session.Session:
    """One session for every client: clients made from it share its loaded service model.
    Clients are made in the main thread only (sessions are not thread-safe; clients are)."""
    return boto3.session.Session()


def ecs_client(endpoint: str, pool: int = 10) -> BaseClient:
    """A boto3 ECS client as a user would make one, without retries so that errors show."""
    return boto_session().client(
        "ecs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=pool),
    )


class EcsCallError(Exception):
    pass


class PlainEcs:
    """ECS over plain HTTP: the JSON 1.1 request boto3 would send (unsigned: the benchmark's
    shim takes any request), and the answer through json.loads."""

    kind = "plain HTTP"

    def __init__(self, endpoint: str, pool: int = 2) -> None:
        self._pool = urllib3.connection_from_url(endpoint, maxsize=pool, retries=KEEP_ALIVE_RETRY)

    def call(self, operation: str, **params: Any) -> Json:
        response = self._pool.request(
            "POST",
            "/",
            body=json.dumps(params).encode(),
            headers={"X-Amz-Target": f"{TARGET_PREFIX}.{operation}", "Content-Type": "application/x-amz-json-1.1"},
        )
        answer: Json = json.loads(response.data)
        if response.status != 200:
            raise EcsCallError(f"{operation}: {response.status} {answer.get('__type')}: {answer.get('message')}")
        return answer


class BotoEcs:
    """ECS through a boto3 client, as users call it."""

    kind = "boto3"

    def __init__(self, endpoint: str, pool: int = 10) -> None:
        self.client = ecs_client(endpoint, pool)

    def call(self, operation: str, **params: Any) -> Json:
        answer: Json = getattr(self.client, xform_name(operation))(**params)
        return answer


Ecs = PlainEcs | BotoEcs


def kube_client(kubeconfig: Path, pool: int = 16) -> CoreV1Api:
    return connect(str(kubeconfig), pool_size=pool).core


def task_pod(task_definition: Json, cluster_name: str) -> Json:
    """The Pod RunTask makes for one task of `task_definition` (no placement constraints or
    strategies, so no scheduling terms are merged in)."""
    run = RunParameters(cluster_name=cluster_name, task_id=uuid.uuid4().hex)
    return task_to_pod(task_definition, run, names.cluster_namespace(cluster_name))


def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Json:
    """The API server's JSON answer to a client call, parsed but not turned into models."""
    answer: Json = json.loads(call(*args, _preload_content=False, **kwargs).data)
    return answer


def create_pod(core: CoreV1Api, pod: Json) -> Json:
    return raw(core.create_namespaced_pod, pod["metadata"]["namespace"], pod)


def task_id_selector(task_ids: list[str]) -> str:
    return f"{names.LABEL_TASK_ID} in ({','.join(task_ids)})"


def pods_with_task_ids(core: CoreV1Api, namespace: str, task_ids: list[str]) -> list[Json]:
    items: list[Json] = raw(core.list_namespaced_pod, namespace, label_selector=task_id_selector(task_ids))["items"]
    return items


def page_through_pods(core: CoreV1Api, namespace: str, page_size: int) -> int:
    """LIST every pod of `namespace`, `page_size` at a time; how many there were."""
    count, token = 0, None
    while True:
        body = raw(core.list_namespaced_pod, namespace, limit=page_size, _continue=token)
        count += len(body["items"])
        token = body["metadata"].get("continue")
        if not token:
            return count


def pods_not_running(core: CoreV1Api, namespace: str) -> int:
    """Pods of `namespace` not (yet) Running, counted up to 1: zero means all run."""
    return len(raw(core.list_namespaced_pod, namespace, field_selector="status.phase!=Running", limit=1)["items"])


def task_ids_of(tasks: list[Json]) -> list[str]:
    return [task["taskArn"].rsplit("/", 1)[-1] for task in tasks]


def page_through_tasks(ecs: Ecs, cluster_name: str, page_size: int) -> int:
    count, token = 0, None
    while True:
        answer = ecs.call(
            "ListTasks", cluster=cluster_name, maxResults=page_size, **({"nextToken": token} if token else {})
        )
        count += len(answer["taskArns"])
        token = answer.get("nextToken")
        if not token:
            return count
