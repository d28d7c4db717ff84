"""Services: CreateService, UpdateService, DeleteService, DescribeServices, ListServices.

An ECS service is a record (`services.ecs.shim.io`) plus the Kubernetes objects made from it: a
Deployment (REPLICA) or DaemonSet (DAEMON) and, for load balancers and service registries,
Services. Every count and rollout state is read back from those objects."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import InvalidParameterException, ServiceNotActiveException, ServiceNotFoundException
from shim.kube.cache import KubeObject
from shim.kube.errors import Conflict, StoreError
from shim.kube.records import Stored
from shim.kube.store import Store
from shim.operations.base import includes_tags, requested
from shim.operations.clusters import active_cluster
from shim.operations.pagination import page
from shim.operations.task_definitions import find_active_task_definition, find_task_definition
from shim.translate import names
from shim.translate.autoscaling import autoscaler_manifest, settings_of
from shim.translate.blue_green import blue_green_advanced, serving_label_changes, superseded_replica_sets
from shim.translate.container_instances import instance_facts
from shim.translate.placement import CandidateNode, PlacementFailure, PodScheduling, cluster_scheduling, on_no_node
from shim.translate.service_from_kube import service_view
from shim.translate.service_to_kube import (
    ACTIVE,
    DAEMON,
    DESIRED_REPLICAS_ANNOTATION,
    DRAINING,
    EXTERNAL_CONTROLLER,
    INACTIVE,
    LABEL_SERVING,
    TASK_DEFINITION_REQUIRED,
    iam_role,
    is_external,
    is_held,
    kube_services,
    new_deployment_id,
    primary_deployment,
    scaling_marks_to_clear,
    service_pod_scheduling,
    service_record,
    service_record_observed,
    service_record_updated,
    service_selector,
    validate_service_params,
    workload_manifest,
    workload_name,
)
from shim.translate.task_sets import (
    external_service_updated,
    external_service_view,
    target_group_service_names,
    target_group_services,
    task_set_manifest,
    task_set_workload_name,
)

MAX_DESCRIBE = 10
SERVICE_NOT_FOUND = "Service not found."
DAEMON_SET_STATUS_WAIT_SECONDS = 2.0
INVALID_STATUSES = (400, 422)
"""The API server's answers to an object it will not take as written (bad request, invalid)."""


@dataclass(frozen=True)
class ServiceObjects:
    """One ECS service as Kubernetes holds it."""

    stored: Stored
    workload: KubeObject | None
    replica_sets: list[KubeObject]
    pods: list[KubeObject]
    stopped_tasks: list[KubeObject]
    """The STOPPED views of the service's stopped tasks, from their stopped-task records."""

    @property
    def record(self) -> dict[str, Any]:
        return self.stored.record

    @classmethod
    def load(cls, store: Store, stored: Stored) -> "ServiceObjects":
        namespace = str(stored.namespace)
        record = stored.record
        kind = "DaemonSet" if record["schedulingStrategy"] == DAEMON else "Deployment"
        selector = service_selector(record["serviceName"])
        return cls(
            stored,
            store.workload(kind, namespace, workload_name(record["serviceName"])),
            [rs for rs in store.replica_sets_in(namespace) if in_service(rs, namespace, selector)],
            service_pods(store, record),
            [task.record["task"] for task in store.task_records_in(namespace) if has_labels(task.labels, selector)],
        )

    def view(self, region: str, account: str, include_tags: bool = False) -> dict[str, Any]:
        if is_external(self.record):
            return external_service_view(
                self.record, self.pods, region=region, account=account, now=time.time(), include_tags=include_tags
            )
        return service_view(
            self.record,
            self.workload,
            self.replica_sets,
            self.pods,
            region=region,
            account=account,
            now=time.time(),
            include_tags=include_tags,
            stopped_tasks=self.stopped_tasks,
        )


def service_pods(store: Store, record: dict[str, Any]) -> list[KubeObject]:
    """The pods of the service's tasks, whatever their deployment or task set."""
    namespace = names.cluster_namespace(record["clusterName"])
    selector = service_selector(record["serviceName"])
    return [pod for pod in store.pods_in(namespace) if in_service(pod, namespace, selector)]


def in_service(obj: KubeObject, namespace: str, selector: dict[str, str]) -> bool:
    return obj["metadata"]["namespace"] == namespace and has_labels(obj["metadata"].get("labels") or {}, selector)


