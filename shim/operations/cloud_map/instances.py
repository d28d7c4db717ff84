"""Cloud Map instances: the ones RegisterInstance keeps in a service, and the RUNNING tasks of the
ECS services whose serviceRegistries name it (read from the live pods at each call), listed,
read, checked for health and discovered."""

import time
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import CustomHealthNotFound, InstanceNotFound, InvalidInput, NamespaceNotFound, ServiceNotFound
from shim.kube.cloud_map import CloudMapStore
from shim.kube.records import Record
from shim.kube.store import Store
from shim.operations.cloud_map.common import done, paged, service_or_refusal
from shim.operations.services import service_pods
from shim.translate.cloud_map import (
    UNKNOWN,
    discovered,
    has_health_check,
    instance_view,
    instances_revision,
    new_operation_id,
    registered_instance,
    registering,
    task_instance,
)


def handlers(store: Store, cloud_map: CloudMapStore) -> dict[str, Handler]:
    return {
        "RegisterInstance": partial(register_instance, store, cloud_map),
        "DeregisterInstance": partial(deregister_instance, store, cloud_map),
        "ListInstances": partial(list_instances, store, cloud_map),
        "GetInstance": partial(get_instance, store, cloud_map),
        "GetInstancesHealthStatus": partial(get_instances_health_status, store, cloud_map),
        "UpdateInstanceCustomHealthStatus": partial(update_instance_custom_health_status, store, cloud_map),
        "DiscoverInstances": partial(discover_instances, store, cloud_map),
        "DiscoverInstancesRevision": partial(discover_instances_revision, store, cloud_map),
    }


TaskInstances = dict[str, list[dict[str, Any]]]
"""The instances of running ECS tasks, by the ARN of the Cloud Map service they are registered in."""


def task_instances(store: Store, region: str) -> TaskInstances:
    """The RUNNING tasks of the ECS services whose serviceRegistries name a Cloud Map service, as
    its instances, read from the services' pods once for a whole call."""
    now = time.time()
    found: TaskInstances = {}
    for stored in store.all_service_records():
        registries = registering(stored.record)
        pods = service_pods(store, stored.record) if registries else []
        for registry in registries:
            for pod in pods:
                instance = task_instance(pod, store.node_of(pod), stored.record, registry, region=region, now=now)
                if instance is not None:
                    found.setdefault(registry["registryArn"], []).append(instance)
    return found


def instances_of(service: Record, tasks: TaskInstances) -> list[dict[str, Any]]:
    """The service's instances by id: its tasks' (`task_instances`), then the ones
    RegisterInstance keeps (a task's id is never one of those)."""
    instances: dict[str, dict[str, Any]] = {}
    for instance in tasks.get(service["Arn"], []):
        instances.setdefault(instance["Id"], instance)
    for instance_id, instance in (service.get("Registered") or {}).items():
        instances.setdefault(instance_id, instance)
    return sorted(instances.values(), key=lambda instance: str(instance["Id"]))


def _instances(store: Store, service: Record, region: str) -> list[dict[str, Any]]:
    return instances_of(service, task_instances(store, region))


def _instance_or_refusal(store: Store, service: Record, instance_id: str, region: str) -> dict[str, Any]:
    found = next((i for i in _instances(store, service, region) if i["Id"] == instance_id), None)
    if found is None:
        raise InstanceNotFound(f"No instance {instance_id} is registered in the service {service['Id']}.")
    return found


def _refuse_task_instance(service: Record, instance_id: str, what: str) -> None:
    """A task's instance is ECS's to register and deregister, as its health is the task's."""
    if instance_id not in (service.get("Registered") or {}):
        raise InvalidInput(
            f"The instance {instance_id} is an ECS task registered by its service: {what} the task through ECS."
        )


