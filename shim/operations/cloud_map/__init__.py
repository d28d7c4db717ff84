"""The AWS Cloud Map API (`servicediscovery`: X-Amz-Target `Route53AutoNaming_v20170314.*` in
JSON 1.1, which boto3 picks, or the same operations in Smithy RPC v2 CBOR), served on the
same endpoint as ECS: namespaces and services (namespaces.py), instances and discovery
(instances.py), operations and tags (progress.py). Namespaces, services and operations live in
Kubernetes (shim/kube/cloud_map.py); the instances of ECS tasks are their pods.

A call with a caller (an access key mapped to a Kubernetes identity) is made as the caller, so
Kubernetes RBAC on the `cloudmap*` resources (ecs.shim.io) decides it; a refusal is
AccessDeniedException in IAM's words."""

from shim.calls import Handler
from shim.kube.cloud_map import CloudMapStore
from shim.kube.store import Store
from shim.operations.base import as_caller
from shim.operations.cloud_map import instances, namespaces, progress


def build_cloud_map_handlers(store: Store, cloud_map: CloudMapStore) -> dict[str, Handler]:
    handlers = {
        **namespaces.handlers(store, cloud_map),
        **instances.handlers(store, cloud_map),
        **progress.handlers(cloud_map),
    }
    return {operation: as_caller(handler, "servicediscovery", "*") for operation, handler in handlers.items()}
