"""Errors as ECS and the other AWS services served beside it send them: the class name is the wire code (`__type`), the
status its HTTP status.

Every layer raises these; only the protocol layer turns them into responses.
"""

from typing import ClassVar


class EcsError(Exception):
    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return type(self).__name__


class ServerException(EcsError):
    status = 500


class ClientException(EcsError):
    pass


class AccessDeniedException(EcsError):
    pass


class InvalidParameterException(EcsError):
    pass


class ClusterNotFoundException(EcsError):
    pass


class ClusterContainsServicesException(EcsError):
    pass


class ClusterContainsTasksException(EcsError):
    pass


class ClusterContainsContainerInstancesException(EcsError):
    pass


class ServiceNotFoundException(EcsError):
    pass


class ServiceNotActiveException(EcsError):
    pass


class TaskSetNotFoundException(EcsError):
    pass


class ServiceDeploymentNotFoundException(EcsError):
    pass


class ConflictException(EcsError):
    pass


class TargetNotFoundException(EcsError):
    pass


class AttributeLimitExceededException(EcsError):
    pass


class UnsupportedFeatureException(EcsError):
    pass


class UnknownOperationException(EcsError):
    pass


class SerializationException(EcsError):
    pass


class UnrecognizedClientException(EcsError):
    status = 403


class InvalidSignatureException(EcsError):
    status = 403


class IncompleteSignatureException(EcsError):
    status = 400


class MissingAuthenticationTokenException(EcsError):
    status = 403


class InvalidOperationException(EcsError):
    """CloudWatch Logs' answer to an operation it does not perform (here: one not served yet)."""


class ResourceNotFoundException(EcsError):
    """CloudWatch Logs: no such log group or log stream."""


class ResourceAlreadyExistsException(EcsError):
    """CloudWatch Logs: the log group or log stream exists already."""


class RepositoryNotFoundException(EcsError):
    """ECR: no such repository in the registry."""


class RepositoryAlreadyExistsException(EcsError):
    """ECR: the repository exists already."""


class RepositoryNotEmptyException(EcsError):
    """ECR: DeleteRepository without `force` on a repository that holds images."""


class ImageNotFoundException(EcsError):
    """ECR: an image named by tag or digest is not in the repository."""


class ImageTagAlreadyExistsException(EcsError):
    """ECR: a tag of an IMMUTABLE repository would move to another image."""


class ImageAlreadyExistsException(EcsError):
    """ECR: PutImage of a manifest the tag already names."""


class ImageDigestDoesNotMatchException(EcsError):
    """ECR: PutImage's imageDigest is not the digest of its manifest."""


class InvalidTagParameterException(EcsError):
    """ECR: a resource tag key or value breaks its constraints."""


class LifecyclePolicyNotFoundException(EcsError):
    """ECR: the repository has no lifecycle policy."""


class ValidationException(EcsError):
    """Application Auto Scaling's refusal of bad input."""


class ObjectNotFoundException(EcsError):
    pass


class InvalidInput(EcsError):
    """Cloud Map's refusal of bad input."""


class NamespaceNotFound(EcsError):
    pass


class ServiceNotFound(EcsError):
    """Cloud Map: no such service (ECS's is ServiceNotFoundException)."""


class InstanceNotFound(EcsError):
    pass


class OperationNotFound(EcsError):
    pass


class NamespaceAlreadyExists(EcsError):
    pass


class ServiceAlreadyExists(EcsError):
    pass


class ResourceInUse(EcsError):
    """Cloud Map: the namespace still has services, or the service still has instances."""


class CustomHealthNotFound(EcsError):
    pass


class TooManyTagsException(EcsError):
    pass


class InvalidParameterValueException(EcsError):
    """CloudWatch's refusal of a bad value (query code InvalidParameterValue)."""


class MissingRequiredParameterException(EcsError):
    pass


class InvalidParameterCombinationException(EcsError):
    pass