def has_labels(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def record_name(service_name: str) -> str:
    return names.dns_label(service_name)


def find_service(store: Store, cluster_name: str, value: str) -> Stored | None:
    namespace = names.cluster_namespace(cluster_name)
    return store.get_service_record(namespace, record_name(names.resource_id(value)))


def service_named(call: Call, cluster_name: str, value: str) -> str:
    """The service name a reference gives within `cluster_name`; an ARN of another cluster, region
    or account is refused, as ECS refuses it."""
    return names.cluster_resource_id(value, cluster_name, call.region, call.account)


def save_service_change(
    store: Store, cluster_name: str, service: str, change: Callable[[Stored], dict[str, Any]]
) -> Stored:
    """Save `change(found)`, the new record made from the service's stored object, over that
    object, redone from a fresh read when another writer was first."""
    namespace = names.cluster_namespace(cluster_name)
    saved = store.update_service_record(namespace, record_name(names.resource_id(service)), change)
    if saved is None:
        raise ServiceNotFoundException(SERVICE_NOT_FOUND)
    return saved


def scheduling_for(
    store: Store, cluster_name: str, record: dict[str, Any], definition: dict[str, Any]
) -> PodScheduling:
    """The placement of the service's tasks; one nothing can satisfy keeps them pending, as ECS
    keeps trying to place them."""
    nodes = [
        CandidateNode(
            node["metadata"]["name"],
            instance_facts(node, store.pods_on(node["metadata"]["name"]), cluster_name=cluster_name),
        )
        for node in store.nodes_serving(cluster_name)
    ]
    placement = service_pod_scheduling(record, definition, nodes)
    on_cluster = cluster_scheduling(
        cluster_name,
        dedicated=store.has_dedicated_nodes(cluster_name),
        daemon=record["schedulingStrategy"] == DAEMON,
    )
    if isinstance(placement, PlacementFailure):
        return PodScheduling(affinity=on_no_node()).and_then(on_cluster)
    return placement.and_then(on_cluster)


def service_manifests(store: Store, cluster_name: str, record: dict[str, Any]) -> list[KubeObject]:
    """The Kubernetes objects of the record's PRIMARY deployment: its workload, then its Services."""
    namespace = names.cluster_namespace(cluster_name)
    definition = find_task_definition(store, primary_deployment(record)["taskDefinition"]).record
    scheduling = scheduling_for(store, cluster_name, record, definition)
    workload = workload_manifest(record, definition, namespace=namespace, scheduling=scheduling)
    return [workload, *kube_services(record, definition, namespace=namespace)]


def check_service_objects(store: Store, manifests: list[KubeObject]) -> None:
    """Refuse, before anything is written, what the API server would refuse to apply (a server-side
    dry run), as ECS refuses bad input: a write lands whole or not at all."""
    for manifest in manifests:
        try:
            store.check_apply(manifest)
        except StoreError as error:
            if error.status not in INVALID_STATUSES:
                raise
            raise InvalidParameterException(refusal_message(manifest, error)) from error


def refusal_message(manifest: KubeObject, error: StoreError) -> str:
    """What Kubernetes found wrong with `manifest`, naming each field it refused."""
    try:
        status = json.loads(error.body)
    except ValueError:
        status = {}
    causes = (status.get("details") or {}).get("causes") or []
    found = "; ".join(f"{cause.get('field', '')}: {cause.get('message', '')}" for cause in causes)
    return f"Kubernetes refuses the service's {manifest['kind']}: {found or status.get('message') or error.reason}"


def apply_service_objects(store: Store, cluster_name: str, record: dict[str, Any]) -> None:
    """Make the Kubernetes objects match the record's PRIMARY deployment."""
    apply_service_record(store, record, service_manifests(store, cluster_name, record))


def apply_service_record(store: Store, record: dict[str, Any], manifests: list[KubeObject]) -> None:
    """Apply the manifests made from `record`, with its traffic split: the tasks that serve get
    the serving label before the Services select it, and the others lose it only after (so no
    moment has none); the ReplicaSets of a superseded traffic-shifting deployment then go."""
    label_serving_tasks(store, record, additions=True)
    apply_manifests(store, manifests)
    label_serving_tasks(store, record, additions=False)
    retire_superseded_replica_sets(store, record)


def label_serving_tasks(
    store: Store, record: dict[str, Any], pods: list[KubeObject] | None = None, *, additions: bool
) -> None:
    """Put the serving label on the tasks that take traffic in a LINEAR or CANARY step
    (`additions`), or take it off the others (translate/blue_green.py); `pods` are the
    service's (read when None)."""
    namespace = names.cluster_namespace(record["clusterName"])
    if pods is None:
        pods = service_pods(store, record)
    for pod_name, serving in serving_label_changes(record, pods).items():
        if (serving is not None) == additions:
            store.patch_pod(namespace, pod_name, {"metadata": {"labels": {LABEL_SERVING: serving}}})


def retire_superseded_replica_sets(store: Store, record: dict[str, Any]) -> None:
    """Scale to 0 the ReplicaSets of a deployment a traffic-shifting one superseded (see
    `superseded_replica_sets`); read from the API server, as the rollout may have just begun."""
    if not is_held(record):
        return
    namespace = names.cluster_namespace(record["clusterName"])
    replica_sets = store.list_replica_sets(namespace, service_selector(record["serviceName"]))
    for name in superseded_replica_sets(record, replica_sets):
        store.patch_replica_set(namespace, name, {"spec": {"replicas": 0}})


def apply_manifests(store: Store, manifests: list[KubeObject]) -> None:
    """Make the Kubernetes objects match `manifests` (see `service_manifests`)."""
    workload, *services = manifests
    if workload["kind"] == "Deployment":
        clear_scaling_marks(store, workload)
    applied = store.apply(workload)
    if applied["kind"] == "DaemonSet":
        await_daemon_set_status(store, applied)
    for manifest in services:
        store.apply(manifest)


def delete_service_objects(store: Store, manifests: list[KubeObject]) -> None:
    for manifest in manifests:
        store.delete_object(manifest["kind"], manifest["metadata"]["namespace"], manifest["metadata"]["name"])


def clear_scaling_marks(store: Store, deployment: KubeObject) -> None:
    """Keep the Deployment controller from scaling old ReplicaSets up when `deployment` changes
    the desired count while one of them still has tasks (see `scaling_marks_to_clear`). The
    ReplicaSets are read from the API server, not a cache: a change made through another server
    a moment ago may have started the rollout whose old ReplicaSet matters."""
    namespace = deployment["metadata"]["namespace"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    for name in scaling_marks_to_clear(deployment, store.list_replica_sets(namespace, selector)):
        store.patch_replica_set(namespace, name, {"metadata": {"annotations": {DESIRED_REPLICAS_ANNOTATION: None}}})


def await_daemon_set_status(store: Store, daemon_set: KubeObject) -> None:
    """Wait briefly for the DaemonSet controller to count the nodes `daemon_set` targets: until it
    has, a DAEMON service's desired count (its eligible nodes) reads 0, and a service with 0
    desired tasks looks steady to the services_stable waiter."""
    metadata = daemon_set["metadata"]
    deadline = time.monotonic() + DAEMON_SET_STATUS_WAIT_SECONDS
    while time.monotonic() < deadline:
        current = store.workload("DaemonSet", metadata["namespace"], metadata["name"]) or daemon_set
        if int((current.get("status") or {}).get("observedGeneration") or 0) >= int(metadata.get("generation") or 0):
            return
        time.sleep(0.02)


def task_set_objects(store: Store, record: dict[str, Any], task_sets: list[dict[str, Any]]) -> list[KubeObject]:
    """The Deployments of `task_sets` (entries of `record`), then the Services of every target
    group the record's task sets name."""
    namespace = names.cluster_namespace(record["clusterName"])
    definitions = {
        entry["taskDefinition"]: find_task_definition(store, entry["taskDefinition"]).record
        for entry in record["taskSets"]
    }
    workloads = []
    for task_set in task_sets:
        definition = definitions[task_set["taskDefinition"]]
        placed_as = {**record, "launchType": task_set.get("launchType")}  # the task set's launch type
        scheduling = scheduling_for(store, record["clusterName"], placed_as, definition)
        workloads.append(task_set_manifest(record, task_set, definition, namespace=namespace, scheduling=scheduling))
    return [*workloads, *target_group_services(record, definitions, namespace=namespace)]


def apply_task_sets(store: Store, record: dict[str, Any], task_sets: list[dict[str, Any]]) -> None:
    for manifest in task_set_objects(store, record, task_sets):
        store.apply(manifest)


def delete_task_set_objects(store: Store, before: dict[str, Any], after: dict[str, Any] | None) -> None:
    """Delete the Deployments of the task sets `before` has and `after` has not, and the Services
    of the target groups only they named (`after` None: every one)."""
    namespace = names.cluster_namespace(before["clusterName"])
    kept = {entry["id"] for entry in (after or {}).get("taskSets", [])}
    for task_set in before["taskSets"]:
        if task_set["id"] not in kept:
            store.delete_object("Deployment", namespace, task_set_workload_name(before["serviceName"], task_set["id"]))
    stale = target_group_service_names(before) - (target_group_service_names(after) if after else set())
    for name in sorted(stale):
        store.delete_object("Service", namespace, name)


def apply_autoscaler(store: Store, record: dict[str, Any]) -> None:
    """Make the service's HorizontalPodAutoscaler match its auto scaling settings (none: no HPA)."""
    namespace = names.cluster_namespace(record["clusterName"])
    manifest = autoscaler_manifest(record, namespace)
    if manifest is None:
        store.delete_object("HorizontalPodAutoscaler", namespace, workload_name(record["serviceName"]))
    else:
        store.apply(manifest)


def create_service(store: Store, call: Call) -> Response:
    params = call.params
    cluster_name = active_cluster(store, call)["clusterName"]
    namespace = names.cluster_namespace(cluster_name)
    external = (params.get("deploymentController") or {}).get("type") == EXTERNAL_CONTROLLER
    definition = None
    if not external:
        if not params.get("taskDefinition"):
            raise InvalidParameterException(TASK_DEFINITION_REQUIRED)
        definition = find_active_task_definition(store, params["taskDefinition"])
    existing = find_service(store, cluster_name, params["serviceName"])
    if existing is not None and existing.record["status"] != INACTIVE:
        raise InvalidParameterException("Creation of service was not idempotent.")
    resolved = {} if definition is None else {"taskDefinition": definition["taskDefinitionArn"]}
    record = service_record(
        {**params, **resolved, **iam_role(params, call.account)},
        cluster_name=cluster_name,
        created_at=time.time(),
        created_by=f"arn:aws:iam::{call.account}:root",
        deployment_id=new_deployment_id(),
        task_definition=definition,
    )
    # An EXTERNAL service has no objects until its first task set.
    manifests = [] if external else service_manifests(store, cluster_name, record)
    check_service_objects(store, manifests)
    labels = {**service_selector(record["serviceName"]), names.LABEL_CLUSTER: names.label_value(cluster_name)}
    try:
        saved = store.save_service_record(namespace, record_name(record["serviceName"]), labels, record, existing)
    except Conflict as error:  # another CreateService of this name wrote first
        raise InvalidParameterException("Creation of service was not idempotent.") from error
    try:
        if manifests:
            apply_manifests(store, manifests)
    except Exception:
        delete_service_objects(store, manifests)
        store.delete_service_record(namespace, record_name(record["serviceName"]))
        raise
    return {"service": ServiceObjects.load(store, saved).view(call.region, call.account, include_tags=True)}


def update_service(store: Store, call: Call) -> Response:
    params = call.params
    cluster_name = active_cluster(store, call)["clusterName"]

    written: dict[str, Any] = {}

    def updated(found: Stored) -> dict[str, Any]:
        """The new record, once Kubernetes would take its objects (`written` keeps what it replaces)."""
        if found.record["status"] != ACTIVE:
            raise ServiceNotActiveException("Service was not ACTIVE.")
        current = ServiceObjects.load(store, found).view(call.region, call.account)
        record = service_record_observed(found.record, current, now=time.time())
        changes = dict(params)
        definition = None
        if params.get("taskDefinition"):
            definition = find_task_definition(store, params["taskDefinition"]).record
            if definition["taskDefinitionArn"] != record["taskDefinition"]:
                definition = find_active_task_definition(store, params["taskDefinition"])
            changes["taskDefinition"] = definition["taskDefinitionArn"]
        new_record = service_record_updated(
            record, changes, now=time.time(), new_deployment_id=new_deployment_id(), task_definition=definition
        )
        # A BLUE_GREEN deployment enters its first stages now: its green tasks start at once
        # unless a hook holds it before they scale up.
        new_record = blue_green_advanced(new_record, current, now=time.time()) or new_record
        written["manifests"] = service_manifests(store, cluster_name, new_record)
        check_service_objects(store, written["manifests"])
        written["previous"] = found.record
        return new_record

    service = service_named(call, cluster_name, params["service"])
    found = find_service(store, cluster_name, service)
    if found is not None and is_external(found.record):
        return update_external_service(store, call, cluster_name, service)
    saved = save_service_change(store, cluster_name, service, updated)
    try:
        apply_service_record(store, saved.record, written["manifests"])
    except Exception:
        restore_service(store, cluster_name, service, written["previous"])
        raise
    return {"service": ServiceObjects.load(store, saved).view(call.region, call.account)}


def update_external_service(store: Store, call: Call, cluster_name: str, service: str) -> Response:
    """UpdateService of an EXTERNAL service: its own settings, its task sets rescaled."""

    def updated(found: Stored) -> dict[str, Any]:
        if found.record["status"] != ACTIVE:
            raise ServiceNotActiveException("Service was not ACTIVE.")
        record = external_service_updated(found.record, call.params)
        validate_service_params(record)
        return record

    saved = save_service_change(store, cluster_name, service, updated)
    apply_task_sets(store, saved.record, saved.record["taskSets"])
    return {"service": ServiceObjects.load(store, saved).view(call.region, call.account)}


def restore_service(store: Store, cluster_name: str, service: str, previous: dict[str, Any]) -> None:
    """Undo an UpdateService whose objects could not all be applied: its record as it was, and the
    objects made from it."""
    save_service_change(store, cluster_name, service, lambda _: previous)
    apply_service_objects(store, cluster_name, previous)


def delete_service(store: Store, call: Call) -> Response:
    params = call.params
    cluster_name = active_cluster(store, call)["clusterName"]

    def draining(found: Stored) -> dict[str, Any]:
        record = found.record
        if record["status"] == INACTIVE:
            raise ServiceNotFoundException(SERVICE_NOT_FOUND)
        if record["status"] == ACTIVE and record.get("desiredCount", 0) > 0 and not params.get("force"):
            raise InvalidParameterException("The service cannot be stopped while it is scaled above 0.")
        task_sets = [{**task_set, "status": DRAINING} for task_set in record.get("taskSets", [])]
        return {**record, "status": DRAINING, "desiredCount": 0, **({"taskSets": task_sets} if task_sets else {})}

    saved = save_service_change(store, cluster_name, service_named(call, cluster_name, params["service"]), draining)
    record = saved.record
    if is_external(record):
        delete_task_set_objects(store, record, None)
        return {"service": ServiceObjects.load(store, saved).view(call.region, call.account)}
    namespace = names.cluster_namespace(cluster_name)
    kind = "DaemonSet" if record["schedulingStrategy"] == DAEMON else "Deployment"
    if settings_of(record):
        apply_autoscaler(store, record)  # a DRAINING service has none
    store.delete_object(kind, namespace, workload_name(record["serviceName"]))
    definition = find_task_definition(store, primary_deployment(record)["taskDefinition"]).record
    for manifest in kube_services(record, definition, namespace=namespace):
        store.delete_object("Service", namespace, manifest["metadata"]["name"])
    return {"service": ServiceObjects.load(store, saved).view(call.region, call.account)}


def describe_services(store: Store, call: Call) -> Response:
    cluster_name = active_cluster(store, call)["clusterName"]
    wanted = requested(call, "services", MAX_DESCRIBE, "services")
    include_tags = includes_tags(call)
    services, failures = [], []
    for value in wanted:
        found = find_service(store, cluster_name, service_named(call, cluster_name, value))
        if found is None:
            arn = value if value.startswith("arn:") else names.arn(call.region, call.account, f"service/{value}")
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            services.append(ServiceObjects.load(store, found).view(call.region, call.account, include_tags))
    return {"services": services, "failures": failures}


def list_services(store: Store, call: Call) -> Response:
    params = call.params
    cluster_name = active_cluster(store, call)["clusterName"]
    records = [
        found.record
        for found in store.service_records_in(names.cluster_namespace(cluster_name))
        if shown_status(store, found, call) != INACTIVE
    ]
    arns = sorted(
        names.service_arn(call.region, call.account, cluster_name, record["serviceName"])
        for record in records
        if ("launchType" not in params or record.get("launchType") == params["launchType"])
        and ("schedulingStrategy" not in params or record["schedulingStrategy"] == params["schedulingStrategy"])
    )
    chunk, token = page(arns, str, params.get("maxResults"), params.get("nextToken"), limit=100)
    return {"serviceArns": chunk, **({"nextToken": token} if token else {})}


def shown_status(store: Store, found: Stored, call: Call) -> str:
    """The status DescribeServices shows: a DRAINING service whose tasks are gone is INACTIVE
    before the record says so."""
    status: str = found.record["status"]
    if status != DRAINING:
        return status
    shown: str = ServiceObjects.load(store, found).view(call.region, call.account)["status"]
    return shown


def handlers(store: Store) -> dict[str, Handler]:
    return {
        "CreateService": partial(create_service, store),
        "UpdateService": partial(update_service, store),
        "DeleteService": partial(delete_service, store),
        "DescribeServices": partial(describe_services, store),
        "ListServices": partial(list_services, store),
    }
