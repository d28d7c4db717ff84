"""AWS Cloud Map (the `servicediscovery` API) as records, and ECS tasks as its instances.

Records, kept by the store as they are made here (timestamps in epoch seconds):
- a namespace: Id (`ns-...`), Arn, Name, Type (DNS_PRIVATE or HTTP), Description, Properties,
  CreateDate, CreatorRequestId, Tags, and the id of the operation that created it;
- a service: Id (`srv-...`), Arn, Name, NamespaceId, Type, DnsConfig, health check settings,
  CreateDate, CreatorRequestId, Tags, and the instances registered with RegisterInstance
  (`Registered`, by instance id: attributes, creator request id, custom health);
- an operation (GetOperation): Id, Type, Status, CreateDate, UpdateDate, Targets. Every change
  is done by the time its call answers, so an operation is SUCCESS from the start.

An ECS service whose `serviceRegistries` names a Cloud Map service's ARN registers its RUNNING
tasks there, as ECS does: instance id = task id, with the attributes ECS sets (AWS_INSTANCE_IPV4
= the pod's IP, AWS_INSTANCE_PORT = the registry's port or container port, AVAILABILITY_ZONE,
REGION, ECS_CLUSTER_NAME, ECS_SERVICE_NAME, ECS_TASK_DEFINITION_FAMILY, EC2_INSTANCE_ID), derived
from the live pods at each read; a task that stops, or is being stopped, is no longer one. Its
health is the task's: UNHEALTHY when a container health check fails, else HEALTHY.

In the cluster, the same tasks are the endpoints of the ECS service's headless Service
(service_to_kube.registry_service_name): `<service>.<namespace>` in Cloud Map's DNS is that
Service's `<name>.<cluster namespace>.svc.cluster.local` (discovery_dns_names)."""

import copy
import hashlib
import json
import re
import secrets
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shim.errors import InvalidInput, TooManyTagsException
from shim.translate import names
from shim.translate.tags import merge_tags
from shim.translate.task_from_pod import last_status, task_health, task_id_of

Json = dict[str, Any]

DNS_PRIVATE = "DNS_PRIVATE"
HTTP = "HTTP"
DNS_HTTP = "DNS_HTTP"
HEALTHY = "HEALTHY"
UNHEALTHY = "UNHEALTHY"
UNKNOWN = "UNKNOWN"
SUCCESS = "SUCCESS"
MAX_PAGE = 100
MAX_TAGS = 50
MAX_ATTRIBUTES = 30
ZONE_LABEL = "topology.kubernetes.io/zone"

_ID_ALPHABET = string.ascii_lowercase + string.digits
_DNS_NAME = re.compile(r"(?!-)[A-Za-z0-9-_]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-_]{1,63}(?<!-))*\.?")
_HTTP_NAME = re.compile(r"[!-~]{1,1024}")
_DNS_SERVICE_NAME = re.compile(r"([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])")
_ATTRIBUTE_KEY = re.compile(r"[a-zA-Z0-9!-~]{1,255}")
_RESOURCE_ARN = re.compile(r"arn:aws:servicediscovery:[^:]*:[^:]*:(?:namespace|service)/(?P<id>[^/]+)")
_RESERVED_ATTRIBUTES = ("AWS_INSTANCE_IPV4", "AWS_INSTANCE_IPV6", "AWS_INSTANCE_CNAME", "AWS_ALIAS_DNS_NAME")


def resource_id(value: str) -> str:
    """The id a namespace or service is asked for by: its id, or its ARN."""
    match = _RESOURCE_ARN.fullmatch(value)
    return match["id"] if match else value


