"""botocore's service models, loaded once: the specification of every operation's shapes, for
each AWS service the server speaks (`ecs`, `logs` for CloudWatch Logs, `ecr` for ECR,
`application-autoscaling` for Application Auto Scaling, `servicediscovery` for Cloud Map)."""

import functools

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, StructureShape

ECS = "ecs"
LOGS = "logs"
ECR = "ecr"
APPLICATION_AUTOSCALING = "application-autoscaling"
CLOUD_MAP = "servicediscovery"
SERVICES = (ECS, LOGS, ECR, APPLICATION_AUTOSCALING, CLOUD_MAP)
"""The services served on one endpoint, by their SigV4 signing names."""


@functools.cache
def service_model(service: str) -> ServiceModel:
    return ServiceModel(Loader().load_service_model(service, "service-2"), service_name=service)


def ecs_model() -> ServiceModel:
    return service_model(ECS)


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
