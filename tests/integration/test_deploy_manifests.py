"""The manifests that install ecs-shim in a cluster, as a real API server judges them: every
object passes validation (server-side dry run, unknown fields rejected), the server's pod meets
the Pod Security Standard its Namespace enforces, and its ClusterRole grants exactly what the
ECS API needs. The Helm chart passes helm's lint, renders those manifests with its defaults, and
its values reach the server's Deployment."""

import copy
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ForbiddenError

from shim.kube.client import KubeClients

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
DEPLOY = MANIFESTS / "deploy"
CRDS = MANIFESTS / "crds"

Document = dict[str, Any]
Grant = tuple[str, str, str]

CRUD = ("get", "list", "watch", "create", "update", "patch", "delete")
EXPECTED_GRANTS: set[Grant] = {
    *(("", resource, verb) for resource in ("namespaces", "pods") for verb in CRUD if verb != "update"),
    *(("", "nodes", verb) for verb in ("get", "list", "watch", "patch", "update")),
    *(("", "services", verb) for verb in CRUD),
    ("", "serviceaccounts", "get"),
    *((group, "events", verb) for group in ("", "events.k8s.io") for verb in ("create", "patch", "list", "watch")),
    *(("apps", resource, verb) for resource in ("deployments", "daemonsets") for verb in CRUD),
    *(("apps", "replicasets", verb) for verb in ("get", "list", "watch", "patch")),
    *(("autoscaling", "horizontalpodautoscalers", verb) for verb in ("get", "create", "update", "patch", "delete")),
    *(
        ("ecs.shim.io", resource, verb)
        for resource in (
            "clusters",
            "taskdefinitions",
            "tasks",
            "services",
            "repositories",
            "cloudmapnamespaces",
            "cloudmapservices",
        )
        for verb in CRUD
    ),
    *(
        ("ecs.shim.io", resource, verb)
        for resource in ("loggroups", "logstreams", "cloudmapoperations", "metricsamples")
        for verb in (*CRUD, "deletecollection")
    ),
    ("metrics.k8s.io", "pods", "list"),
    ("", "pods/log", "get"),
    ("", "pods/exec", "create"),
    ("", "pods/exec", "get"),
    ("", "secrets", "get"),
    ("", "secrets", "create"),
    *(("apiextensions.k8s.io", "customresourcedefinitions", verb) for verb in ("get", "create", "patch")),
    ("", "users", "impersonate"),
    ("", "groups", "impersonate"),
    ("authorization.k8s.io", "subjectaccessreviews", "create"),
}


def documents(directory: Path) -> list[Document]:
    """Every YAML document in `directory`, in the order `kubectl apply -f` sends them."""
    return [
        document
        for path in sorted(directory.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


def deploy_object(kind: str) -> Document:
    (found,) = [document for document in documents(DEPLOY) if document["kind"] == kind]
    return found


def cluster_role_grants(cluster_role: Document) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def names_granted(cluster_role: Document, group: str, resource: str, verb: str) -> set[str] | None:
    """The object names `verb` is limited to, or None where it is granted for every name."""
    granted: set[str] = set()
    for rule in cluster_role["rules"]:
        if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
            if "resourceNames" not in rule:
                return None
            granted.update(rule["resourceNames"])
    return granted


def in_namespace(document: Document, namespace: str) -> Document:
    moved = copy.deepcopy(document)
    moved["metadata"]["namespace"] = namespace
    return moved


def pod(spec: Document) -> Document:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "ecs-shim-"}, "spec": spec}


@pytest.fixture
def dynamic(kube: KubeClients) -> DynamicClient:
    return DynamicClient(kube.api)


@pytest.fixture
def shim_namespace(kube: KubeClients) -> Iterator[str]:
    """A stand-in for the ecs-shim Namespace, labelled as the manifest labels it."""
    name = f"it-deploy-{uuid.uuid4().hex[:10]}"
    labels = deploy_object("Namespace")["metadata"]["labels"]
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels)))
    yield name
    kube.core.delete_namespace(name)


def test_every_manifest_passes_the_api_servers_validation(dynamic: DynamicClient, shim_namespace: str) -> None:
    for document in documents(CRDS) + documents(DEPLOY):
        resource = dynamic.resources.get(api_version=document["apiVersion"], kind=document["kind"])
        body = in_namespace(document, shim_namespace) if resource.namespaced else document
        applied = dynamic.server_side_apply(
            resource,
            body=body,
            field_manager="ecs-shim-manifest-test",
            force_conflicts=True,
            dry_run="All",
            query_params=[("fieldValidation", "Strict")],
        )
        assert (applied.kind, applied.metadata.name) == (document["kind"], document["metadata"]["name"])


