"""The two ways in: boto3 against an ECS endpoint (the shim or moto), and the `kubernetes`
client straight to the API server (the floor). Both take the JSON as the server sends it."""

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config as BotoConfig
from kubernetes.client import CoreV1Api

from shim.kube.client import connect
from shim.translate import names
from shim.translate.pods import RunParameters, task_to_pod

REGION = "us-east-1"
Json = dict[str, Any]


def ecs_client(endpoint: str, pool: int = 10) -> BaseClient:
    """A boto3 ECS client as a user would make one, without retries so that errors show."""
    return boto3.session.Session().client(
        "ecs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=pool),
    )


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


def page_through_tasks(ecs: BaseClient, cluster_name: str, page_size: int) -> int:
    count, token = 0, None
    while True:
        answer = ecs.list_tasks(cluster=cluster_name, maxResults=page_size, **({"nextToken": token} if token else {}))
        count += len(answer["taskArns"])
        token = answer.get("nextToken")
        if not token:
            return count