def new_id(prefix: str, length: int = 16) -> str:
    """An id as Cloud Map makes them: `ns-` or `srv-` and lowercase letters and digits."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def new_operation_id() -> str:
    return f"{new_id('', 32)}-{new_id('', 8)}"


def arn(region: str, account: str, resource: str) -> str:
    return f"arn:aws:servicediscovery:{region}:{account}:{resource}"


def timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# Namespaces


def new_namespace(
    params: Mapping[str, Any], kind: str, *, namespace_id: str, operation_id: str, region: str, account: str, now: float
) -> Json:
    """The record of a namespace CreatePrivateDnsNamespace (`kind` DNS_PRIVATE) or
    CreateHttpNamespace (HTTP) makes, after its name and tags are checked."""
    name = params["Name"]
    check_namespace_name(name, kind)
    check_tags(params.get("Tags") or [])
    properties: Json = {"HttpProperties": {"HttpName": name}}
    if kind == DNS_PRIVATE:
        soa = ((params.get("Properties") or {}).get("DnsProperties") or {}).get("SOA") or {"TTL": 15}
        properties["DnsProperties"] = {"HostedZoneId": "Z" + new_id("", 20).upper(), "SOA": dict(soa)}
    record: Json = {
        "Id": namespace_id,
        "Arn": arn(region, account, f"namespace/{namespace_id}"),
        "ResourceOwner": account,
        "Name": name,
        "Type": kind,
        "Properties": properties,
        "CreateDate": now,
        "Tags": copy.deepcopy(params.get("Tags") or []),
        "OperationId": operation_id,
    }
    for key in ("Description", "CreatorRequestId", "Vpc"):
        if params.get(key) is not None:
            record[key] = params[key]
    return record


def check_namespace_name(name: str, kind: str) -> None:
    if kind == HTTP and not _HTTP_NAME.fullmatch(name):
        raise InvalidInput(f"Namespace name {name!r} is not valid: use printable ASCII characters without spaces.")
    if kind != HTTP and (len(name) > 253 or not _DNS_NAME.fullmatch(name)):
        raise InvalidInput(f"Namespace name {name!r} is not a valid domain name.")


def namespace_view(record: Mapping[str, Any], service_count: int, *, summary: bool = False) -> Json:
    """GetNamespace's Namespace, or ListNamespaces' summary of it."""
    view: Json = {
        key: copy.deepcopy(record[key])
        for key in ("Id", "Arn", "ResourceOwner", "Name", "Type", "Description", "Properties")
        if key in record
    }
    view["ServiceCount"] = service_count
    view["CreateDate"] = timestamp(record["CreateDate"])
    if not summary and "CreatorRequestId" in record:
        view["CreatorRequestId"] = record["CreatorRequestId"]
    return view


# Services


def new_service(
    params: Mapping[str, Any], namespace: Mapping[str, Any], *, service_id: str, region: str, account: str, now: float
) -> Json:
    """The record of a service CreateService makes in `namespace`, after its settings are checked
    against the namespace's type, as Cloud Map checks them."""
    name = params["Name"]
    dns_config = copy.deepcopy(params.get("DnsConfig"))
    _check_service_settings(params, namespace, dns_config)
    check_tags(params.get("Tags") or [])
    record: Json = {
        "Id": service_id,
        "Arn": arn(region, account, f"service/{service_id}"),
        "ResourceOwner": account,
        "CreatedByAccount": account,
        "Name": name,
        "NamespaceId": namespace["Id"],
        "Type": DNS_HTTP if dns_config else HTTP,
        "CreateDate": now,
        "Tags": copy.deepcopy(params.get("Tags") or []),
        "Registered": {},
    }
    if dns_config:
        dns_config["NamespaceId"] = namespace["Id"]
        dns_config.setdefault("RoutingPolicy", "MULTIVALUE")
        record["DnsConfig"] = dns_config
    for key in ("Description", "CreatorRequestId", "HealthCheckConfig", "HealthCheckCustomConfig"):
        if params.get(key) is not None:
            record[key] = copy.deepcopy(params[key])
    return record


