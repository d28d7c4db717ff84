"""botocore's ECS service model, loaded once: the specification of every operation's shapes."""

import functools

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, StructureShape


@functools.cache
def ecs_model() -> ServiceModel:
    return ServiceModel(Loader().load_service_model("ecs", "service-2"), service_name="ecs")


def target_prefix() -> str:
    """The X-Amz-Target prefix of every ECS operation, e.g. AmazonEC2ContainerServiceV20141113."""
    prefix: str = ecs_model().metadata["targetPrefix"]
    return prefix


@functools.cache
def operation_names() -> frozenset[str]:
    return frozenset(ecs_model().operation_names)


def operation_model(operation: str) -> OperationModel:
    return ecs_model().operation_model(operation)


def input_shape(operation: str) -> StructureShape:
    return operation_model(operation).input_shape


def output_shape(operation: str) -> StructureShape:
    return operation_model(operation).output_shape
