"""ECR repositories: CreateRepository, DescribeRepositories, DeleteRepository (`force` deletes its
images), PutImageTagMutability, TagResource, UntagResource, ListTagsForResource and the lifecycle
policy (PutLifecyclePolicy, which applies it at once, GetLifecyclePolicy, DeleteLifecyclePolicy)."""

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import (
    InvalidParameterException,
    LifecyclePolicyNotFoundException,
    RepositoryAlreadyExistsException,
    RepositoryNotEmptyException,
    RepositoryNotFoundException,
)
from shim.kube.ecr import RepositoryStore
from shim.kube.errors import Conflict
from shim.kube.records import Record
from shim.operations.ecr.images import current_images
from shim.operations.pagination import page
from shim.registry import Registry
from shim.translate.ecr import (
    MUTABLE,
    check_mutability,
    check_registry_id,
    check_repository_name,
    check_tags,
    parse_lifecycle_policy,
    repository_arn,
    repository_not_found_message,
    repository_of_arn,
    repository_uri,
)
from shim.translate.tags import merge_tags

DESCRIBE_LIMIT = 1000


def handlers(store: RepositoryStore, registry: Registry) -> dict[str, Handler]:
    return {
        "CreateRepository": partial(create_repository, store, registry),
        "DescribeRepositories": partial(describe_repositories, store, registry),
        "DeleteRepository": partial(delete_repository, store, registry),
        "PutImageTagMutability": partial(put_image_tag_mutability, store),
        "TagResource": partial(tag_resource, store),
        "UntagResource": partial(untag_resource, store),
        "ListTagsForResource": partial(list_tags_for_resource, store),
        "PutLifecyclePolicy": partial(put_lifecycle_policy, store, registry),
        "GetLifecyclePolicy": partial(get_lifecycle_policy, store),
        "DeleteLifecyclePolicy": partial(delete_lifecycle_policy, store),
    }


def not_found(name: str, call: Call) -> RepositoryNotFoundException:
    return RepositoryNotFoundException(repository_not_found_message(name, call.account))


def repository(store: RepositoryStore, call: Call) -> Record:
    """The record of the call's repository (RepositoryNotFoundException when there is none)."""
    check_registry_id(call.params.get("registryId"), call.account)
    name = call.params["repositoryName"]
    found = store.get(name)
    if found is None:
        raise not_found(name, call)
    return found


def changed(store: RepositoryStore, call: Call, name: str, change: Callable[[Record], None]) -> Record:
    updated = store.update(name, change)
    if updated is None:
        raise not_found(name, call)
    return updated


def repository_view(record: Record, registry: Registry, call: Call) -> dict[str, Any]:
    name = record["repositoryName"]
    view: dict[str, Any] = {
        "repositoryArn": repository_arn(call.region, call.account, name),
        "registryId": call.account,
        "repositoryName": name,
        "repositoryUri": repository_uri(registry.host, name),
        "createdAt": record["createdAt"],
        "imageTagMutability": record["imageTagMutability"],
        "imageScanningConfiguration": record["imageScanningConfiguration"],
        "encryptionConfiguration": record["encryptionConfiguration"],
    }
    if record.get("imageTagMutabilityExclusionFilters"):
        view["imageTagMutabilityExclusionFilters"] = record["imageTagMutabilityExclusionFilters"]
    return view


