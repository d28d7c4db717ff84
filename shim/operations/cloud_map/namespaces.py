"""Cloud Map namespaces and services: create, read, list, delete, each namespace change recorded
as an operation (GetOperation) that has succeeded by the time the call answers."""

import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import NamespaceAlreadyExists, NamespaceNotFound, ResourceInUse, ServiceAlreadyExists
from shim.kube.cloud_map import CloudMapStore
from shim.kube.errors import Conflict
from shim.kube.records import Record
from shim.kube.store import Store
from shim.operations.cloud_map.common import done, listed, service_or_refusal
from shim.operations.cloud_map.instances import instances_of, task_instances
from shim.translate.cloud_map import (
    DNS_PRIVATE,
    HTTP,
    NAMESPACE_FILTERS,
    SERVICE_FILTERS,
    namespace_view,
    new_id,
    new_namespace,
    new_operation_id,
    new_service,
    resource_id,
    service_view,
)


def handlers(store: Store, cloud_map: CloudMapStore) -> dict[str, Handler]:
    return {
        "CreatePrivateDnsNamespace": partial(create_namespace, cloud_map, DNS_PRIVATE),
        "CreateHttpNamespace": partial(create_namespace, cloud_map, HTTP),
        "GetNamespace": partial(get_namespace, cloud_map),
        "ListNamespaces": partial(list_namespaces, cloud_map),
        "DeleteNamespace": partial(delete_namespace, cloud_map),
        "CreateService": partial(create_service, cloud_map),
        "GetService": partial(get_service, store, cloud_map),
        "ListServices": partial(list_services, store, cloud_map),
        "DeleteService": partial(delete_service, store, cloud_map),
    }


def namespace_or_refusal(cloud_map: CloudMapStore, namespace_id: str) -> Record:
    found = cloud_map.namespace(resource_id(namespace_id))
    if found is None:
        raise NamespaceNotFound(f"No namespace exists with the ID {namespace_id}.")
    return found


# Namespaces


def create_namespace(cloud_map: CloudMapStore, kind: str, call: Call) -> Response:
    """A new namespace, or the same answer again for a retry with its CreatorRequestId."""
    params, now = call.params, time.time()
    existing = cloud_map.namespace_named(params["Name"])
    if existing is None:
        record = new_namespace(
            params,
            kind,
            namespace_id=new_id("ns-"),
            operation_id=new_operation_id(),
            region=call.region,
            account=call.account,
            now=now,
        )
        try:
            cloud_map.create_namespace(record)
        except Conflict:
            existing = cloud_map.namespace_named(params["Name"])
        else:
            done(cloud_map, call, "CREATE_NAMESPACE", {"NAMESPACE": record["Id"]}, record["OperationId"], now)
            return {"OperationId": record["OperationId"]}
    if existing is None or not _is_retry(params, existing):
        namespace_id = existing["Id"] if existing else "unknown"
        raise NamespaceAlreadyExists(f"A namespace named {params['Name']} already exists: {namespace_id}.")
    if cloud_map.operation(existing["OperationId"]) is None:  # the first call failed once the namespace was made
        targets = {"NAMESPACE": existing["Id"]}
        done(cloud_map, call, "CREATE_NAMESPACE", targets, existing["OperationId"], existing["CreateDate"])
    return {"OperationId": existing["OperationId"]}


def _is_retry(params: Mapping[str, Any], existing: Record) -> bool:
    """Whether a creation is a retry of the one that made `existing` (same CreatorRequestId)."""
    return bool(params.get("CreatorRequestId")) and params["CreatorRequestId"] == existing.get("CreatorRequestId")


def get_namespace(cloud_map: CloudMapStore, call: Call) -> Response:
    record = namespace_or_refusal(cloud_map, call.params["Id"])
    return {"Namespace": namespace_view(record, len(cloud_map.services(record["Id"])))}


def list_namespaces(cloud_map: CloudMapStore, call: Call) -> Response:
    counts: dict[str, int] = {}
    for service in cloud_map.services():
        counts[service["NamespaceId"]] = counts.get(service["NamespaceId"], 0) + 1

    def value_of(record: Record, name: str) -> Any:
        values = {"TYPE": record["Type"], "NAME": record["Name"], "RESOURCE_OWNER": record.get("ResourceOwner")}
        values["HTTP_NAME"] = record["Properties"]["HttpProperties"]["HttpName"]
        return values[name]

    return listed(
        call,
        cloud_map.namespaces(),
        NAMESPACE_FILTERS,
        value_of,
        lambda record: namespace_view(record, counts.get(record["Id"], 0), summary=True),
        "Namespaces",
    )


def delete_namespace(cloud_map: CloudMapStore, call: Call) -> Response:
    record = namespace_or_refusal(cloud_map, call.params["Id"])
    if cloud_map.services(record["Id"]):
        raise ResourceInUse(f"The namespace {record['Id']} has services: delete them first.")
    cloud_map.delete_namespace(record)
    operation_id = new_operation_id()
    done(cloud_map, call, "DELETE_NAMESPACE", {"NAMESPACE": record["Id"]}, operation_id, time.time())
    return {"OperationId": operation_id}


# Services


def create_service(cloud_map: CloudMapStore, call: Call) -> Response:
    """A new service, or the same one again for a retry with its CreatorRequestId."""
    params = call.params
    namespace_id = params.get("NamespaceId") or (params.get("DnsConfig") or {}).get("NamespaceId")
    if not namespace_id:
        raise NamespaceNotFound("CreateService needs the NamespaceId of the service's namespace.")
    namespace = namespace_or_refusal(cloud_map, namespace_id)
    record = new_service(
        params, namespace, service_id=new_id("srv-"), region=call.region, account=call.account, now=time.time()
    )
    existing = cloud_map.service_named(namespace["Id"], params["Name"])
    if existing is None:
        try:
            return {"Service": service_view(cloud_map.create_service(record), 0)}
        except Conflict:
            existing = cloud_map.service_named(namespace["Id"], params["Name"])
    if existing is None or not _is_retry(params, existing):
        service_id = existing["Id"] if existing else "unknown"
        raise ServiceAlreadyExists(
            f"A service named {params['Name']} already exists in {namespace['Id']}: {service_id}."
        )
    return {"Service": service_view(existing, 0)}


def get_service(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    record = service_or_refusal(cloud_map, call.params["Id"])
    return {"Service": service_view(record, len(instances_of(record, task_instances(store, call.region))))}


def list_services(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    tasks = task_instances(store, call.region)

    def value_of(record: Record, name: str) -> Any:
        return {"NAMESPACE_ID": record["NamespaceId"], "RESOURCE_OWNER": record.get("ResourceOwner")}[name]

    def view(record: Record) -> Record:
        return service_view(record, len(instances_of(record, tasks)), summary=True)

    return listed(call, cloud_map.services(), SERVICE_FILTERS, value_of, view, "Services")


def delete_service(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    """Delete the service unless instances are registered in it (checked against the version
    deleted, so that a registration meanwhile is never lost)."""
    record = service_or_refusal(cloud_map, call.params["Id"])
    tasks = task_instances(store, call.region)
    if cloud_map.delete_service(record, lambda current: not instances_of(current, tasks)) is False:
        raise ResourceInUse(f"The service {record['Id']} has registered instances: deregister them first.")
    return {}
