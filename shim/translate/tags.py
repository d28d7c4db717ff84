"""ECS resource tags: the rules ECS checks, and how tag changes combine; and how the `Key`/`Value`
tags of the other services (ECR, Cloud Map) combine."""

from collections.abc import Iterable, Sequence

from shim.errors import InvalidParameterException

MAX_TAGS = 50
Tag = dict[str, str]


def check_tags(tags: Iterable[Tag]) -> None:
    keys = [tag.get("key") or "" for tag in tags]
    if not all(keys):
        raise InvalidParameterException("Every tag needs a key.")
    if len(keys) > MAX_TAGS:
        raise InvalidParameterException(f"A resource can have at most {MAX_TAGS} tags.")
    if len(set(keys)) != len(keys):
        raise InvalidParameterException("Tag keys must be unique.")
    if any(key.lower().startswith("aws:") for key in keys):
        raise InvalidParameterException("Tag keys starting with 'aws:' are reserved for AWS use.")


def tags_added(current: list[Tag], added: list[Tag]) -> list[Tag]:
    check_tags(added)
    by_key = {tag["key"]: tag.get("value", "") for tag in current}
    by_key.update({tag["key"]: tag.get("value", "") for tag in added})
    result = [{"key": key, "value": value} for key, value in by_key.items()]
    check_tags(result)
    return result


def tags_removed(current: list[Tag], keys: Iterable[str]) -> list[Tag]:
    dropped = set(keys)
    return [tag for tag in current if tag["key"] not in dropped]


def merge_tags(current: Sequence[Tag], added: Sequence[Tag]) -> list[Tag]:
    """`Key`/`Value` tags `current` with `added` set over them (a key already there takes the
    new value)."""
    values = {tag["Key"]: tag.get("Value", "") for tag in current}
    values.update({tag["Key"]: tag.get("Value", "") for tag in added})
    return [{"Key": key, "Value": value} for key, value in values.items()]