def create_repository(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    params = call.params
    check_registry_id(params.get("registryId"), call.account)
    name = params["repositoryName"]
    check_repository_name(name)
    tags = params.get("tags") or []
    check_tags(tags)
    mutability = params.get("imageTagMutability") or MUTABLE
    exclusions = params.get("imageTagMutabilityExclusionFilters") or []
    check_mutability(mutability, exclusions)
    record: Record = {
        "repositoryName": name,
        "createdAt": time.time(),
        "imageTagMutability": mutability,
        "imageTagMutabilityExclusionFilters": exclusions,
        "imageScanningConfiguration": {
            "scanOnPush": bool((params.get("imageScanningConfiguration") or {}).get("scanOnPush"))
        },
        "encryptionConfiguration": params.get("encryptionConfiguration") or {"encryptionType": "AES256"},
        "tags": merge_tags([], tags),
        "images": {},
    }
    try:
        created = store.create(record)
    except Conflict:
        raise RepositoryAlreadyExistsException(
            f"The repository with name '{name}' already exists in the registry with id '{call.account}'"
        ) from None
    return {"repository": repository_view(created, registry, call)}


def describe_repositories(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    check_registry_id(call.params.get("registryId"), call.account)
    names = call.params.get("repositoryNames")
    token = call.params.get("nextToken")
    if names and (token or call.params.get("maxResults")):
        raise InvalidParameterException(
            "Invalid parameter: nextToken and maxResults cannot be specified with repositoryNames."
        )
    if names:
        found = []
        for name in names:
            record = store.get(name)
            if record is None:
                raise not_found(name, call)
            found.append(record)
        return {"repositories": [repository_view(record, registry, call) for record in found]}
    records = sorted(store.list(), key=lambda record: str(record["repositoryName"]))
    chosen, next_token = page(
        records, lambda record: str(record["repositoryName"]), call.params.get("maxResults"), token, DESCRIBE_LIMIT
    )
    response: Response = {"repositories": [repository_view(record, registry, call) for record in chosen]}
    if next_token:
        response["nextToken"] = next_token
    return response


def delete_repository(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    record = repository(store, call)
    name = record["repositoryName"]
    held = current_images(store, registry, record)
    if held and not call.params.get("force"):
        raise RepositoryNotEmptyException(
            f"The repository with name '{name}' in registry with id '{call.account}' cannot be deleted because "
            "it still contains images"
        )
    for image in held:
        registry.delete(name, image.digest)
    if not store.delete(name):
        raise not_found(name, call)
    return {"repository": repository_view(record, registry, call)}


def put_image_tag_mutability(store: RepositoryStore, call: Call) -> Response:
    check_registry_id(call.params.get("registryId"), call.account)
    mutability = call.params["imageTagMutability"]
    exclusions = call.params.get("imageTagMutabilityExclusionFilters") or []
    check_mutability(mutability, exclusions)

    def change(record: Record) -> None:
        record["imageTagMutability"] = mutability
        record["imageTagMutabilityExclusionFilters"] = exclusions

    name = call.params["repositoryName"]
    changed(store, call, name, change)
    response: Response = {"registryId": call.account, "repositoryName": name, "imageTagMutability": mutability}
    if exclusions:
        response["imageTagMutabilityExclusionFilters"] = exclusions
    return response


def tagged_repository(call: Call) -> str:
    arn = call.params["resourceArn"]
    name = repository_of_arn(arn)
    if name is None:
        raise InvalidParameterException(
            f"Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN' ({arn!r})"
        )
    return name


def tag_resource(store: RepositoryStore, call: Call) -> Response:
    name = tagged_repository(call)
    added = call.params["tags"]
    check_tags(added)

    def change(record: Record) -> None:
        merged = merge_tags(record.get("tags") or [], added)
        check_tags(merged)
        record["tags"] = merged

    changed(store, call, name, change)
    return {}


def untag_resource(store: RepositoryStore, call: Call) -> Response:
    name = tagged_repository(call)
    removed = set(call.params["tagKeys"])

    def change(record: Record) -> None:
        record["tags"] = [tag for tag in record.get("tags") or [] if tag["Key"] not in removed]

    changed(store, call, name, change)
    return {}


def list_tags_for_resource(store: RepositoryStore, call: Call) -> Response:
    name = tagged_repository(call)
    record = store.get(name)
    if record is None:
        raise not_found(name, call)
    return {"tags": record.get("tags") or []}


def put_lifecycle_policy(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    repository(store, call)
    text = call.params["lifecyclePolicyText"]
    parse_lifecycle_policy(text)
    name = call.params["repositoryName"]

    def change(record: Record) -> None:
        record["lifecyclePolicyText"] = text

    record = changed(store, call, name, change)
    current_images(store, registry, record)  # applies the policy
    return {"registryId": call.account, "repositoryName": name, "lifecyclePolicyText": text}


def policy_of(record: Record, call: Call) -> Response:
    if not record.get("lifecyclePolicyText"):
        raise LifecyclePolicyNotFoundException(
            f"Lifecycle policy does not exist for the repository with name '{record['repositoryName']}' "
            f"in the registry with id '{call.account}'"
        )
    response: Response = {
        "registryId": call.account,
        "repositoryName": record["repositoryName"],
        "lifecyclePolicyText": record["lifecyclePolicyText"],
    }
    if record.get("lifecycleEvaluatedAt"):
        response["lastEvaluatedAt"] = record["lifecycleEvaluatedAt"]
    return response


def get_lifecycle_policy(store: RepositoryStore, call: Call) -> Response:
    return policy_of(repository(store, call), call)


def delete_lifecycle_policy(store: RepositoryStore, call: Call) -> Response:
    response = policy_of(repository(store, call), call)

    def change(record: Record) -> None:
        record.pop("lifecyclePolicyText", None)
        record.pop("lifecycleEvaluatedAt", None)

    changed(store, call, call.params["repositoryName"], change)
    return response
