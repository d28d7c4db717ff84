"""The kube layer's libcurl writes against the real API server: the same credentials and TLS
as the client's other calls, and the API server's refusals as the client's ApiException."""

import pytest
from kubernetes.client import ApiException

from shim.kube.client import KubeClients
from shim.kube.store import raw_json
from tests.integration.conftest import unique_name

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str) -> dict[str, object]:
    container = {
        "name": "main",
        "image": "public.ecr.aws/docker/library/busybox:latest",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}


def test_create_answers_the_created_object_as_a_later_read_shows_it(kube: KubeClients) -> None:
    name = unique_name("curl-created")
    created = kube.create(PODS, pod(name))
    try:
        read = raw_json(kube.core.read_namespaced_pod, name, "default")
        assert created["metadata"]["uid"] == read["metadata"]["uid"]
        assert created["spec"]["containers"][0]["image"] == "public.ecr.aws/docker/library/busybox:latest"
    finally:
        kube.core.delete_namespaced_pod(name, "default", grace_period_seconds=0)


def test_a_refused_create_raises_the_api_servers_status_and_message(kube: KubeClients) -> None:
    with pytest.raises(ApiException) as refused:
        kube.create(PODS, pod("Not_A_Valid_Name"))
    assert refused.value.status == 422
    assert "Not_A_Valid_Name" in str(refused.value.body)


def test_a_create_of_what_exists_is_a_conflict(kube: KubeClients) -> None:
    name = unique_name("curl-twice")
    kube.create(PODS, pod(name))
    try:
        with pytest.raises(ApiException) as refused:
            kube.create(PODS, pod(name))
        assert refused.value.status == 409
    finally:
        kube.core.delete_namespaced_pod(name, "default", grace_period_seconds=0)
