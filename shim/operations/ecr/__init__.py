"""The ECR API (X-Amz-Target `AmazonEC2ContainerRegistry_V20150921.*`, SigV4 service `ecr`, served
on the same endpoint as ECS): one handler per operation, by resource: repositories with their tags,
tag mutability and lifecycle policies (repositories.py), images (images.py) and registry
credentials (GetAuthorizationToken, here too). Repository settings live in Kubernetes
(shim/kube/ecr.py); images live in the image registry (shim/registry.py), which Docker, crane or
containerd push to and pull from with the token GetAuthorizationToken hands out.

A call with a caller (an access key mapped to a Kubernetes identity) is made as the caller, so
Kubernetes RBAC on `repositories` (ecs.shim.io) decides it; a refusal is AccessDeniedException in
IAM's words. The registry itself knows one user, `AWS`, as ECR does."""

import datetime
from functools import partial

from shim.calls import Call, Handler, Response
from shim.errors import ServerException
from shim.kube.ecr import RepositoryStore
from shim.operations.base import as_caller
from shim.operations.ecr import images, repositories
from shim.registry import Registry, RegistryError
from shim.translate.ecr import AUTHORIZATION_HOURS


def build_ecr_handlers(store: RepositoryStore, registry: Registry) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        **repositories.handlers(store, registry),
        **images.handlers(store, registry),
        "GetAuthorizationToken": partial(get_authorization_token, store, registry),
    }
    return {operation: _as_caller(handler) for operation, handler in handlers.items()}


def get_authorization_token(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    """The registry's `AWS` credentials as `docker login` takes them (base64 `AWS:<password>`),
    for a caller Kubernetes lets read repositories. The password is the registry's own and lasts
    as long as the registry: `expiresAt` says 12 hours, as ECR's tokens do, so that clients
    refresh it as they would on AWS."""
    store.check_readable()
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=AUTHORIZATION_HOURS)
    data = {"authorizationToken": registry.authorization, "expiresAt": expires, "proxyEndpoint": registry.endpoint}
    count = max(1, len(call.params.get("registryIds") or []))
    return {"authorizationData": [dict(data) for _ in range(count)]}


def _as_caller(handler: Handler) -> Handler:
    checked = as_caller(handler, "ecr", "repository/*")

    def run_as_caller(call: Call) -> Response:
        try:
            return checked(call)
        except RegistryError as error:
            raise ServerException(f"The image registry failed: {error}") from None

    return run_as_caller