def test_server_pod_meets_the_pod_security_standard_its_namespace_enforces(
    dynamic: DynamicClient, shim_namespace: str
) -> None:
    labels = deploy_object("Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    service_accounts = dynamic.resources.get(api_version="v1", kind="ServiceAccount")
    service_accounts.create(body=in_namespace(deploy_object("ServiceAccount"), shim_namespace))
    spec = deploy_object("Deployment")["spec"]["template"]["spec"]
    pods = dynamic.resources.get(api_version="v1", kind="Pod")
    pods.create(body=pod(spec), namespace=shim_namespace, dry_run="All")

    unconfined = copy.deepcopy(spec)
    del unconfined["securityContext"]
    for container in unconfined["containers"]:
        del container["securityContext"]
    with pytest.raises(ForbiddenError, match="restricted"):
        pods.create(body=pod(unconfined), namespace=shim_namespace, dry_run="All")


def test_cluster_role_grants_exactly_what_the_ecs_api_needs() -> None:
    cluster_role = deploy_object("ClusterRole")
    assert cluster_role_grants(cluster_role) == EXPECTED_GRANTS
    assert all("nonResourceURLs" not in rule for rule in cluster_role["rules"])


def test_server_may_install_every_crd_and_no_other() -> None:
    cluster_role = deploy_object("ClusterRole")
    crds = documents(CRDS)
    crd_names = {crd["metadata"]["name"] for crd in crds}
    for verb in ("get", "patch"):
        named = names_granted(cluster_role, "apiextensions.k8s.io", "customresourcedefinitions", verb)
        assert named is not None
        assert crd_names <= named
        assert all(name.endswith(".ecs.shim.io") for name in named)
    grants = cluster_role_grants(cluster_role)
    for crd in crds:
        assert (crd["spec"]["group"], crd["spec"]["names"]["plural"], "watch") in grants


def test_server_runs_as_the_service_account_bound_to_its_cluster_role() -> None:
    namespace = deploy_object("Namespace")["metadata"]["name"]
    service_account = deploy_object("ServiceAccount")["metadata"]
    binding = deploy_object("ClusterRoleBinding")

    assert service_account["namespace"] == namespace
    assert binding["roleRef"]["name"] == deploy_object("ClusterRole")["metadata"]["name"]
    assert {"kind": "ServiceAccount", "name": service_account["name"], "namespace": namespace} in binding["subjects"]
    assert deploy_object("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == service_account["name"]


def test_ecs_service_and_probes_reach_the_servers_port() -> None:
    template = deploy_object("Deployment")["spec"]["template"]
    service = deploy_object("Service")
    (container,) = template["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert service["metadata"]["name"] == "ecs"
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    assert [(port["port"], ports[port["targetPort"]]) for port in service["spec"]["ports"]] == [(80, 8080)]
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"]["path"] == path
        assert ports[container[probe]["httpGet"]["port"]] == 8080


def test_namespace_is_applied_before_the_objects_in_it() -> None:
    kinds = [document["kind"] for document in documents(DEPLOY)]
    assert kinds[0] == "Namespace"


# The Helm chart (charts/ecs-shim): helm itself lints and renders it.

CHART = MANIFESTS.parent / "charts" / "ecs-shim"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    """helm as cluster/build builds it (pinned in cluster/versions.env)."""
    versions = dict(
        line.split("=", 1)
        for line in (MANIFESTS.parent / "cluster" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    cache = Path(os.environ.get("ECS_SHIM_CACHE", Path.home() / ".cache" / "ecs-shim"))
    binary = cache / "bin" / f"helm-{versions['HELM_VERSION']}" / "helm"
    assert binary.exists(), f"{binary} is missing: cluster/build builds it"
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120)


def rendered(*values: str, namespace: str = "ecs-shim") -> list[Document]:
    result = helm("template", "ecs-shim", str(CHART), "--namespace", namespace, *values)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document is not None]


def by_kind_and_name(listed: list[Document]) -> dict[tuple[str, str], Document]:
    found = {(document["kind"], document["metadata"]["name"]): document for document in listed}
    assert len(found) == len(listed), "an object rendered twice"
    return found


def test_the_chart_passes_helm_lint() -> None:
    linted = helm("lint", "--strict", str(CHART))
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_charts_defaults_render_the_deploy_manifests() -> None:
    manifests = [document for document in documents(DEPLOY) if document["kind"] != "Namespace"]
    assert by_kind_and_name(rendered()) == by_kind_and_name(manifests)


def test_the_chart_installs_into_any_namespace() -> None:
    objects = by_kind_and_name(rendered(namespace="platform"))
    for kind in ("ServiceAccount", "Deployment", "Service"):
        [found] = [o for (k, _), o in objects.items() if k == kind]
        assert found["metadata"]["namespace"] == "platform", kind
    assert objects[("ClusterRoleBinding", "ecs-shim")]["subjects"][0]["namespace"] == "platform"


def test_the_charts_values_reach_the_server_and_the_api_server_takes_them(
    dynamic: DynamicClient, shim_namespace: str, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        "credentials: {secretName: keys}\nregion: eu-west-1\naccount: 210987654321\nreplicaCount: 3\n"
        "image: {repository: registry.example/ecs-shim}\ntaskProtectionPolicy: false\nmetrics: {scrape: false}\n"
        "service: {type: NodePort, port: 8080}\n"
    )
    objects = by_kind_and_name(rendered("--values", str(values)))
    assert ("ValidatingAdmissionPolicy", "ecs-shim-task-protection") not in objects
    deployment = objects[("Deployment", "ecs-shim")]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [
        "--credentials",
        "/etc/ecs-shim/credentials",
        "--region",
        "eu-west-1",
        "--account",
        "210987654321",
    ], "an unquoted account id is still its 12 digits"
    assert container["image"] == "registry.example/ecs-shim:latest"
    assert deployment["spec"]["replicas"] == 3
    assert "annotations" not in deployment["spec"]["template"]["metadata"]
    [secret] = [v["secret"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    assert (secret["secretName"], secret["optional"]) == ("keys", False)
    service = objects[("Service", "ecs")]
    assert (service["spec"]["type"], service["spec"]["ports"][0]["port"]) == ("NodePort", 8080)
    for kind, document in (("Deployment", deployment), ("Service", service)):
        dynamic.server_side_apply(
            dynamic.resources.get(api_version=document["apiVersion"], kind=kind),
            body=in_namespace(document, shim_namespace),
            field_manager="ecs-shim-chart-test",
            dry_run="All",
            query_params=[("fieldValidation", "Strict")],
        )