def register_instance(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    service = service_or_refusal(cloud_map, call.params["ServiceId"])
    instance = registered_instance(call.params, service)
    if any(i["Id"] == instance["Id"] for i in _instances(store, service, call.region)):
        _refuse_task_instance(service, instance["Id"], "stop or replace")

    def register(record: Record) -> None:
        record.setdefault("Registered", {})[instance["Id"]] = instance

    if cloud_map.update_service(service, register) is None:
        raise ServiceNotFound(f"No service exists with the ID {service['Id']}.")
    return {"OperationId": _instance_operation(cloud_map, call, "REGISTER_INSTANCE", service, instance["Id"])}


def deregister_instance(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    service = service_or_refusal(cloud_map, call.params["ServiceId"])
    instance_id = call.params["InstanceId"]
    _instance_or_refusal(store, service, instance_id, call.region)
    _refuse_task_instance(service, instance_id, "stop")

    def deregister(record: Record) -> None:
        (record.get("Registered") or {}).pop(instance_id, None)

    cloud_map.update_service(service, deregister)
    return {"OperationId": _instance_operation(cloud_map, call, "DEREGISTER_INSTANCE", service, instance_id)}


def _instance_operation(cloud_map: CloudMapStore, call: Call, kind: str, service: Record, instance_id: str) -> str:
    operation_id = new_operation_id()
    done(cloud_map, call, kind, {"SERVICE": service["Id"], "INSTANCE": instance_id}, operation_id, time.time())
    return operation_id


def list_instances(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    service = service_or_refusal(cloud_map, call.params["ServiceId"])
    chunk, token = paged(call, _instances(store, service, call.region), lambda instance: str(instance["Id"]))
    return {
        "ResourceOwner": call.account,
        "Instances": [instance_view(instance, call.account) for instance in chunk],
        **({"NextToken": token} if token else {}),
    }


def get_instance(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    service = service_or_refusal(cloud_map, call.params["ServiceId"])
    instance = _instance_or_refusal(store, service, call.params["InstanceId"], call.region)
    return {"ResourceOwner": call.account, "Instance": instance_view(instance, call.account, full=True)}


def get_instances_health_status(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    """Each instance's health (UNKNOWN in a service without health checks), of the instances
    asked for or of all of them."""
    service = service_or_refusal(cloud_map, call.params["ServiceId"])
    instances = {i["Id"]: i for i in _instances(store, service, call.region)}
    wanted = call.params.get("Instances") or list(instances)
    missing = [instance_id for instance_id in wanted if instance_id not in instances]
    if missing:
        raise InstanceNotFound(f"No instance {missing[0]} is registered in the service {service['Id']}.")
    chunk, token = paged(call, sorted(wanted), str)
    checked = has_health_check(service)
    status = {instance_id: instances[instance_id]["Health"] if checked else UNKNOWN for instance_id in chunk}
    return {"Status": status, **({"NextToken": token} if token else {})}


def update_instance_custom_health_status(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    service = service_or_refusal(cloud_map, call.params["ServiceId"])
    instance_id = call.params["InstanceId"]
    _instance_or_refusal(store, service, instance_id, call.region)
    if "HealthCheckCustomConfig" not in service:
        raise CustomHealthNotFound(f"The service {service['Id']} has no custom health check (HealthCheckCustomConfig).")
    _refuse_task_instance(service, instance_id, "check the health of")

    def update(record: Record) -> None:
        instance = (record.get("Registered") or {}).get(instance_id)
        if instance is not None:
            instance["Health"] = call.params["Status"]

    cloud_map.update_service(service, update)
    return {}


def _discovered_service(cloud_map: CloudMapStore, call: Call) -> tuple[Record, str]:
    namespace_name, service_name = call.params["NamespaceName"], call.params["ServiceName"]
    namespace = cloud_map.namespace_named(namespace_name)
    if namespace is None:
        raise NamespaceNotFound(f"No namespace named {namespace_name} exists.")
    service = cloud_map.service_named(namespace["Id"], service_name)
    if service is None:
        raise ServiceNotFound(f"No service named {service_name} exists in the namespace {namespace_name}.")
    return service, namespace_name


def discover_instances(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    service, namespace_name = _discovered_service(cloud_map, call)
    instances = _instances(store, service, call.region)
    return {
        "Instances": discovered(instances, service, namespace_name, call.params),
        "InstancesRevision": instances_revision(instances),
    }


def discover_instances_revision(store: Store, cloud_map: CloudMapStore, call: Call) -> Response:
    service, _ = _discovered_service(cloud_map, call)
    return {"InstancesRevision": instances_revision(_instances(store, service, call.region))}
