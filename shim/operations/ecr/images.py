"""ECR images: ListImages, DescribeImages, BatchGetImage, BatchDeleteImage and PutImage (a new tag
on an image the repository holds, refused on an immutable tag).

An image is what the registry holds: its tags (its tags list) and the manifests they name. The
registry cannot list manifests that no tag names any more, so the repository's record keeps every
digest the server has seen there, with the time it first saw it (an image's `imagePushedAt`):
an image made untagged by a later push of its tag stays listed, by digest, until deleted. Each
read of a repository's images also applies its lifecycle policy."""

import datetime
import hashlib
import json
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from shim.calls import Call, Handler, Response
from shim.errors import (
    ImageAlreadyExistsException,
    ImageDigestDoesNotMatchException,
    ImageNotFoundException,
    ImageTagAlreadyExistsException,
    InvalidParameterException,
    RepositoryNotFoundException,
)
from shim.kube.ecr import RepositoryStore
from shim.kube.records import Record
from shim.operations.pagination import page
from shim.registry import Manifest, Registry, RegistryError
from shim.translate.ecr import (
    Image,
    check_registry_id,
    expired_images,
    image_id_failure,
    immutable_tag_message,
    parse_lifecycle_policy,
    repository_not_found_message,
    repository_tag_is_immutable,
)

LIST_LIMIT = 1000


@dataclass(frozen=True)
class StoredImage:
    """One image of a repository: its manifest, the tags naming it, when it was first seen."""

    manifest: Manifest
    tags: tuple[str, ...]
    pushed_at: float

    @property
    def digest(self) -> str:
        return self.manifest.digest


def handlers(store: RepositoryStore, registry: Registry) -> dict[str, Handler]:
    return {
        "ListImages": partial(list_images, store, registry),
        "DescribeImages": partial(describe_images, store, registry),
        "BatchGetImage": partial(batch_get_image, store, registry),
        "BatchDeleteImage": partial(batch_delete_image, store, registry),
        "PutImage": partial(put_image, store, registry),
    }


def repository_record(store: RepositoryStore, call: Call) -> Record:
    check_registry_id(call.params.get("registryId"), call.account)
    name = call.params["repositoryName"]
    record = store.get(name)
    if record is None:
        raise RepositoryNotFoundException(repository_not_found_message(name, call.account))
    return record


def current_images(store: RepositoryStore, registry: Registry, record: Record) -> list[StoredImage]:
    """The repository's images as the registry has them now, after its lifecycle policy has
    expired what it expires; the record learns new digests and forgets deleted ones."""
    name = record["repositoryName"]
    manifests: dict[str, Manifest] = {}
    tags: dict[str, list[str]] = {}
    for tag in registry.tags(name):
        manifest = registry.manifest(name, tag)
        if manifest is not None:
            manifests[manifest.digest] = manifest
            tags.setdefault(manifest.digest, []).append(tag)
    known: dict[str, float] = dict(record.get("images") or {})
    for digest in set(known) - set(manifests):
        untagged = registry.manifest(name, digest)
        if untagged is not None:
            manifests[digest] = untagged
    now = time.time()
    seen = {digest: known.get(digest, now) for digest in manifests}
    images = [StoredImage(manifests[digest], tuple(sorted(tags.get(digest, []))), seen[digest]) for digest in seen]
    policy = record.get("lifecyclePolicyText")
    if policy:
        images = apply_lifecycle_policy(registry, name, policy, images)
        seen = {image.digest: image.pushed_at for image in images}
    if seen != known or policy:
        store.update(name, partial(_remember, seen, now if policy else None))
    return sorted(images, key=lambda image: image.pushed_at)


def _remember(seen: dict[str, float], evaluated_at: float | None, record: Record) -> None:
    record["images"] = seen
    if evaluated_at is not None:
        record["lifecycleEvaluatedAt"] = evaluated_at


def apply_lifecycle_policy(
    registry: Registry, repository: str, policy: str, images: list[StoredImage]
) -> list[StoredImage]:
    """`images` less those the policy expires, deleted from the registry."""
    as_seen = [
        Image(image.digest, image.tags, datetime.datetime.fromtimestamp(image.pushed_at, datetime.UTC))
        for image in images
    ]
    expired = set(expired_images(parse_lifecycle_policy(policy), as_seen, datetime.datetime.now(datetime.UTC)))
    for digest in expired:
        registry.delete(repository, digest)
    return [image for image in images if image.digest not in expired]