def _check_service_settings(params: Mapping[str, Any], namespace: Mapping[str, Any], dns_config: Json | None) -> None:
    name = params["Name"]
    if "HealthCheckConfig" in params and "HealthCheckCustomConfig" in params:
        raise InvalidInput("A service can have HealthCheckConfig or HealthCheckCustomConfig, not both.")
    if "HealthCheckConfig" in params:
        raise InvalidInput("HealthCheckConfig (Route 53 health checks) is only supported in public DNS namespaces.")
    if namespace["Type"] == HTTP:
        if dns_config:
            raise InvalidInput(f"DnsConfig is not allowed for a service in the HTTP namespace {namespace['Id']}.")
        return
    if params.get("Type") == HTTP and dns_config:
        raise InvalidInput("A service of type HTTP cannot have DnsConfig.")
    if dns_config is not None:
        if not _DNS_SERVICE_NAME.fullmatch(name):
            raise InvalidInput(f"Service name {name!r} is not a valid DNS label.")
        types = [record["Type"] for record in dns_config["DnsRecords"]]
        if not types:
            raise InvalidInput("DnsConfig.DnsRecords must name at least one record type.")
        if len(set(types)) != len(types):
            raise InvalidInput("DnsConfig.DnsRecords names a record type more than once.")
        if "CNAME" in types and (len(types) > 1 or dns_config.get("RoutingPolicy", "MULTIVALUE") == "MULTIVALUE"):
            raise InvalidInput("A CNAME record must be the only record, with the WEIGHTED routing policy.")


def service_view(record: Mapping[str, Any], instance_count: int, *, summary: bool = False) -> Json:
    """GetService's Service, or ListServices' summary of it."""
    keys = ["Id", "Arn", "ResourceOwner", "Name", "Type", "Description", "DnsConfig", "CreatedByAccount"]
    keys += ["HealthCheckConfig", "HealthCheckCustomConfig"]
    if not summary:
        keys += ["NamespaceId", "CreatorRequestId"]
    view: Json = {key: copy.deepcopy(record[key]) for key in keys if key in record}
    view["InstanceCount"] = instance_count
    view["CreateDate"] = timestamp(record["CreateDate"])
    return view


def has_health_check(service: Mapping[str, Any]) -> bool:
    return "HealthCheckConfig" in service or "HealthCheckCustomConfig" in service


# Instances


def registered_instance(params: Mapping[str, Any], service: Mapping[str, Any]) -> Json:
    """An instance RegisterInstance keeps in `service`, after its attributes are checked."""
    attributes: dict[str, str] = dict(params["Attributes"])
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(f"An instance can have at most {MAX_ATTRIBUTES} attributes.")
    for key, value in attributes.items():
        if not _ATTRIBUTE_KEY.fullmatch(key) or len(value) > 1024:
            raise InvalidInput(f"Attribute {key!r} is not valid: keys are up to 255 and values up to 1,024 characters.")
    if service.get("DnsConfig") and not any(attributes.get(key) for key in _RESERVED_ATTRIBUTES):
        raise InvalidInput(
            "An instance of a service with DnsConfig needs AWS_INSTANCE_IPV4, AWS_INSTANCE_IPV6, "
            "AWS_INSTANCE_CNAME or AWS_ALIAS_DNS_NAME."
        )
    health = attributes.get("AWS_INIT_HEALTH_STATUS", HEALTHY)
    if health not in (HEALTHY, UNHEALTHY):
        raise InvalidInput("AWS_INIT_HEALTH_STATUS must be HEALTHY or UNHEALTHY.")
    instance: Json = {"Id": params["InstanceId"], "Attributes": attributes, "Health": health}
    if params.get("CreatorRequestId") is not None:
        instance["CreatorRequestId"] = params["CreatorRequestId"]
    return instance


