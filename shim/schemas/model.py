"""botocore's service models, loaded once: the specification of every operation's shapes, for
each AWS service the server speaks (`ecs`, `logs` for CloudWatch Logs, `ecr` for ECR,
`application-autoscaling` for Application Auto Scaling, `servicediscovery` for Cloud Map,
`cloudwatch` for CloudWatch's metrics)."""

import functools

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, StructureShape

ECS = "ecs"
LOGS = "logs"
ECR = "ecr"
APPLICATION_AUTOSCALING = "application-autoscaling"
CLOUD_MAP = "servicediscovery"
CLOUDWATCH = "cloudwatch"
SERVICES = (ECS, LOGS, ECR, APPLICATION_AUTOSCALING, CLOUD_MAP, CLOUDWATCH)
"""The services served on one endpoint, by botocore's names for them."""


@functools.cache
def service_model(service: str) -> ServiceModel:
    return ServiceModel(Loader().load_service_model(service, "service-2"), service_name=service)


def ecs_model() -> ServiceModel:
    return service_model(ECS)


def signing_name(service: str) -> str:
    """The SigV4 service name of `service`'s requests (`monitoring` for CloudWatch)."""
    metadata = service_model(service).metadata
    return str(metadata.get("signingName") or metadata["endpointPrefix"])


def target_prefix(service: str = ECS) -> str:
    """The X-Amz-Target prefix of every operation of `service`, e.g. AmazonEC2ContainerServiceV20141113."""
    prefix: str = service_model(service).metadata["targetPrefix"]
    return prefix


@functools.cache
def service_of_target_prefix(prefix: str) -> str | None:
    """The service whose operations' X-Amz-Target starts with `prefix`, if the server speaks it."""
    return next((service for service in SERVICES if target_prefix(service) == prefix), None)


@functools.cache
def operation_names(service: str = ECS) -> frozenset[str]:
    return frozenset(service_model(service).operation_names)


def operation_model(operation: str, service: str = ECS) -> OperationModel:
    return service_model(service).operation_model(operation)


def input_shape(operation: str, service: str = ECS) -> StructureShape:
    return operation_model(operation, service).input_shape


def output_shape(operation: str, service: str = ECS) -> StructureShape | None:
    return operation_model(operation, service).output_shape


@functools.cache
def _error_traits(service: str) -> dict[str, dict[str, object]]:
    model = service_model(service)
    return {shape.name: dict(shape.metadata.get("error") or {}) for shape in model.error_shapes}


def error_status(service: str, code: str) -> int | None:
    """The HTTP status `service`'s model gives its error `code`, if it gives one."""
    status = _error_traits(service).get(code, {}).get("httpStatusCode")
    return int(str(status)) if status is not None else None


def query_error(service: str, code: str) -> str | None:
    """For a service its model marks awsQueryCompatible, the `x-amzn-query-error` header value of
    error `code` (`<query code>;Sender|Receiver`), from which botocore reads the code the query
    protocol would have given; None for other services and errors."""
    if "awsQueryCompatible" not in service_model(service).metadata:
        return None
    traits = _error_traits(service).get(code, {})
    if "code" not in traits:
        return None
    return f"{traits['code']};{'Sender' if traits.get('senderFault') else 'Receiver'}"
