"""ECR, pure: repository ARNs and URIs, ECR's name and tag rules, image identifiers, and
lifecycle policies (their text checked as ECR checks it, and which images a policy expires)."""

import datetime
import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shim.errors import InvalidParameterException, InvalidTagParameterException

NAME_PATTERN = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"
TAG_PATTERN = r"[\w][\w.-]{0,127}"
DIGEST_PATTERN = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"
MUTABLE = "MUTABLE"
IMMUTABLE = "IMMUTABLE"
IMMUTABLE_WITH_EXCLUSION = "IMMUTABLE_WITH_EXCLUSION"
MUTABLE_WITH_EXCLUSION = "MUTABLE_WITH_EXCLUSION"
AUTHORIZATION_HOURS = 12
MAX_TAGS = 50


def repository_arn(region: str, account: str, repository: str) -> str:
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"


def repository_of_arn(arn: str) -> str | None:
    """The repository an ECR repository ARN names (None: not such an ARN)."""
    match = re.fullmatch(r"arn:aws[a-z-]*:ecr:[a-z0-9-]+:\d{12}:repository/(.+)", arn)
    return match.group(1) if match else None


def repository_uri(registry_host: str, repository: str) -> str:
    """Where images of the repository are pushed and pulled: `<registry host:port>/<name>`
    (ECR's `<account>.dkr.ecr.<region>.amazonaws.com/<name>` does not resolve here)."""
    return f"{registry_host}/{repository}"


def check_repository_name(name: str) -> None:
    if not 2 <= len(name) <= 256 or not re.fullmatch(NAME_PATTERN, name):
        raise InvalidParameterException(
            f"Invalid parameter at 'repositoryName' failed to satisfy constraint: "
            f"'must satisfy regular expression '{NAME_PATTERN}'' ({name!r})"
        )


def check_registry_id(registry_id: str | None, account: str) -> None:
    """ECR answers for its own account's registry only."""
    if registry_id is not None and registry_id != account:
        raise InvalidParameterException(
            f"Invalid parameter at 'registryId' failed to satisfy constraint: 'must be {account}, "
            f"the account of this registry' ({registry_id!r})"
        )