def registering(ecs_service: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The serviceRegistries an ECS service registers its tasks in: all of them while it is
    ACTIVE, none once it is being deleted."""
    if ecs_service.get("status") != "ACTIVE":
        return []
    return [registry for registry in ecs_service.get("serviceRegistries", []) if registry.get("registryArn")]


def task_instance(
    pod: Mapping[str, Any],
    node: Mapping[str, Any] | None,
    ecs_service: Mapping[str, Any],
    registry: Mapping[str, Any],
    *,
    region: str,
    now: float,
) -> Json | None:
    """The instance ECS keeps registered for the task of `pod` while it runs (None: it does not
    run, or has no address yet)."""
    address = (pod.get("status") or {}).get("podIP")
    if not address or "deletionTimestamp" in pod["metadata"] or last_status(pod) != "RUNNING":
        return None
    annotations = pod["metadata"].get("annotations") or {}
    attributes = {
        "AWS_INSTANCE_IPV4": address,
        "AWS_INIT_HEALTH_STATUS": HEALTHY,
        "REGION": region,
        "ECS_CLUSTER_NAME": ecs_service["clusterName"],
        "ECS_SERVICE_NAME": ecs_service["serviceName"],
        "ECS_TASK_DEFINITION_FAMILY": annotations.get(names.ANNOTATION_FAMILY, ""),
    }
    port = registry.get("port") or registry.get("containerPort")
    if port:
        attributes["AWS_INSTANCE_PORT"] = str(port)
    if node is not None:
        attributes["EC2_INSTANCE_ID"] = node["metadata"]["name"]
        zone = (node["metadata"].get("labels") or {}).get(ZONE_LABEL)
        if zone:
            attributes["AVAILABILITY_ZONE"] = zone
    health = UNHEALTHY if task_health(pod, now) == UNHEALTHY else HEALTHY
    return {"Id": task_id_of(pod), "Attributes": attributes, "Health": health}


def instance_view(instance: Mapping[str, Any], account: str, *, full: bool = False) -> Json:
    """ListInstances' summary of an instance, or (`full`) GetInstance's Instance."""
    view: Json = {"Id": instance["Id"], "Attributes": dict(instance["Attributes"]), "CreatedByAccount": account}
    if full and "CreatorRequestId" in instance:
        view["CreatorRequestId"] = instance["CreatorRequestId"]
    return view


def discovered(
    instances: Sequence[Mapping[str, Any]],
    service: Mapping[str, Any],
    namespace_name: str,
    params: Mapping[str, Any],
) -> list[Json]:
    """DiscoverInstances' answer: the instances in the wanted health (HEALTHY unless asked
    otherwise; every instance when the service has no health check) whose attributes match
    QueryParameters, narrowed by OptionalParameters when any still match, at most MaxResults."""
    checked = has_health_check(service)
    wanted = params.get("HealthStatus", HEALTHY)
    if checked and wanted != "ALL":
        healthy = [i for i in instances if i["Health"] == HEALTHY]
        if wanted == UNHEALTHY:
            instances = [i for i in instances if i["Health"] == UNHEALTHY]
        elif wanted == HEALTHY or healthy:
            instances = healthy
    instances = [i for i in instances if _has_attributes(i, params.get("QueryParameters") or {})]
    narrowed = [i for i in instances if _has_attributes(i, params.get("OptionalParameters") or {})]
    chosen = narrowed or instances
    summaries = [
        {
            "InstanceId": instance["Id"],
            "NamespaceName": namespace_name,
            "ServiceName": service["Name"],
            "HealthStatus": instance["Health"] if checked else UNKNOWN,
            "Attributes": dict(instance["Attributes"]),
        }
        for instance in chosen
    ]
    return summaries[: params.get("MaxResults", MAX_PAGE)]


def _has_attributes(instance: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    return all(instance["Attributes"].get(key) == value for key, value in wanted.items())


def instances_revision(instances: Iterable[Mapping[str, Any]]) -> int:
    """A number that changes whenever the service's instances or their attributes do (not their
    health, as Cloud Map's DiscoverInstancesRevision): a digest of them, so every server process
    gives the same one. Cloud Map's grows; this one only changes."""
    document = sorted((i["Id"], sorted(i["Attributes"].items())) for i in instances)
    return int.from_bytes(hashlib.sha256(json.dumps(document).encode()).digest()[:7], "big")