def image_ids(image: StoredImage) -> list[dict[str, str]]:
    """ListImages' entries for one image: one per tag, or its digest alone when untagged."""
    if not image.tags:
        return [{"imageDigest": image.digest}]
    return [{"imageDigest": image.digest, "imageTag": tag} for tag in image.tags]


def tag_status_filter(call: Call, images: list[StoredImage]) -> list[StoredImage]:
    status = (call.params.get("filter") or {}).get("tagStatus", "ANY")
    if status == "TAGGED":
        return [image for image in images if image.tags]
    if status == "UNTAGGED":
        return [image for image in images if not image.tags]
    return images


def paged(entries: list[Any], key: Any, call: Call) -> tuple[list[Any], str | None]:
    return page(entries, key, call.params.get("maxResults"), call.params.get("nextToken"), LIST_LIMIT)


def list_images(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    images = tag_status_filter(call, current_images(store, registry, repository_record(store, call)))
    entries = [entry for image in images for entry in image_ids(image)]
    chosen, token = paged(entries, lambda entry: f"{entry['imageDigest']} {entry.get('imageTag', '')}", call)
    response: Response = {"imageIds": chosen}
    if token:
        response["nextToken"] = token
    return response


def detail(image: StoredImage, call: Call) -> dict[str, Any]:
    view: dict[str, Any] = {
        "registryId": call.account,
        "repositoryName": call.params["repositoryName"],
        "imageDigest": image.digest,
        "imageSizeInBytes": image.manifest.size,
        "imagePushedAt": image.pushed_at,
        "imageManifestMediaType": image.manifest.media_type,
        "imageStatus": "ACTIVE",
    }
    if image.tags:
        view["imageTags"] = list(image.tags)
    artifact = (image.manifest.document.get("config") or {}).get("mediaType")
    if artifact:
        view["artifactMediaType"] = artifact
    return view


def image_not_found(image_id: dict[str, str], call: Call) -> ImageNotFoundException:
    return ImageNotFoundException(
        f"The image with imageId {{imageDigest:'{image_id.get('imageDigest', 'null')}', "
        f"imageTag:'{image_id.get('imageTag', 'null')}'}} does not exist within the repository with name "
        f"'{call.params['repositoryName']}' in the registry with id '{call.account}'"
    )


def find(images: list[StoredImage], image_id: dict[str, str]) -> StoredImage | None:
    tag, digest = image_id.get("imageTag"), image_id.get("imageDigest")
    return next(
        (image for image in images if (not tag or tag in image.tags) and (not digest or image.digest == digest)),
        None,
    )


def describe_images(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    images = current_images(store, registry, repository_record(store, call))
    wanted = call.params.get("imageIds")
    if wanted:
        if call.params.get("nextToken") or call.params.get("maxResults"):
            raise InvalidParameterException(
                "Invalid parameter: nextToken and maxResults cannot be specified with imageIds."
            )
        chosen = []
        for image_id in wanted:
            failure = image_id_failure(image_id)
            if failure is not None:
                raise InvalidParameterException(failure[1])
            found = find(images, image_id)
            if found is None:
                raise image_not_found(image_id, call)
            if found not in chosen:
                chosen.append(found)
        return {"imageDetails": [detail(image, call) for image in chosen]}
    listed, token = paged(tag_status_filter(call, images), lambda image: image.digest, call)
    response: Response = {"imageDetails": [detail(image, call) for image in listed]}
    if token:
        response["nextToken"] = token
    return response


def failure(image_id: dict[str, str], code: str, reason: str) -> dict[str, Any]:
    return {"imageId": image_id, "failureCode": code, "failureReason": reason}


def batch_get_image(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    images = current_images(store, registry, repository_record(store, call))
    accepted = call.params.get("acceptedMediaTypes")
    found: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for image_id in call.params["imageIds"]:
        refused = image_id_failure(image_id)
        image = find(images, image_id) if refused is None else None
        if refused is not None:
            failures.append(failure(image_id, *refused))
        elif image is None:
            by_tag = find(images, {"imageTag": image_id["imageTag"]}) if image_id.get("imageTag") else None
            if by_tag is not None and image_id.get("imageDigest"):
                failures.append(failure(image_id, "ImageTagDoesNotMatchDigest", "Invalid image tag or digest"))
            else:
                failures.append(failure(image_id, "ImageNotFound", "Requested image not found"))
        elif accepted and image.manifest.media_type not in accepted:
            failures.append(failure(image_id, "ImageNotFound", "Requested image not found"))
        else:
            found.append(
                {
                    "registryId": call.account,
                    "repositoryName": call.params["repositoryName"],
                    "imageId": {"imageDigest": image.digest, **_tag_of(image_id)},
                    "imageManifest": image.manifest.body.decode(),
                    "imageManifestMediaType": image.manifest.media_type,
                }
            )
    return {"images": found, "failures": failures}


def _tag_of(image_id: dict[str, str]) -> dict[str, str]:
    return {"imageTag": image_id["imageTag"]} if image_id.get("imageTag") else {}


def batch_delete_image(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    """A tag goes alone while other tags name its image; its image's last tag goes with the image
    (as ECR deletes an image whose last tag is removed); a digest deletes the image and its tags."""
    record = repository_record(store, call)
    name = record["repositoryName"]
    images = current_images(store, registry, record)
    deleted: list[dict[str, str]] = []
    failures: list[dict[str, Any]] = []
    gone: set[str] = set()
    for image_id in call.params["imageIds"]:
        refused = image_id_failure(image_id)
        image = find(images, image_id) if refused is None else None
        if refused is not None:
            failures.append(failure(image_id, *refused))
        elif image is None or image.digest in gone:
            failures.append(failure(image_id, "ImageNotFound", "Requested image not found"))
        elif image_id.get("imageTag") and len(image.tags) > 1:
            registry.delete(name, image_id["imageTag"])
            images = [_untagged(other, image_id["imageTag"]) for other in images]
            deleted.append({"imageDigest": image.digest, "imageTag": image_id["imageTag"]})
        else:
            registry.delete(name, image.digest)
            gone.add(image.digest)
            deleted += image_ids(image)
    if gone:
        store.update(name, partial(_forget, gone))
    return {"imageIds": deleted, "failures": failures}


def _untagged(image: StoredImage, tag: str) -> StoredImage:
    return StoredImage(image.manifest, tuple(other for other in image.tags if other != tag), image.pushed_at)


def _forget(digests: set[str], record: Record) -> None:
    record["images"] = {digest: seen for digest, seen in (record.get("images") or {}).items() if digest not in digests}


def put_image(store: RepositoryStore, registry: Registry, call: Call) -> Response:
    """A manifest stored under a tag (or its digest): how ECR retags an image. Its layers must be
    in the repository already; an immutable tag already on another image stays there."""
    record = repository_record(store, call)
    name = record["repositoryName"]
    body = call.params["imageManifest"].encode()
    tag, digest = call.params.get("imageTag"), call.params.get("imageDigest")
    media_type = call.params.get("imageManifestMediaType") or _media_type(body)
    computed = f"sha256:{hashlib.sha256(body).hexdigest()}"
    if digest and digest != computed:
        raise ImageDigestDoesNotMatchException(
            f"Invalid parameter at 'imageDigest': the manifest's digest is {computed}, not {digest}."
        )
    current = registry.manifest(name, tag) if tag else None
    if current is not None and current.body == body:
        raise ImageAlreadyExistsException(
            f"Image with digest '{current.digest}' and tag '{tag}' already exists in the repository with name "
            f"'{name}' in registry with id '{call.account}'"
        )
    if current is not None and tag and repository_tag_is_immutable(record, tag):
        raise ImageTagAlreadyExistsException(immutable_tag_message(name, tag))
    try:
        stored = registry.put_manifest(name, tag or computed, body, media_type) or computed
    except RegistryError as error:
        raise InvalidParameterException(f"Invalid parameter at 'imageManifest': {error}") from None
    store.update(name, partial(remember_images, [stored, *([current.digest] if current else [])]))
    image_id = {"imageDigest": stored, **({"imageTag": tag} if tag else {})}
    return {
        "image": {
            "registryId": call.account,
            "repositoryName": name,
            "imageId": image_id,
            "imageManifest": body.decode(),
            "imageManifestMediaType": media_type,
        }
    }


def remember_images(digests: list[str], record: Record) -> None:
    """The record learns `digests` (the image stored, and the one its tag moved from, which stays
    listed untagged)."""
    images = dict(record.get("images") or {})
    for digest in digests:
        images.setdefault(digest, time.time())
    record["images"] = images


def _media_type(body: bytes) -> str:
    try:
        return str(json.loads(body).get("mediaType") or "application/vnd.docker.distribution.manifest.v2+json")
    except (ValueError, AttributeError):
        raise InvalidParameterException("Invalid parameter at 'imageManifest': the manifest is not JSON.") from None