def check_tags(tags: Sequence[dict[str, str]]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidTagParameterException(f"A repository can have at most {MAX_TAGS} tags.")
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not key or len(key) > 128 or key.lower().startswith("aws:"):
            raise InvalidTagParameterException(f"Invalid tag key {key!r}: 1 to 128 characters, not starting aws:.")
        if len(value) > 256:
            raise InvalidTagParameterException(f"The value of tag {key!r} is longer than 256 characters.")


def repository_not_found_message(repository: str, account: str) -> str:
    return f"The repository with name '{repository}' does not exist in the registry with id '{account}'"


def immutable_tag_message(repository: str, tag: str) -> str:
    return (
        f"The image tag '{tag}' already exists in the '{repository}' repository and cannot be overwritten because "
        "the repository is immutable."
    )


def repository_tag_is_immutable(record: Mapping[str, Any], tag: str) -> bool:
    """`tag_is_immutable` with the repository record's settings."""
    exclusions = record.get("imageTagMutabilityExclusionFilters") or []
    return tag_is_immutable(record["imageTagMutability"], exclusions, tag)


def tag_is_immutable(mutability: str, exclusions: Sequence[dict[str, str]], tag: str) -> bool:
    """Whether a repository with this tag mutability (and exclusion filters: wildcards, `*`) keeps
    `tag` on the image it names."""
    excluded = any(fnmatch.fnmatchcase(tag, exclusion.get("filter", "")) for exclusion in exclusions)
    if mutability == IMMUTABLE_WITH_EXCLUSION:
        return not excluded
    if mutability == MUTABLE_WITH_EXCLUSION:
        return excluded
    return mutability == IMMUTABLE


def check_mutability(mutability: str, exclusions: Sequence[dict[str, str]]) -> None:
    """Exclusion filters go with the *_WITH_EXCLUSION settings only, as ECR requires."""
    with_exclusion = mutability in (IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION)
    if with_exclusion != bool(exclusions):
        raise InvalidParameterException(
            "Invalid parameter at 'imageTagMutabilityExclusionFilters': exclusion filters are required with "
            f"{IMMUTABLE_WITH_EXCLUSION} and {MUTABLE_WITH_EXCLUSION} and not allowed otherwise."
        )


def is_digest(reference: str) -> bool:
    return bool(re.fullmatch(DIGEST_PATTERN, reference))


def image_id_failure(image_id: dict[str, str]) -> tuple[str, str] | None:
    """Why ECR refuses an image id as given (failure code, reason), None when it is usable."""
    tag, digest = image_id.get("imageTag"), image_id.get("imageDigest")
    if not tag and not digest:
        return "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"
    if digest and not is_digest(digest):
        return "InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex"
    if tag and not re.fullmatch(TAG_PATTERN, tag):
        return "InvalidImageTag", "Invalid request parameters: image tag should satisfy the regex"
    return None


# Lifecycle policies


@dataclass(frozen=True)
class Image:
    """An image as lifecycle rules see it."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime.datetime


def invalid_policy(why: str) -> InvalidParameterException:
    return InvalidParameterException(
        f"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
        f"'Lifecycle policy validation failure: {why}'"
    )


def parse_lifecycle_policy(text: str) -> list[dict[str, Any]]:
    """The policy's rules, by priority; InvalidParameterException naming what ECR would refuse."""
    try:
        policy = json.loads(text)
        rules = policy["rules"]
    except (ValueError, KeyError, TypeError):
        raise invalid_policy("the policy must be a JSON object with rules") from None
    if not isinstance(rules, list) or not rules or not all(isinstance(rule, dict) for rule in rules):
        raise invalid_policy("rules must be a list of one or more rule objects")
    priorities = [rule.get("rulePriority") for rule in rules]
    if len(set(map(str, priorities))) != len(priorities):
        raise invalid_policy("rulePriority values must be unique")
    for rule in rules:
        _check_rule(rule)
    return sorted(rules, key=lambda rule: int(rule["rulePriority"]))


def _check_rule(rule: dict[str, Any]) -> None:
    def invalid(why: str) -> InvalidParameterException:
        return invalid_policy(f"rule {rule.get('rulePriority')}: {why}")

    selection = rule.get("selection")
    if not isinstance(rule.get("rulePriority"), int) or rule["rulePriority"] < 1:
        raise invalid("rulePriority must be a positive integer")
    if not isinstance(selection, dict):
        raise invalid("selection is required")
    if (rule.get("action") or {}).get("type") != "expire":
        raise invalid('action.type must be "expire"')
    if selection.get("tagStatus") not in ("tagged", "untagged", "any"):
        raise invalid('selection.tagStatus must be "tagged", "untagged" or "any"')
    for key in ("tagPrefixList", "tagPatternList"):
        listed = selection.get(key, [])
        if not isinstance(listed, list) or not all(isinstance(item, str) and item for item in listed):
            raise invalid(f"selection.{key} must be a list of non-empty strings")
    if selection["tagStatus"] == "tagged" and not (selection.get("tagPrefixList") or selection.get("tagPatternList")):
        raise invalid('a "tagged" selection needs tagPrefixList or tagPatternList')
    count_type, number = selection.get("countType"), selection.get("countNumber")
    if count_type not in ("imageCountMoreThan", "sinceImagePushed"):
        raise invalid('selection.countType must be "imageCountMoreThan" or "sinceImagePushed"')
    if not isinstance(number, int) or number < 1:
        raise invalid("selection.countNumber must be a positive integer")
    if count_type == "sinceImagePushed" and selection.get("countUnit") != "days":
        raise invalid('selection.countUnit must be "days" for sinceImagePushed')


def expired_images(rules: Sequence[dict[str, Any]], images: Sequence[Image], now: datetime.datetime) -> list[str]:
    """The digests the policy expires now. As ECR applies one: each image is judged by the first
    rule (by priority) whose selection takes it, and no lower rule sees it again."""
    judged: set[str] = set()
    expired: list[str] = []
    for rule in rules:
        selection = rule["selection"]
        taken = [image for image in images if image.digest not in judged and _selects(selection, image)]
        judged.update(image.digest for image in taken)
        if selection["countType"] == "imageCountMoreThan":
            newest_first = sorted(taken, key=lambda image: image.pushed_at, reverse=True)
            expired += [image.digest for image in newest_first[selection["countNumber"] :]]
        else:
            cutoff = now - datetime.timedelta(days=selection["countNumber"])
            expired += [image.digest for image in taken if image.pushed_at < cutoff]
    return expired


def _selects(selection: dict[str, Any], image: Image) -> bool:
    status = selection["tagStatus"]
    if status == "untagged":
        return not image.tags
    if status == "any":
        return True
    # As ECR reads a list: an image is taken when each prefix (or pattern) matches one of its tags.
    prefixes = selection.get("tagPrefixList") or []
    patterns = selection.get("tagPatternList") or []
    return (
        bool(image.tags)
        and all(any(tag.startswith(prefix) for tag in image.tags) for prefix in prefixes)
        and all(any(fnmatch.fnmatchcase(tag, pattern) for tag in image.tags) for pattern in patterns)
    )
