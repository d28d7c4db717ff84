"""ECS state kept in Kubernetes: cluster records and task definition revisions as custom
resources, cluster workloads in Namespaces. Reads come from watch-backed caches; writes go to
the API server with optimistic concurrency, never a lock inside one process, because several
server processes share the same objects.

The store is the seam between the operations and Kubernetes: it hands out ECS records
(`Stored`, see records.py) and the Kubernetes objects the translations read (Pods, Nodes,
Deployments, ReplicaSets, as plain dicts), and raises its own errors (errors.py), never the
client's."""

import contextlib
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import yaml
from kubernetes import client
from kubernetes.client import ApiException

from shim.calls import Caller
from shim.kube import access, records
from shim.kube.cache import Informer, KubeObject
from shim.kube.client import KubeClients
from shim.kube.errors import Conflict, NotFound, absent_if_missing, refused, requested, retrying_conflicts
from shim.kube.exec import ExecKeys, PodCommand
from shim.kube.records import GROUP, VERSION, Record, Stored
from shim.translate import names
from shim.translate.access import Permission
from shim.translate.clusters import EVERY_CLUSTER, cluster_pin, is_dedicated, node_pin
from shim.translate.task_from_pod import task_id_of

CRD_DIR = Path(__file__).resolve().parent / "crds"
POLICY_DIR = Path(__file__).resolve().parent / "policies"
SERVICE_ACCOUNT_WAIT_SECONDS = 10.0
NAMESPACE_DELETION_TIMEOUT = 60.0
FAMILY_LOCKS = 64
"""Locks that serialize revision claims by family in one process (families share them by hash)."""

PodListener = Callable[[str, KubeObject], None]
"""`listener(event, pod)`: MODIFIED or DELETED with the pod, RELISTED with an empty dict."""
RecordListener = Callable[[str, Stored | None], None]
"""`listener(event, stored)`: MODIFIED or DELETED with the record, RELISTED with None."""


def namespace_of(obj: KubeObject) -> str:
    return str(obj["metadata"]["namespace"])


def raw_json(call: Callable[..., Any], *args: Any) -> KubeObject:
    """Call a client method and take the API server's JSON as it is, without building models."""
    return cast(KubeObject, orjson.loads(requested(call, *args, _preload_content=False).data))


_APPLIED_KINDS = {
    "Deployment": ("apis/apps/v1", "deployments"),
    "DaemonSet": ("apis/apps/v1", "daemonsets"),
    "Service": ("api/v1", "services"),
    "HorizontalPodAutoscaler": ("apis/autoscaling/v2", "horizontalpodautoscalers"),
}
"""The API path and resource of each kind `Store.apply` applies."""


def raw_json_or_none(call: Callable[..., Any], *args: Any) -> KubeObject | None:
    """`raw_json(call, *args)`, or None when the object is absent (404)."""
    try:
        return raw_json(call, *args)
    except NotFound:
        return None


def task_definition_object_name(family: str, revision: int) -> str:
    return f"{names.dns_label(family)}.{revision}"


REMOVED = "REMOVED"
"""The status of a revision removed for good (ECS no longer knows it). Its object stays as a
tombstone holding only its family and revision, so that creating the object of that number fails
and the number is never given again, whatever a server's cache has seen. No read returns one."""


def is_removed(obj: KubeObject) -> bool:
    return bool(records.task_definition_view(obj)["status"] == REMOVED)


def revision_of(obj: KubeObject) -> int:
    return int(records.task_definition_view(obj)["revision"])


def bury(spec: dict[str, Any]) -> None:
    """Turn a TaskDefinition object's spec into a tombstone's."""
    definition = spec["taskDefinition"]
    spec.clear()
    spec["taskDefinition"] = {"family": definition["family"], "revision": definition["revision"], "status": REMOVED}