# Operations


def new_operation(kind: str, targets: Mapping[str, str], *, operation_id: str, account: str, now: float) -> Json:
    return {
        "Id": operation_id,
        "OwnerAccount": account,
        "Type": kind,
        "Status": SUCCESS,
        "CreateDate": now,
        "UpdateDate": now,
        "Targets": dict(targets),
    }


def operation_view(record: Mapping[str, Any]) -> Json:
    view: Json = {key: copy.deepcopy(record[key]) for key in ("Id", "OwnerAccount", "Type", "Status", "Targets")}
    view["CreateDate"] = timestamp(record["CreateDate"])
    view["UpdateDate"] = timestamp(record["UpdateDate"])
    return view


# Filters and tags


NAMESPACE_FILTERS = {
    "TYPE": ("EQ", "IN"),
    "NAME": ("EQ", "BEGINS_WITH"),
    "HTTP_NAME": ("EQ", "BEGINS_WITH"),
    "RESOURCE_OWNER": ("EQ", "BEGINS_WITH"),
}
SERVICE_FILTERS = {"NAMESPACE_ID": ("EQ",), "RESOURCE_OWNER": ("EQ", "BEGINS_WITH")}
OPERATION_FILTERS = {
    "NAMESPACE_ID": ("EQ",),
    "SERVICE_ID": ("EQ",),
    "STATUS": ("EQ", "IN"),
    "TYPE": ("EQ", "IN"),
    "UPDATE_DATE": ("BETWEEN",),
}
"""The conditions each List call takes for each of its filters (EQ is the default)."""


def check_filters(filters: Sequence[Mapping[str, Any]], allowed: Mapping[str, Sequence[str]]) -> None:
    """Refuse a filter of a List call whose condition or values its name does not take."""
    for filter_ in filters:
        name, condition, values = filter_["Name"], filter_.get("Condition", "EQ"), filter_["Values"]
        if condition not in allowed.get(name, ()):
            raise InvalidInput(f"Filter {name} does not take the condition {condition}.")
        if condition == "BETWEEN":
            if len(values) != 2:
                raise InvalidInput(f"The BETWEEN condition of filter {name} takes exactly two values.")
            for value in values:
                _number(value, name)
        if condition == "EQ" and len(values) != 1:
            raise InvalidInput(f"The EQ condition of filter {name} takes exactly one value.")


def matches_filters(filters: Sequence[Mapping[str, Any]], value_of: Callable[[str], str | float | None]) -> bool:
    """Whether a record passes every (checked) filter of a List call; `value_of(name)` is the
    record's value for the filter's name (an epoch time for UPDATE_DATE)."""
    return all(_matches(f, value_of(f["Name"])) for f in filters)


def _matches(filter_: Mapping[str, Any], value: str | float | None) -> bool:
    condition, values = filter_.get("Condition", "EQ"), filter_["Values"]
    if condition == "BETWEEN":
        low, high = (_number(v, filter_["Name"]) for v in values)
        return isinstance(value, float | int) and low <= value <= high
    if condition == "BEGINS_WITH":
        return any(str(value).startswith(v) for v in values)
    return str(value) in values


def _number(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(f"The values of filter {name} must be epoch times.") from None


def check_tags(tags: Sequence[Mapping[str, str]]) -> None:
    if len(tags) > MAX_TAGS:
        raise TooManyTagsException(f"A resource can have at most {MAX_TAGS} tags.")


def with_tags(existing: Sequence[Mapping[str, str]], added: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    tags = merge_tags([dict(t) for t in existing], [dict(t) for t in added])
    check_tags(tags)
    return tags
