"""The progress of Cloud Map's asynchronous calls (GetOperation, ListOperations), and the tags of
its namespaces and services."""

from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import OperationNotFound, ResourceNotFoundException
from shim.kube.cloud_map import CloudMapStore
from shim.kube.records import Record
from shim.operations.cloud_map.common import listed
from shim.translate.cloud_map import OPERATION_FILTERS, operation_view, resource_id, with_tags


def handlers(cloud_map: CloudMapStore) -> dict[str, Handler]:
    return {
        "GetOperation": partial(get_operation, cloud_map),
        "ListOperations": partial(list_operations, cloud_map),
        "TagResource": partial(tag_resource, cloud_map),
        "UntagResource": partial(untag_resource, cloud_map),
        "ListTagsForResource": partial(list_tags_for_resource, cloud_map),
    }


def get_operation(cloud_map: CloudMapStore, call: Call) -> Response:
    record = cloud_map.operation(call.params["OperationId"])
    if record is None:
        raise OperationNotFound(f"No operation exists with the ID {call.params['OperationId']}.")
    return {"Operation": operation_view(record)}


def list_operations(cloud_map: CloudMapStore, call: Call) -> Response:
    def value_of(record: Record, name: str) -> Any:
        targets = record["Targets"]
        return {
            "NAMESPACE_ID": targets.get("NAMESPACE"),
            "SERVICE_ID": targets.get("SERVICE"),
            "STATUS": record["Status"],
            "TYPE": record["Type"],
            "UPDATE_DATE": record["UpdateDate"],
        }[name]

    def summary(record: Record) -> Record:
        return {"Id": record["Id"], "Status": record["Status"]}

    return listed(call, cloud_map.operations(), OPERATION_FILTERS, value_of, summary, "Operations")


def _tagged(cloud_map: CloudMapStore, resource_arn: str) -> tuple[Record, str]:
    """The namespace or service the ARN names, and its kind."""
    kind = "namespace" if resource_id(resource_arn).startswith("ns-") else "service"
    find = cloud_map.namespace if kind == "namespace" else cloud_map.service
    found = find(resource_id(resource_arn))
    if found is None or found["Arn"] != resource_arn:
        raise ResourceNotFoundException(f"The resource {resource_arn} does not exist.")
    return found, kind


def _change_tags(cloud_map: CloudMapStore, resource_arn: str, change: Any) -> Response:
    record, kind = _tagged(cloud_map, resource_arn)

    def retag(current: Record) -> None:
        current["Tags"] = change(current.get("Tags") or [])

    update = cloud_map.update_namespace if kind == "namespace" else cloud_map.update_service
    if update(record, retag) is None:
        raise ResourceNotFoundException(f"The resource {resource_arn} does not exist.")
    return {}


def tag_resource(cloud_map: CloudMapStore, call: Call) -> Response:
    return _change_tags(cloud_map, call.params["ResourceARN"], lambda tags: with_tags(tags, call.params["Tags"]))


def untag_resource(cloud_map: CloudMapStore, call: Call) -> Response:
    removed = set(call.params["TagKeys"])
    return _change_tags(
        cloud_map, call.params["ResourceARN"], lambda tags: [t for t in tags if t["Key"] not in removed]
    )


def list_tags_for_resource(cloud_map: CloudMapStore, call: Call) -> Response:
    record, _ = _tagged(cloud_map, call.params["ResourceARN"])
    return {"Tags": record.get("Tags") or []}