class Store:
    """The one place the operations layer reads and writes ECS state."""

    def __init__(self, kube: KubeClients) -> None:
        self.kube = kube
        self._family_locks = [threading.Lock() for _ in range(FAMILY_LOCKS)]
        self._access_reviews = access.AccessReviews(kube.authorization)
        self._exec_keys = ExecKeys(kube)
        self._clusters = Informer("clusters", self._list_custom("clusters"))
        self._task_definitions = Informer("taskdefinitions", self._list_custom("taskdefinitions")).add_index(
            "family", lambda obj: str(records.task_definition_view(obj)["family"])
        )
        managed = f"{names.LABEL_MANAGED}=true"
        self._pods = (
            Informer("pods", kube.core.list_pod_for_all_namespaces, label_selector=managed)
            .add_index("namespace", namespace_of)
            .add_index("node", lambda pod: pod["spec"].get("nodeName"))
            .add_index("unbound", lambda pod: None if pod["spec"].get("nodeName") else "unbound")
            .add_index("task", lambda pod: f"{namespace_of(pod)}/{task_id_of(pod)}")
        )
        self._nodes = Informer("nodes", kube.core.list_node).add_index("pin", node_pin)
        self._task_records = (
            Informer("tasks", self._list_custom("tasks"))
            .add_index("namespace", namespace_of)
            .add_index(
                "task", lambda record: f"{namespace_of(record)}/{record['metadata']['labels'][names.LABEL_TASK_ID]}"
            )
        )
        self._services = Informer("services", self._list_custom("services")).add_index("namespace", namespace_of)
        self._deployments = Informer(
            "deployments", kube.apps.list_deployment_for_all_namespaces, label_selector=managed
        ).add_index("namespace", namespace_of)
        self._daemon_sets = Informer("daemonsets", kube.apps.list_daemon_set_for_all_namespaces, label_selector=managed)
        self._replica_sets = Informer(
            "replicasets", kube.apps.list_replica_set_for_all_namespaces, label_selector=managed
        ).add_index("namespace", namespace_of)

    def start(self) -> "Store":
        for informer in self.informers():
            informer.start()
        return self

    def informers(self) -> list[Informer]:
        return [
            self._clusters,
            self._task_definitions,
            self._pods,
            self._nodes,
            self._task_records,
            self._services,
            self._deployments,
            self._daemon_sets,
            self._replica_sets,
        ]

    def _list_custom(self, plural: str) -> Callable[..., Any]:
        def list_call(**kwargs: Any) -> Any:
            return self.kube.custom.list_cluster_custom_object(GROUP, VERSION, plural, **kwargs)

        return list_call

    # Callers

    def allows(self, caller: Caller, permission: Permission) -> bool:
        """Whether Kubernetes RBAC lets `caller` make the request `permission` names."""
        return self._access_reviews.allows(caller, permission)

    @staticmethod
    def acting_as(caller: Caller | None) -> contextlib.AbstractContextManager[None]:
        """Every API server request made within is `caller`'s, decided by RBAC as such."""
        return access.acting_as(caller)

    def install_crds(self) -> None:
        """Create or update the CRDs this server needs, where its credentials allow it (else
        `Forbidden`)."""
        for path in sorted(CRD_DIR.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            requested(
                self.kube.extensions.patch_custom_resource_definition,
                crd["metadata"]["name"],
                crd,
                field_manager="ecs-shim",
                force=True,
                _content_type="application/apply-patch+yaml",
            )

    def install_admission_policies(self) -> None:
        """Create or update the admission policies (and their bindings) this server relies on,
        where its credentials allow it (else `Forbidden`)."""
        admission = client.AdmissionregistrationV1Api(self.kube.api)
        apply = {
            "ValidatingAdmissionPolicy": admission.patch_validating_admission_policy,
            "ValidatingAdmissionPolicyBinding": admission.patch_validating_admission_policy_binding,
        }
        for path in sorted(POLICY_DIR.glob("*.yaml")):
            for document in yaml.safe_load_all(path.read_text()):
                requested(
                    apply[document["kind"]],
                    document["metadata"]["name"],
                    document,
                    field_manager="ecs-shim",
                    force=True,
                    _content_type="application/apply-patch+yaml",
                )

    def wait_for_crds(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for path in sorted(CRD_DIR.glob("*.yaml")):
            name = yaml.safe_load(path.read_text())["metadata"]["name"]
            while not self._crd_established(name):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CustomResourceDefinition {name} is not established")
                time.sleep(0.2)

    def _crd_established(self, name: str) -> bool:
        crd = absent_if_missing(self.kube.extensions.read_custom_resource_definition, name)
        conditions = crd.status.conditions if crd is not None and crd.status else None
        return any(c.type == "Established" and c.status == "True" for c in conditions or [])

    # Clusters

    def get_cluster(self, cluster_name: str, cached: bool = True) -> Stored | None:
        name = names.cluster_namespace(cluster_name)
        found = (cached and self._clusters.get(name)) or self._read_custom("clusters", name, self._clusters)
        return records.cluster(found) if found is not None else None

    def list_clusters(self) -> list[Stored]:
        return [records.cluster(obj) for obj in self._clusters.items()]

    def save_cluster(self, record: Record, existing: Stored | None) -> Stored:
        """Create the cluster's Namespace and record, or replace the record `existing`. When
        another process wrote the record first (two CreateClusters at once), its record is kept
        and returned."""
        name = names.cluster_namespace(record["clusterName"])
        if record["status"] == "ACTIVE":
            self.ensure_namespace(name, record["clusterName"])
        body = records.cluster_body(name, {names.LABEL_MANAGED: "true"}, record)
        try:
            if existing is None:
                saved = self._create("clusters", body)
            else:
                body["metadata"]["resourceVersion"] = existing.resource_version
                saved = self._replace("clusters", body)
        except Conflict:
            saved = self._get("clusters", name)
        self._clusters.observe(saved)
        return records.cluster(saved)

    def update_cluster(self, cluster_name: str, change: Callable[[Record], None]) -> Stored:
        """Apply `change` to the cluster record as the API server has it, and write it back."""
        name = names.cluster_namespace(cluster_name)
        return records.cluster(self._update_custom("clusters", name, change, self._clusters))

    def ensure_namespace(self, name: str, cluster_name: str) -> None:
        body: KubeObject = {
            "metadata": {
                "name": name,
                "labels": {names.LABEL_MANAGED: "true", names.LABEL_CLUSTER: names.label_value(cluster_name)},
                "annotations": {names.ANNOTATION_CLUSTER_NAME: cluster_name},
            }
        }
        deadline = time.monotonic() + NAMESPACE_DELETION_TIMEOUT
        while True:
            try:
                requested(self.kube.core.create_namespace, body)
                return
            except Conflict:
                pass
            if self._namespace_alive(name):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Namespace {name} of a deleted cluster is still terminating")
            time.sleep(0.2)

    def _namespace_alive(self, name: str) -> bool:
        """Whether `name` exists and is not going away: a Namespace being deleted (its cluster
        was deleted moments ago) must be gone before it can be created again."""
        namespace = absent_if_missing(self.kube.core.read_namespace, name)
        return (
            namespace is not None and namespace.metadata is not None and namespace.metadata.deletion_timestamp is None
        )

    def delete_namespace(self, name: str) -> None:
        absent_if_missing(self.kube.core.delete_namespace, name)

    # Task definitions

    def get_task_definition(self, family: str, revision: int) -> Stored | None:
        name = task_definition_object_name(family, revision)
        found = self._task_definitions.get(name) or self._read_custom("taskdefinitions", name, self._task_definitions)
        if found is None or is_removed(found) or records.task_definition_view(found)["family"] != family:
            return None
        return records.task_definition(found)

    def list_task_definitions(self) -> list[Stored]:
        return [records.task_definition(obj) for obj in self._task_definitions.items() if not is_removed(obj)]

    def family_revisions(self, family: str) -> list[Stored]:
        """The family's revisions; read from the API server when this process has seen none (a
        revision another worker or server registered a moment ago is not in its cache yet)."""
        found = self._task_definitions.indexed("family", family) or self._listed_family(family)
        return [records.task_definition(obj) for obj in found if not is_removed(obj)]

    def create_task_definition(self, family: str, build: Callable[[int], Record], tags: list[dict[str, str]]) -> Stored:
        """Store the next revision of `family`: `build(revision)` makes its TaskDefinition view.

        The revision number is claimed by creating the object named after it; when another
        process created that name first, the next try is past the family's highest revision as
        the API server has it now (the cache may lag far behind under contention), so numbers
        have no gap and no duplicate. Tombstones count: a removed revision's number is not given
        again. One claim per family at a time in this process: the API server decides between
        processes, and threads all racing for the same next number would starve some of them."""
        with self._family_locks[zlib.crc32(family.encode()) % len(self._family_locks)]:
            return self._claim_revision(family, build, tags)

    def _claim_revision(self, family: str, build: Callable[[int], Record], tags: list[dict[str, str]]) -> Stored:
        highest = max(map(revision_of, self._task_definitions.indexed("family", family)), default=0)

        def claim(_: int) -> Stored:
            nonlocal highest
            revision = highest + 1
            labels = {
                names.LABEL_MANAGED: "true",
                names.LABEL_FAMILY: names.label_value(family),
                names.LABEL_REVISION: str(revision),
            }
            name = task_definition_object_name(family, revision)
            body = records.task_definition_body(name, labels, build(revision), tags)
            try:
                saved = self._create("taskdefinitions", body)
            except Conflict:
                highest = max(revision, self._highest_revision(family))
                raise
            self._task_definitions.observe(saved)
            return records.task_definition(saved)

        return retrying_conflicts(claim, f"claim a revision of {family}")

    def _highest_revision(self, family: str) -> int:
        """The family's highest revision (tombstones included) as the API server has it now."""
        return max(map(revision_of, self._listed_family(family)), default=0)

    def _listed_family(self, family: str) -> list[KubeObject]:
        """The family's revisions (tombstones included) as the API server has them now."""
        selector = f"{names.LABEL_FAMILY}={names.label_value(family)}"
        listed = requested(self._list_custom("taskdefinitions"), label_selector=selector, _preload_content=False)
        found = [
            obj for obj in orjson.loads(listed.data)["items"] if records.task_definition_view(obj)["family"] == family
        ]
        for obj in found:
            self._task_definitions.observe(obj)
        return found

    def update_task_definition(self, found: Stored, change: Callable[[Record], Record]) -> Stored:
        """Replace the revision's view with `change(view)`, the view as the API server has it now."""

        def update(spec: dict[str, Any]) -> None:
            spec["taskDefinition"] = change(spec["taskDefinition"])

        return records.task_definition(
            self._update_custom("taskdefinitions", found.name, update, self._task_definitions)
        )

    def update_task_definition_tags(
        self, found: Stored, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]
    ) -> Stored:
        """Replace the revision's tags with `change(tags)`, the tags as the API server has them now."""

        def update(spec: dict[str, Any]) -> None:
            spec["tags"] = change(spec.get("tags", []))

        return records.task_definition(
            self._update_custom("taskdefinitions", found.name, update, self._task_definitions)
        )

    def remove_task_definition(self, found: Stored) -> None:
        """Remove a revision for good: its object becomes a tombstone (see REMOVED), which keeps
        its number taken. Removing it again changes nothing."""
        if found.record["status"] == REMOVED:
            return
        absent_if_missing(self._update_custom, "taskdefinitions", found.name, bury, self._task_definitions)

    # Tasks

    def create_pod(self, namespace: str, pod: KubeObject) -> KubeObject:
        """Create a task's Pod. A new Namespace gets its `default` ServiceAccount from the
        controller manager a moment after it exists; admission refuses pods until then."""
        deadline = time.monotonic() + SERVICE_ACCOUNT_WAIT_SECONDS
        while True:
            try:
                created = self.kube.create(f"/api/v1/namespaces/{namespace}/pods", pod)
            except ApiException as error:
                if error.status == 403 and "serviceaccount" in str(error.body) and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                refused(error)
            self._pods.observe(created)
            return created

    def patch_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> KubeObject:
        patched = raw_json(self.kube.core.patch_namespaced_pod, name, namespace, patch)
        self._pods.observe(patched)
        return patched

    def delete_pod(self, namespace: str, name: str) -> None:
        absent_if_missing(self.kube.core.delete_namespaced_pod, name, namespace, _preload_content=False)

    def all_pods(self) -> list[KubeObject]:
        return self._pods.items()

    def pod(self, namespace: str, name: str) -> KubeObject | None:
        return self._pods.get(f"{namespace}/{name}")

    def pods_in(self, namespace: str) -> list[KubeObject]:
        return self._pods.indexed("namespace", namespace)

    def pods_on(self, node_name: str) -> list[KubeObject]:
        return self._pods.indexed("node", node_name)

    def read_pod(self, namespace: str, name: str) -> KubeObject | None:
        """The pod as the API server has it now (None: absent)."""
        found = raw_json_or_none(self.kube.core.read_namespaced_pod, name, namespace)
        if found is not None:
            self._pods.observe(found)
        return found

    def unbound_pods(self) -> list[KubeObject]:
        return self._pods.indexed("unbound", "unbound")

    def task_pod(self, namespace: str, task_id: str) -> KubeObject | None:
        found = self._pods.indexed("task", f"{namespace}/{task_id}")
        return found[0] if found else None

    def exec_signing_key(self, namespace: str) -> bytes:
        """The key that signs the exec sessions of the ECS cluster in `namespace` (see kube/exec.py)."""
        return self._exec_keys.key(namespace)

    def run_in_pod(self, namespace: str, pod: str, container: str, command: list[str]) -> PodCommand:
        """`command` running with a terminal in the pod's container; ExecFailed if it cannot run."""
        return PodCommand(self.kube, namespace, pod, container, command)

    def add_pod_listener(self, listener: PodListener) -> None:
        """Have `listener` told of every change to a task's Pod this process sees."""
        self._pods.add_listener(listener)

    def all_task_records(self) -> list[Stored]:
        return [records.stopped_task(obj) for obj in self._task_records.items()]

    def task_records_in(self, namespace: str) -> list[Stored]:
        return [records.stopped_task(obj) for obj in self._task_records.indexed("namespace", namespace)]

    def task_record(self, namespace: str, task_id: str) -> Stored | None:
        found = self._task_records.indexed("task", f"{namespace}/{task_id}")
        return records.stopped_task(found[0]) if found else None

    def add_task_record_listener(self, listener: RecordListener) -> None:
        """Have `listener` told of every change to a stopped-task record this process sees."""

        def told(event_type: str, obj: KubeObject) -> None:
            listener(event_type, records.stopped_task(obj) if obj else None)

        self._task_records.add_listener(told)

    def save_task_record(self, namespace: str, name: str, labels: dict[str, str], record: Record) -> None:
        """Keep a stopped task's record; the first one written for a task wins."""
        body = records.task_body(namespace, name, labels, record)
        try:
            saved = requested(
                self.kube.custom.create_namespaced_custom_object, GROUP, VERSION, namespace, "tasks", body
            )
        except Conflict:
            return
        self._task_records.observe(cast(KubeObject, saved))

    def update_task_record(self, stored: Stored, record: Record) -> None:
        """Replace a stopped task's record; a Conflict means another server updated it first
        (from the same pod), and is let be."""
        body = records.task_body(cast(str, stored.namespace), stored.name, stored.labels, record)
        body["metadata"]["resourceVersion"] = stored.resource_version
        call = self.kube.custom.replace_namespaced_custom_object
        try:
            saved = requested(call, GROUP, VERSION, stored.namespace, "tasks", stored.name, body)
        except Conflict:
            return
        self._task_records.observe(cast(KubeObject, saved))

    def delete_task_record(self, stored: Stored) -> None:
        call = self.kube.custom.delete_namespaced_custom_object
        absent_if_missing(call, GROUP, VERSION, stored.namespace, "tasks", stored.name)

    # Services

    def all_service_records(self) -> list[Stored]:
        return [records.service(obj) for obj in self._services.items()]

    def service_records_in(self, namespace: str) -> list[Stored]:
        return [records.service(obj) for obj in self._services.indexed("namespace", namespace)]

    def get_service_record(self, namespace: str, name: str, cached: bool = True) -> Stored | None:
        found = self._services.get(f"{namespace}/{name}") if cached else None
        if found is None:
            call = self.kube.custom.get_namespaced_custom_object
            found = cast(KubeObject | None, absent_if_missing(call, GROUP, VERSION, namespace, "services", name))
            if found is None:
                return None
            self._services.observe(found)
        return records.service(found)

    def save_service_record(
        self, namespace: str, name: str, labels: dict[str, str], record: Record, existing: Stored | None
    ) -> Stored:
        """Create the record, or replace `existing` as it was read (`Conflict` means someone else
        changed it first)."""
        body = records.service_body(namespace, name, labels, record)
        if existing is None:
            call: Callable[..., Any] = self.kube.custom.create_namespaced_custom_object
            saved = requested(call, GROUP, VERSION, namespace, "services", body)
        else:
            body["metadata"]["resourceVersion"] = existing.resource_version
            call = self.kube.custom.replace_namespaced_custom_object
            saved = requested(call, GROUP, VERSION, namespace, "services", name, body)
        self._services.observe(cast(KubeObject, saved))
        return records.service(cast(KubeObject, saved))

    def update_service_record(self, namespace: str, name: str, change: Callable[[Stored], Record]) -> Stored | None:
        """Replace the record with `change(found)`, made from the stored record: read from the
        cache first, and afresh after each conflict (the reconciler, which records deployment
        progress, or another server wrote first). None when there is no such record."""

        def update(number: int) -> Stored | None:
            found = self.get_service_record(namespace, name, cached=number == 0)
            if found is None:
                return None
            return self.save_service_record(namespace, name, found.labels, change(found), found)

        return retrying_conflicts(update, f"update services/{namespace}/{name}")

    def delete_service_record(self, namespace: str, name: str) -> None:
        call = self.kube.custom.delete_namespaced_custom_object
        absent_if_missing(call, GROUP, VERSION, namespace, "services", name)

    def apply(self, manifest: KubeObject) -> KubeObject:
        """Create or update a Deployment, DaemonSet, Service or HorizontalPodAutoscaler by
        server-side apply."""
        applied = self._server_side_apply(manifest)
        informer = {"Deployment": self._deployments, "DaemonSet": self._daemon_sets}.get(manifest["kind"])
        if informer is not None:
            informer.observe(applied)
        return applied

    def check_apply(self, manifest: KubeObject) -> None:
        """Have the API server check `manifest` as `apply` would send it (a server-side dry run:
        admission and validation, nothing stored); its refusal is raised as `apply` raises it."""
        self._server_side_apply(manifest, dryRun="All")

    def _server_side_apply(self, manifest: KubeObject, **query: str) -> KubeObject:
        """Send `manifest` as an apply patch. The body goes as UTF-8 JSON, never with \\u escapes
        (so not through the generated client, which writes them with `json.dumps`): the API
        server decodes an apply patch as YAML, which refuses the surrogate pair escapes of
        characters outside the Basic Multilingual Plane (an emoji in an environment value)."""
        metadata = manifest["metadata"]
        group, plural = _APPLIED_KINDS[manifest["kind"]]
        method, url, headers, body, _ = self.kube.api.param_serialize(
            method="PATCH",
            resource_path=f"/{group}/namespaces/{metadata['namespace']}/{plural}/{metadata['name']}",
            query_params=[("fieldManager", "ecs-shim"), ("force", "true"), *query.items()],
            header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
            body=orjson.dumps(manifest),
            auth_settings=["BearerToken"],
        )
        response = requested(self.kube.api.call_api, method, url, headers, body)
        answer = response.read()
        if not 200 <= response.status < 300:
            error = ApiException(status=response.status, reason=str(response.reason or ""))
            error.body = answer
            refused(error)
        return cast(KubeObject, orjson.loads(answer))

    def workload(self, kind: str, namespace: str, name: str) -> KubeObject | None:
        """The Deployment or DaemonSet (`kind`) of that name, as last seen."""
        informer = self._daemon_sets if kind == "DaemonSet" else self._deployments
        return informer.get(f"{namespace}/{name}")

    def deployments_in(self, namespace: str) -> list[KubeObject]:
        return self._deployments.indexed("namespace", namespace)

    def replica_sets_in(self, namespace: str) -> list[KubeObject]:
        return self._replica_sets.indexed("namespace", namespace)

    def list_replica_sets(self, namespace: str, labels: dict[str, str]) -> list[KubeObject]:
        """The ReplicaSets in `namespace` with `labels`, as the API server has them now."""
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        call = cast(Any, self.kube.apps.list_namespaced_replica_set)
        listed = requested(call, namespace, label_selector=selector, _preload_content=False)
        items: list[KubeObject] = orjson.loads(listed.data)["items"]
        return items

    def patch_replica_set(self, namespace: str, name: str, patch: dict[str, Any]) -> KubeObject:
        patched = raw_json(self.kube.apps.patch_namespaced_replica_set, name, namespace, patch)
        self._replica_sets.observe(patched)
        return patched

    def autoscaler(self, namespace: str, name: str) -> KubeObject | None:
        """The HorizontalPodAutoscaler of that name, as the API server has it now."""
        call = cast(Any, self.kube.autoscaling.read_namespaced_horizontal_pod_autoscaler)
        return raw_json_or_none(call, name, namespace)

    def delete_object(self, kind: str, namespace: str, name: str) -> None:
        """Delete a Deployment, DaemonSet, Service or HorizontalPodAutoscaler (in the background;
        absent is fine)."""
        call = {
            "Deployment": self.kube.apps.delete_namespaced_deployment,
            "DaemonSet": self.kube.apps.delete_namespaced_daemon_set,
            "Service": self.kube.core.delete_namespaced_service,
            "HorizontalPodAutoscaler": self.kube.autoscaling.delete_namespaced_horizontal_pod_autoscaler,
        }[kind]
        absent_if_missing(cast(Any, call), name, namespace, propagation_policy="Background", _preload_content=False)

    # Nodes

    def node(self, name: str) -> KubeObject | None:
        return self._nodes.get(name)

    def node_of(self, pod: KubeObject) -> KubeObject | None:
        """The Node the pod is bound to, if any."""
        node_name = pod["spec"].get("nodeName")
        return self._nodes.get(node_name) if node_name else None

    def nodes_serving(self, cluster_name: str) -> list[KubeObject]:
        """The nodes of the cluster's container instances: those pinned to it, and every unpinned
        node unless one of its pinned nodes is dedicated to it (clusters.is_dedicated)."""
        pinned = self.nodes_pinned_to(cluster_name)
        if self.has_dedicated_nodes(cluster_name):
            return pinned
        return self._nodes.indexed("pin", EVERY_CLUSTER) + pinned

    def has_dedicated_nodes(self, cluster_name: str) -> bool:
        return any(is_dedicated(node) for node in self.nodes_pinned_to(cluster_name))

    def nodes_pinned_to(self, cluster_name: str) -> list[KubeObject]:
        return self._nodes.indexed("pin", cluster_pin(cluster_name))

    def patch_node(self, name: str, patch: dict[str, Any]) -> KubeObject:
        patched = raw_json(self.kube.core.patch_node, name, patch)
        self._nodes.observe(patched)
        return patched

    # Shared

    def _read_custom(self, plural: str, name: str, informer: Informer) -> KubeObject | None:
        found = absent_if_missing(self._get, plural, name)
        if found is not None:
            informer.observe(found)
        return found

    def _update_custom(
        self, plural: str, name: str, change: Callable[[dict[str, Any]], None], informer: Informer
    ) -> KubeObject:
        """Apply `change` to the object's spec and write it back, again on a conflict."""

        def update(_: int) -> KubeObject:
            current = self._get(plural, name)
            change(current["spec"])
            saved = self._replace(plural, current)
            informer.observe(saved)
            return saved

        return retrying_conflicts(update, f"update {plural}/{name}")

    def _get(self, plural: str, name: str) -> KubeObject:
        call = self.kube.custom.get_cluster_custom_object
        return cast(KubeObject, requested(call, GROUP, VERSION, plural, name))

    def _create(self, plural: str, body: KubeObject) -> KubeObject:
        call = self.kube.custom.create_cluster_custom_object
        return cast(KubeObject, requested(call, GROUP, VERSION, plural, body))

    def _replace(self, plural: str, body: KubeObject) -> KubeObject:
        call = self.kube.custom.replace_cluster_custom_object
        return cast(KubeObject, requested(call, GROUP, VERSION, plural, body["metadata"]["name"], body))
